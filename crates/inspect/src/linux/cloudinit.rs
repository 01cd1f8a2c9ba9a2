//! cloud-init (R-CLOUDINIT): package, program, config, enabled units and the
//! configured data sources.

use crate::guest::{Evidence, Guest};
use serde::Serialize;
use std::collections::BTreeMap;

/// Largest cloud.cfg file read.
const MAX_CFG: u64 = 1024 * 1024;
/// Most cloud.cfg.d files read.
const MAX_CFG_FILES: usize = 256;
/// Most `*.wants` directories looked into.
const MAX_WANTS_DIRS: usize = 256;

/// What we found of cloud-init.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CloudInit {
    /// Package database evidence or the program on disk.
    pub installed: bool,
    /// `dpkg cloud-init 22.4.2-1`, `rpm database mentions cloud-init`.
    pub package: Option<String>,
    /// The `cloud-init` program path.
    pub program: Option<String>,
    /// `/etc/cloud/cloud.cfg` exists.
    pub config: bool,
    /// Enabled units (`multi-user.target.wants/cloud-init.service` …).
    pub enabled_units: Vec<String>,
    /// `/etc/cloud/cloud-init.disabled` exists (cloud-init will not run).
    pub disabled_by_file: bool,
    /// The effective `datasource_list`, when configured (last file wins).
    pub datasource_list: Option<Vec<String>>,
}

/// Inputs from the package databases.
pub struct PackageInfo<'a> {
    pub dpkg: Option<&'a BTreeMap<String, String>>,
    /// (rpm database path, whether it mentions `cloud-init`).
    pub rpm: Option<(&'a str, bool)>,
}

pub fn detect(guest: &Guest, pkgs: &PackageInfo<'_>, ev: &mut Vec<Evidence>) -> CloudInit {
    let mut ci = CloudInit::default();
    if let Some(dpkg) = pkgs.dpkg {
        match dpkg.get("cloud-init") {
            Some(v) => {
                ci.package = Some(format!("dpkg cloud-init {v}"));
                ev.push(Evidence::new(
                    "/var/lib/dpkg/status",
                    format!("cloud-init {v} install ok installed"),
                ));
            }
            None => ev.push(Evidence::new(
                "/var/lib/dpkg/status",
                "no installed cloud-init package",
            )),
        }
    }
    if let Some((path, seen)) = pkgs.rpm {
        if seen {
            ci.package = Some("rpm database mentions cloud-init".into());
        }
        ev.push(Evidence::new(
            path,
            if seen {
                "mentions cloud-init"
            } else {
                "does not mention cloud-init"
            },
        ));
    }
    for p in [
        "/usr/bin/cloud-init",
        "/bin/cloud-init",
        "/usr/local/bin/cloud-init",
    ] {
        if guest.is_file(p) {
            ci.program = Some(p.to_string());
            ev.push(Evidence::new(p, "cloud-init program present"));
            break;
        }
    }
    ci.config = guest.is_file("/etc/cloud/cloud.cfg");
    ev.push(Evidence::new(
        "/etc/cloud/cloud.cfg",
        if ci.config { "present" } else { "absent" },
    ));
    ci.disabled_by_file = guest.exists("/etc/cloud/cloud-init.disabled");
    if ci.disabled_by_file {
        ev.push(Evidence::new(
            "/etc/cloud/cloud-init.disabled",
            "present: cloud-init will not run",
        ));
    }
    ci.enabled_units = enabled_units(guest);
    if !ci.enabled_units.is_empty() {
        ev.push(Evidence::new(
            "/etc/systemd/system",
            format!("enabled: {:?}", ci.enabled_units),
        ));
    }
    let mut files = Vec::new();
    if ci.config {
        files.push("/etc/cloud/cloud.cfg".to_string());
    }
    let mut extra = guest.glob("/etc/cloud/cloud.cfg.d", "", ".cfg");
    extra.truncate(MAX_CFG_FILES);
    files.extend(extra);
    for f in files {
        let Ok(b) = guest.read_file(&f, MAX_CFG) else {
            continue;
        };
        if let Some(list) = parse_datasource_list(&String::from_utf8_lossy(&b)) {
            ev.push(Evidence::new(&f, format!("datasource_list {list:?}")));
            ci.datasource_list = Some(list);
        }
    }
    ci.installed = ci.package.is_some() || ci.program.is_some();
    if !ci.installed {
        ev.push(Evidence::new(
            "/usr/bin/cloud-init",
            "cloud-init not installed: no package entry and no program",
        ));
    }
    ci
}

/// `cloud-*` units linked in `/etc/systemd/system/*.wants/`.
fn enabled_units(guest: &Guest) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dirs) = guest.read_dir("/etc/systemd/system") else {
        return out;
    };
    for d in dirs
        .iter()
        .filter(|d| d.name.ends_with(".wants"))
        .take(MAX_WANTS_DIRS)
    {
        let Ok(units) = guest.read_dir(&format!("/etc/systemd/system/{}", d.name)) else {
            continue;
        };
        for u in units.iter().filter(|u| u.name.starts_with("cloud-")) {
            out.push(format!("{}/{}", d.name, u.name));
        }
    }
    out
}

/// `datasource_list: [ NoCloud, ConfigDrive ]` or a block list under the key
/// (a YAML subset; quotes stripped). `None` when the key is absent.
pub fn parse_datasource_list(text: &str) -> Option<Vec<String>> {
    let mut lines = text.lines().take(100_000);
    while let Some(line) = lines.next() {
        if line.starts_with([' ', '\t', '#']) {
            continue;
        }
        let Some(rest) = line.strip_prefix("datasource_list:") else {
            continue;
        };
        let rest = rest.split(" #").next().unwrap_or("").trim();
        let clean = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
        if let Some(inner) = rest.strip_prefix('[') {
            let mut body = inner.to_string();
            // A flow list may continue over lines.
            while !body.contains(']') {
                match lines.next() {
                    Some(l) => body.push_str(l),
                    None => break,
                }
                if body.len() > 64 * 1024 {
                    break;
                }
            }
            let body = body.split(']').next().unwrap_or("");
            return Some(
                body.split(',')
                    .map(clean)
                    .filter(|s| !s.is_empty())
                    .collect(),
            );
        }
        let mut out = Vec::new();
        for l in lines.by_ref() {
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            match t.strip_prefix("- ").or_else(|| (t == "-").then_some("")) {
                Some(item) => out.push(clean(item.split(" #").next().unwrap_or(""))),
                None => break,
            }
            if out.len() > 1000 {
                break;
            }
        }
        return Some(out.into_iter().filter(|s| !s.is_empty()).collect());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasource_lists() {
        assert_eq!(
            parse_datasource_list("a: 1\ndatasource_list: [ NoCloud, 'ConfigDrive' ]\n").unwrap(),
            ["NoCloud", "ConfigDrive"]
        );
        assert_eq!(
            parse_datasource_list("datasource_list:\n  - NoCloud\n  - \"None\"\nx: 1\n").unwrap(),
            ["NoCloud", "None"]
        );
        assert_eq!(
            parse_datasource_list("datasource_list: [ A,\n B ]\n").unwrap(),
            ["A", "B"]
        );
        assert!(parse_datasource_list("  datasource_list: [x]\n").is_none());
    }
}
