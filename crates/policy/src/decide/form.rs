//! The import form's own checks, which need no image: R-REGION, the declared OsType,
//! OsVersion and Architecture (R-OS, R-ARCH).

use super::*;

/// The import form's own checks, which need no image: R-REGION (when both regions are
/// known) and the declared OsType / OsVersion / Architecture against the supported list.
/// The service can run these synchronously in `ImportImage` before queuing a job; `decide`
/// includes them. None of them is waived by `Force`.
pub fn check_form(form: &ImportForm) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(check_region(form));
    if let Some(t) = nonempty(&form.os_type) {
        match find_os(t) {
            None => out.push(error(
                Code::InvalidImageOsTypeUnsupported,
                RuleId::Os,
                format!("declared OsType '{}' is not in the supported list", clip(t)),
                vec![format!("import form: OsType={}", clip(t))],
                vec![format!(
                    "Declare one of the supported OsType values: {}",
                    all_os_names()
                )],
            )),
            Some(os) => {
                if let Some(v) = nonempty(&form.os_version) {
                    if !version_supported(os, v) {
                        out.push(error(
                            Code::InvalidImageOsVersionUnsupported,
                            RuleId::Os,
                            format!(
                                "declared OsVersion '{}' is not supported for {}",
                                clip(v),
                                os.name
                            ),
                            vec![format!(
                                "import form: OsType={}, OsVersion={}",
                                clip(t),
                                clip(v)
                            )],
                            vec![format!(
                                "Declare one of the {} versions DescribeImportImageOs lists: {}",
                                os.name,
                                os.versions.join(", ")
                            )],
                        ));
                    }
                }
            }
        }
    }
    if let Some(a) = nonempty(&form.architecture) {
        if normalize_arch(a).is_none() {
            out.push(error(
                Code::InvalidImageArchitectureUnsupported,
                RuleId::Arch,
                format!(
                    "declared Architecture '{}' is not supported: only x86_64 and i386",
                    clip(a)
                ),
                vec![format!("import form: Architecture={}", clip(a))],
                vec![format!(
                    "Declare the image's architecture: {}",
                    ARCHITECTURES.join(" or ")
                )],
            ));
        }
    }
    out
}

fn check_region(form: &ImportForm) -> Option<Finding> {
    let (Some(region), Some(source)) = (nonempty(&form.region), nonempty(&form.source_region))
    else {
        return None;
    };
    if region.eq_ignore_ascii_case(source) {
        return None;
    }
    let (region, source) = (clip(region), clip(source));
    let evidence = vec![
        format!("import region: {region}"),
        format!("image URL's object storage region: {source}"),
    ];
    let message = if FINANCE_REGIONS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(&region))
    {
        format!(
            "the image URL is in {source}'s object storage, but the finance region {region} \
             cannot import from object storage of another region"
        )
    } else {
        format!(
            "the image URL is in {source}'s object storage, but the import service in {region} \
             reads only its own region's storage over the internal network"
        )
    };
    Some(error(
        Code::InvalidUrl,
        RuleId::Region,
        message,
        evidence,
        fixes::region(&region),
    ))
}
