//! R-OS and R-ARCH on what inspection detected, and against what the form declared.

use super::*;

/// R-OS. Returns the supported family the detected OS belongs to.
pub(super) fn check_os(
    cx: &mut Cx,
    os: &OsFacts,
    form: &ImportForm,
) -> Option<&'static SupportedOs> {
    cx.check(RuleId::Os);
    let evidence = os_evidence(os);
    let detected = if is_windows(os) {
        windows_release(cx, os, &evidence)
    } else if is_linux(os) {
        linux_family_of(cx, os, &evidence)
    } else {
        cx.warn(
            RuleId::Os,
            "the operating system type was not recognised; only Linux and Windows are \
             supported"
                .into(),
            evidence.clone(),
            vec![OS_RELEASE_FIX.into()],
        );
        None
    };
    check_declared_os(cx, os, form, detected, evidence);
    detected
}

/// What the OS facts say, as evidence lines.
fn os_evidence(os: &OsFacts) -> Vec<String> {
    let mut evidence = Vec::new();
    if let Some(d) = &os.distro {
        evidence.push(format!("os-release ID: {}", clip(d)));
    }
    if !os.id_like.is_empty() {
        evidence.push(format!("os-release ID_LIKE: {}", list(&os.id_like)));
    }
    if let Some(v) = &os.version {
        evidence.push(format!("version: {}", clip(v)));
    }
    if let Some(p) = &os.product_name {
        evidence.push(format!("product: {}", clip(p)));
    }
    evidence
}

/// How a message names the detected system (product name, distribution or type).
fn shown(os: &OsFacts) -> String {
    os.product_name
        .as_deref()
        .or(os.distro.as_deref())
        .map(clip)
        .unwrap_or_else(|| {
            os.os_type
                .map_or("an unidentified system", OsType::name)
                .into()
        })
}

fn supported_fix() -> Vec<String> {
    vec![format!(
        "Import an image of a supported system: {}",
        all_os_names()
    )]
}

/// Windows: the supported release its product name belongs to.
fn windows_release(cx: &mut Cx, os: &OsFacts, evidence: &[String]) -> Option<&'static SupportedOs> {
    let Some(p) = nonempty(&os.product_name) else {
        cx.warn(
            RuleId::Os,
            format!(
                "a Windows installation was found but its edition was not identified; it must \
                 be {}",
                os_names(OsType::Windows)
            ),
            evidence.to_vec(),
            vec![WINDOWS_PRODUCT_CHECK.into()],
        );
        return None;
    };
    let f = windows_family(p);
    if f.is_none() {
        cx.fail(
            Code::InvalidImageOsTypeUnsupported,
            RuleId::Os,
            format!(
                "the image contains {}, which is not {}",
                clip(p),
                os_names(OsType::Windows)
            ),
            evidence.to_vec(),
            supported_fix(),
        );
    }
    f
}

/// Linux: the supported family its distribution is based on, and whether its version is
/// one the import lists (a warning: the form accepts only those).
fn linux_family_of(cx: &mut Cx, os: &OsFacts, evidence: &[String]) -> Option<&'static SupportedOs> {
    if nonempty(&os.distro).is_none() && os.id_like.is_empty() {
        cx.warn(
            RuleId::Os,
            format!(
                "a Linux root was found but its distribution was not identified (no \
                 /etc/os-release or release file); it must be based on {}",
                os_names(OsType::Linux)
            ),
            evidence.to_vec(),
            vec![OS_RELEASE_FIX.into()],
        );
        return None;
    }
    let Some(f) = linux_family(os.distro.as_deref(), &os.id_like) else {
        cx.fail(
            Code::InvalidImageOsTypeUnsupported,
            RuleId::Os,
            format!(
                "the image contains {}, which is not based on {}",
                shown(os),
                os_names(OsType::Linux)
            ),
            evidence.to_vec(),
            supported_fix(),
        );
        return None;
    };
    if let Some(v) = nonempty(&os.version) {
        if !version_supported(f, v) {
            cx.warn(
                RuleId::Os,
                format!(
                    "{} {} is not among the {} versions the import lists ({}); the import \
                     form accepts only those",
                    f.name,
                    clip(v),
                    f.name,
                    f.versions.join(", ")
                ),
                evidence.to_vec(),
                vec![DESCRIBE_FIX.into()],
            );
        }
    }
    Some(f)
}

