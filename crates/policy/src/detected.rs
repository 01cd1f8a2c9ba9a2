//! The import form a detected guest calls for (issue 15 item 2): `OsType`, `OsVersion`
//! and `Architecture` as `DescribeImportImageOs` spells them, read from the guest facts
//! with the same lookups R-OS and R-ARCH use ([`linux_family`], [`windows_family`],
//! [`version_supported`], [`normalize_arch`]). ImportImage's `DryRun` returns it as
//! `Detected` (it works without the three fields), the console pre-fills the form from
//! it, and a declared value that differs is shown next to the detected one.

use crate::decide::{is_linux, is_windows};
use crate::facts::{GuestFacts, OsFacts};
use crate::rules::{
    linux_family, major_version, normalize_arch, version_supported, windows_family, SupportedOs,
};
use serde::Serialize;

/// The form values detection supports; `None` where nothing (or nothing in the
/// supported list) was detected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectedForm {
    pub os_type: Option<&'static str>,
    pub os_version: Option<&'static str>,
    pub architecture: Option<&'static str>,
}

/// The supported family of a detected OS (R-OS's lookups), if any.
pub fn supported_family(os: &OsFacts) -> Option<&'static SupportedOs> {
    if is_windows(os) {
        windows_family(os.product_name.as_deref()?)
    } else if is_linux(os) {
        linux_family(os.distro.as_deref(), &os.id_like)
    } else {
        None
    }
}

/// What the form should declare for `guest`.
pub fn detected_form(guest: &GuestFacts) -> DetectedForm {
    let Some(os) = guest.os.as_ref() else {
        return DetectedForm::default();
    };
    let family = supported_family(os);
    let os_version = family.and_then(|f| {
        if f.versions == ["-"] {
            return Some("-");
        }
        let v = os.version.as_deref()?.trim();
        if !version_supported(f, v) {
            return None;
        }
        let major = major_version(v);
        f.versions
            .iter()
            .copied()
            .find(|x| x.eq_ignore_ascii_case(v) || *x == major)
    });
    DetectedForm {
        os_type: family.map(|f| f.name),
        os_version,
        architecture: os.arch.as_deref().and_then(normalize_arch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(os: OsFacts) -> GuestFacts {
        GuestFacts {
            os: Some(os),
            ..GuestFacts::default()
        }
    }

    fn linux(distro: &str, like: &[&str], version: &str, arch: &str) -> OsFacts {
        OsFacts {
            os_type: Some(crate::rules::OsType::Linux),
            distro: Some(distro.into()),
            id_like: like.iter().map(|s| s.to_string()).collect(),
            version: Some(version.into()),
            arch: Some(arch.into()),
            ..OsFacts::default()
        }
    }

    #[test]
    fn linux_guests_map_to_the_listed_names() {
        let d = detected_form(&guest(linux("debian", &[], "12", "x86_64")));
        assert_eq!(
            d,
            DetectedForm {
                os_type: Some("Debian"),
                os_version: Some("12"),
                architecture: Some("x86_64")
            }
        );
        let u = detected_form(&guest(linux("ubuntu", &["debian"], "22.04", "amd64")));
        assert_eq!((u.os_type, u.os_version), (Some("Ubuntu"), Some("22")));
        assert_eq!(u.architecture, Some("x86_64"));
        let r = detected_form(&guest(linux("rocky", &["rhel", "centos"], "9.3", "x86_64")));
        assert_eq!((r.os_type, r.os_version), (Some("CentOS"), Some("9")));
        // A version outside the list, an unsupported family, an unknown architecture.
        let old = detected_form(&guest(linux("ubuntu", &[], "23.10", "aarch64")));
        assert_eq!(
            (old.os_type, old.os_version, old.architecture),
            (Some("Ubuntu"), None, None)
        );
        assert_eq!(
            detected_form(&guest(linux("arch", &[], "rolling", "x86_64"))).os_type,
            None
        );
        assert_eq!(
            detected_form(&GuestFacts::default()),
            DetectedForm::default()
        );
    }

    #[test]
    fn windows_guests_map_to_their_release() {
        let w = detected_form(&guest(OsFacts {
            os_type: Some(crate::rules::OsType::Windows),
            product_name: Some("Windows Server 2012 R2 Datacenter".into()),
            arch: Some("x86_64".into()),
            ..OsFacts::default()
        }));
        assert_eq!(
            (w.os_type, w.os_version, w.architecture),
            (Some("Windows Server 2012"), Some("-"), Some("x86_64"))
        );
        let client = detected_form(&guest(OsFacts {
            os_type: Some(crate::rules::OsType::Windows),
            product_name: Some("Windows 10 Pro".into()),
            ..OsFacts::default()
        }));
        assert_eq!(client.os_type, None);
    }
}
