//! Which distribution and version (R-OS): `/etc/os-release` (or
//! `/usr/lib/os-release`) first, then the older release files.

use super::os_release::{parse_os_release, parse_shell_vars};
use crate::guest::{Evidence, Guest};

/// Largest release file read.
const MAX_RELEASE_FILE: u64 = 64 * 1024;

/// Distribution identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Distro {
    /// Lower-case id: `debian`, `ubuntu`, `centos`, `rhel`, `opensuse-leap`, `sles`,
    /// `fedora-coreos`, `flatcar`, `coreos` …
    pub id: Option<String>,
    /// Version as os-release's `VERSION_ID` would say (`12`, `22.04`, `7`, `15.5`).
    pub version: Option<String>,
    /// Human name (`PRETTY_NAME`, or the release file's first line).
    pub product_name: Option<String>,
    /// `ID_LIKE` words.
    pub id_like: Vec<String>,
}

fn read_text(guest: &Guest, path: &str, ev: &mut Vec<Evidence>) -> Option<String> {
    match guest.read_file(path, MAX_RELEASE_FILE) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(crate::Error::NotFound(_)) => None,
        Err(e) => {
            ev.push(Evidence::new(path, format!("unreadable: {e}")));
            None
        }
    }
}

/// Detect the distribution, recording what was looked at in `ev`.
pub fn detect(guest: &Guest, ev: &mut Vec<Evidence>) -> Distro {
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Some(text) = read_text(guest, path, ev) {
            let m = parse_os_release(&text);
            if let Some(id) = m.get("ID").filter(|s| !s.is_empty()) {
                let mut id = id.to_ascii_lowercase();
                let variant = m.get("VARIANT_ID").map(|s| s.to_ascii_lowercase());
                if id == "fedora" && variant.as_deref() == Some("coreos") {
                    id = "fedora-coreos".into();
                }
                let d = Distro {
                    id: Some(id.clone()),
                    version: m.get("VERSION_ID").filter(|s| !s.is_empty()).cloned(),
                    product_name: m.get("PRETTY_NAME").or_else(|| m.get("NAME")).cloned(),
                    id_like: m
                        .get("ID_LIKE")
                        .map(|s| {
                            s.split_whitespace()
                                .map(|w| w.to_ascii_lowercase())
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                ev.push(Evidence::new(
                    path,
                    format!(
                        "ID={id} VERSION_ID={}",
                        d.version.as_deref().unwrap_or("(none)")
                    ),
                ));
                return d;
            }
            ev.push(Evidence::new(path, "present but has no ID="));
        }
    }
    if let Some(text) = read_text(guest, "/etc/lsb-release", ev) {
        let m = parse_shell_vars(&text);
        if let Some(id) = m.get("DISTRIB_ID").filter(|s| !s.is_empty()) {
            let id = id.to_ascii_lowercase();
            ev.push(Evidence::new(
                "/etc/lsb-release",
                format!("DISTRIB_ID={id}"),
            ));
            return Distro {
                id: Some(id),
                version: m.get("DISTRIB_RELEASE").cloned(),
                product_name: m.get("DISTRIB_DESCRIPTION").cloned(),
                id_like: Vec::new(),
            };
        }
    }
    for path in [
        "/etc/centos-release",
        "/etc/rocky-release",
        "/etc/almalinux-release",
        "/etc/fedora-release",
        "/etc/redhat-release",
    ] {
        if let Some(text) = read_text(guest, path, ev) {
            if let Some(d) = parse_redhat_release(&text) {
                ev.push(Evidence::new(
                    path,
                    format!("release line {:?}", d.product_name.as_deref().unwrap_or("")),
                ));
                return d;
            }
            ev.push(Evidence::new(path, "present but not recognised"));
        }
    }
    if let Some(text) = read_text(guest, "/etc/SuSE-release", ev) {
        let d = parse_suse_release(&text);
        ev.push(Evidence::new(
            "/etc/SuSE-release",
            format!("{:?} version {:?}", d.id, d.version),
        ));
        return d;
    }
    for (path, id) in [
        ("/usr/share/flatcar/release", "flatcar"),
        ("/usr/share/coreos/release", "coreos"),
    ] {
        if let Some(text) = read_text(guest, path, ev) {
            let m = parse_shell_vars(&text);
            let version = m
                .get("FLATCAR_RELEASE_VERSION")
                .or_else(|| m.get("COREOS_RELEASE_VERSION"))
                .cloned();
            ev.push(Evidence::new(path, format!("{id} release {version:?}")));
            return Distro {
                id: Some(id.into()),
                version,
                product_name: None,
                id_like: Vec::new(),
            };
        }
    }
    if let Some(text) = read_text(guest, "/etc/debian_version", ev) {
        let v = text.lines().next().unwrap_or("").trim().to_string();
        let version = v
            .split('.')
            .next()
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string);
        ev.push(Evidence::new("/etc/debian_version", format!("{v:?}")));
        return Distro {
            id: Some("debian".into()),
            version,
            product_name: Some(format!("Debian {v}")),
            id_like: Vec::new(),
        };
    }
    ev.push(Evidence::new(
        "/etc/os-release",
        "no os-release, lsb-release, redhat/centos/SuSE/debian release or CoreOS file found",
    ));
    Distro::default()
}

/// `CentOS Linux release 7.9.2009 (Core)`, `Red Hat Enterprise Linux Server release 7.9 (Maipo)`,
/// `Rocky Linux release 8.8 (Green Obsidian)`, `Fedora release 38 (Thirty Eight)`.
pub fn parse_redhat_release(text: &str) -> Option<Distro> {
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
    let lower = line.to_ascii_lowercase();
    let id = if lower.starts_with("centos") {
        "centos"
    } else if lower.starts_with("red hat") {
        "rhel"
    } else if lower.starts_with("rocky") {
        "rocky"
    } else if lower.starts_with("almalinux") {
        "almalinux"
    } else if lower.starts_with("fedora") {
        "fedora"
    } else if lower.starts_with("oracle") {
        "ol"
    } else {
        return None;
    };
    let full = lower
        .split_once(" release ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .filter(|v| v.bytes().next().is_some_and(|b| b.is_ascii_digit()))
        .map(str::to_string);
    // os-release's VERSION_ID: CentOS and Fedora give the major only, the others major.minor.
    let version = full.map(|v| {
        let mut parts = v.split('.');
        let major = parts.next().unwrap_or("").to_string();
        match (id, parts.next()) {
            ("centos" | "fedora", _) | (_, None) => major,
            (_, Some(minor)) => format!("{major}.{minor}"),
        }
    });
    Some(Distro {
        id: Some(id.into()),
        version,
        product_name: Some(line.to_string()),
        id_like: Vec::new(),
    })
}

/// `/etc/SuSE-release`: first line names the product, then `VERSION = 12`,
/// `PATCHLEVEL = 3`.
pub fn parse_suse_release(text: &str) -> Distro {
    let first = text.lines().next().unwrap_or("").trim().to_string();
    let mut version = None;
    let mut patch = None;
    for line in text.lines().take(64) {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "VERSION" => version = Some(v.trim().to_string()),
                "PATCHLEVEL" => patch = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let lower = first.to_ascii_lowercase();
    let id = if lower.contains("opensuse") {
        "opensuse"
    } else if lower.contains("enterprise desktop") {
        "sled"
    } else {
        "sles"
    };
    let version = match (version, patch) {
        (Some(v), Some(p)) if p != "0" && !v.contains('.') => Some(format!("{v}.{p}")),
        (v, _) => v,
    };
    Distro {
        id: Some(id.into()),
        version,
        product_name: Some(first),
        id_like: Vec::new(),
    }
}