/// The declared OsType / OsVersion against what the image contains (warnings: the
/// import goes by the declaration).
fn check_declared_os(
    cx: &mut Cx,
    os: &OsFacts,
    form: &ImportForm,
    detected: Option<&'static SupportedOs>,
    evidence: Vec<String>,
) {
    let (Some(t), Some(d)) = (nonempty(&form.os_type), declared(form)) else {
        return;
    };
    let detected_type = if is_windows(os) {
        Some(OsType::Windows)
    } else if is_linux(os) {
        Some(OsType::Linux)
    } else {
        None
    };
    let type_differs = detected_type.is_some_and(|dt| dt != d.os_type);
    let family_differs = detected.is_some_and(|f| f.name != d.name);
    if type_differs || family_differs {
        cx.warn(
            RuleId::Os,
            format!(
                "declared OsType '{}' but the image contains {}{}",
                clip(t),
                shown(os),
                detected
                    .map(|f| format!(" ({})", f.name))
                    .unwrap_or_default()
            ),
            evidence,
            vec!["Declare the OsType and OsVersion of the system the image contains".into()],
        );
        return;
    }
    let (Some(f), Some(dv), Some(v)) =
        (detected, nonempty(&form.os_version), nonempty(&os.version))
    else {
        return;
    };
    if f.os_type == OsType::Linux
        && !major_version(dv).is_empty()
        && major_version(dv) != major_version(v)
    {
        cx.warn(
            RuleId::Os,
            format!(
                "declared OsVersion '{}' but the image contains {} {}",
                clip(dv),
                f.name,
                clip(v)
            ),
            evidence,
            vec!["Declare the OsVersion of the system the image contains".into()],
        );
    }
}

/// R-ARCH: the detected architecture (declared one is checked by [`check_form`]).
pub(super) fn check_arch(cx: &mut Cx, os: &OsFacts, form: &ImportForm) {
    cx.check(RuleId::Arch);
    let declared = nonempty(&form.architecture);
    match nonempty(&os.arch) {
        Some(a) => match normalize_arch(a) {
            None => cx.fail(
                Code::InvalidImageArchitectureUnsupported,
                RuleId::Arch,
                format!(
                    "the image's binaries are {}: only 32-bit and 64-bit x86 (i386, x86_64) are \
                     supported",
                    clip(a)
                ),
                vec![format!(
                    "architecture from ELF headers/registry: {}",
                    clip(a)
                )],
                vec!["Import an x86 (i386 or x86_64) system".into()],
            ),
            Some(n) => {
                if let Some(d) = declared {
                    if normalize_arch(d).is_some_and(|dn| dn != n) {
                        cx.warn(
                            RuleId::Arch,
                            format!(
                                "declared Architecture '{}' but the image's binaries are {}",
                                clip(d),
                                clip(a)
                            ),
                            vec![
                                format!("import form: Architecture={}", clip(d)),
                                format!("detected: {}", clip(a)),
                            ],
                            vec![format!("Declare Architecture={n}")],
                        );
                    }
                }
            }
        },
        None => cx.warn(
            RuleId::Arch,
            match declared {
                Some(d) => format!(
                    "the image's architecture was not detected, so the declared '{}' could \
                     not be confirmed",
                    clip(d)
                ),
                None => {
                    "the image's architecture was not detected; it must be i386 or x86_64".into()
                }
            },
            vec![],
            vec![ARCH_CHECK.into()],
        ),
    }
}

pub(super) const WINDOWS_PRODUCT_CHECK: &str = "Check the edition in the guest: `reg query \
     \"HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\" /v ProductName`";
pub(super) const OS_RELEASE_FIX: &str =
    "Make sure the image's root filesystem has /etc/os-release (or \
     the distribution's release file) and declare OsType/OsVersion accordingly";
pub(super) const DESCRIBE_FIX: &str = "See the supported list with DescribeImportImageOs \
     (`tccli cvm DescribeImportImageOs`); a release outside it may still import but is not \
     supported";
pub(super) const ARCH_CHECK: &str = "Check it in the guest: `uname -m` or `file -L /bin/sh`";

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(distro: &str, version: &str) -> OsFacts {
        OsFacts {
            os_type: Some(OsType::Linux),
            distro: Some(distro.into()),
            version: Some(version.into()),
            ..OsFacts::default()
        }
    }

    fn form(os_type: &str, version: &str) -> ImportForm {
        ImportForm {
            os_type: Some(os_type.into()),
            os_version: Some(version.into()),
            ..ImportForm::default()
        }
    }

    fn warnings(os: &OsFacts, form: &ImportForm) -> Vec<String> {
        let mut cx = Cx::new(false);
        check_os(&mut cx, os, form);
        cx.findings.into_iter().map(|f| f.message).collect()
    }

    #[test]
    fn declared_and_detected_agree_or_are_both_shown() {
        assert!(warnings(&linux("debian", "12"), &form("Debian", "12")).is_empty());
        let w = warnings(&linux("ubuntu", "22.04"), &form("CentOS", "7"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("declared OsType 'CentOS' but the image contains ubuntu (Ubuntu)"));
        let w = warnings(&linux("debian", "11"), &form("Debian", "12"));
        assert!(w[0].contains("declared OsVersion '12' but the image contains Debian 11"));
    }

    #[test]
    fn a_family_outside_the_list_fails_and_an_unlisted_version_warns() {
        let mut cx = Cx::new(false);
        assert!(linux_family_of(&mut cx, &linux("arch", "rolling"), &[]).is_none());
        assert_eq!(
            cx.findings[0].code,
            Some(Code::InvalidImageOsTypeUnsupported)
        );
        let mut cx = Cx::new(false);
        let f = linux_family_of(&mut cx, &linux("ubuntu", "9.10"), &[]);
        assert_eq!(f.map(|f| f.name), Some("Ubuntu"));
        assert_eq!(cx.findings[0].severity, Severity::Warning);
    }
}
