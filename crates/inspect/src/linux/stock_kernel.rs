//! R-KERNEL: whether a kernel looks like its distribution's stock kernel — its version
//! string's suffix for the family, and whether the package manager (dpkg, rpm) owns it.
//! A hint for the user (a warning), never a verdict: a modified kernel may still boot.

use super::kernels::KernelContext;

/// Version-string suffixes of stock kernels, per distribution family.
fn stock_pattern(family: &str, v: &str) -> Option<bool> {
    let ends = |list: &[&str]| list.iter().any(|s| v.ends_with(s));
    Some(match family {
        "debian" => ends(&[
            "-amd64",
            "-686",
            "-686-pae",
            "-586",
            "-486",
            "-arm64",
            "-armmp",
            "-armmp-lpae",
            "-marvell",
            "-rpi",
            "-powerpc64le",
            "-s390x",
            "-loong64",
            "-riscv64",
            "-mips64r2el",
            "-octeon",
            "-bigmem",
        ]),
        "ubuntu" => ends(&[
            "-generic",
            "-generic-pae",
            "-generic-lpae",
            "-virtual",
            "-server",
            "-kvm",
            "-aws",
            "-azure",
            "-gcp",
            "-gke",
            "-oracle",
            "-ibm",
            "-lowlatency",
            "-raspi",
            "-nvidia",
            "-realtime",
            "-oem",
        ]),
        "rhel" => v.contains(".el") || v.contains(".fc") || v.contains(".an") || v.contains("uek"),
        "suse" => ends(&[
            "-default",
            "-azure",
            "-xen",
            "-pae",
            "-desktop",
            "-preempt",
            "-64kb",
            "-rt",
            "-kvmsmall",
            "-ec2",
            "-trace",
            "-vanilla",
        ]),
        "coreos" => v.contains("coreos") || v.contains("flatcar") || v.contains(".fc"),
        _ => return None,
    })
}

fn family(id: &str, id_like: &[String]) -> Option<&'static str> {
    let is = |x: &str| id == x || id_like.iter().any(|l| l == x);
    Some(if id == "ubuntu" {
        "ubuntu"
    } else if matches!(id, "coreos" | "flatcar" | "fedora-coreos" | "rhcos") {
        "coreos"
    } else if is("debian") {
        "debian"
    } else if is("rhel") || is("fedora") || is("centos") {
        "rhel"
    } else if is("suse") || id.starts_with("opensuse") || id.starts_with("sle") {
        "suse"
    } else {
        return None;
    })
}

/// R-KERNEL: a hint (not a verdict) that kernel `v` is not the distribution's.
pub(super) fn modified_hint(ctx: &KernelContext<'_>, v: &str) -> Option<String> {
    let mut why = Vec::new();
    if let Some(fam) = ctx.distro_id.and_then(|id| family(id, ctx.id_like)) {
        if stock_pattern(fam, v) == Some(false) {
            why.push(format!(
                "version {v} does not look like a stock {fam}-family kernel"
            ));
        }
    }
    if let Some(dpkg) = ctx.dpkg {
        let owned = dpkg.contains_key(&format!("linux-image-{v}"))
            || dpkg.contains_key(&format!("linux-image-{v}-unsigned"))
            || dpkg
                .keys()
                .any(|k| k.starts_with("linux-image-") && k.ends_with(v));
        if !owned {
            why.push(format!("no installed dpkg package linux-image-{v}"));
        }
    }
    if let Some((path, seen)) = &ctx.rpm {
        if seen.get(v) == Some(&false) {
            why.push(format!("the rpm database {path} does not mention {v}"));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}
