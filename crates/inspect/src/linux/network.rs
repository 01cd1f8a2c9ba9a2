//! Network configuration (R-NET): the instance gets one NIC, `eth0`, configured
//! from the metadata service (DHCP). We list configured interfaces from ifupdown,
//! netplan, ifcfg (Red Hat and SUSE), systemd-networkd, NetworkManager keyfiles,
//! and udev rules that name NICs, and warn about static addresses, several NICs,
//! names other than `eth0`, and `eth0` pinned to a MAC address.

use super::os_release::parse_shell_vars;
use crate::guest::{Evidence, Guest};
use serde::Serialize;
use std::collections::BTreeMap;

/// Largest config file read.
const MAX_FILE: u64 = 1024 * 1024;
/// Most files read per directory.
const MAX_FILES: usize = 256;
/// Most lines looked at per file.
const MAX_LINES: usize = 100_000;

/// How an interface gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddrMode {
    Unknown,
    Manual,
    Dhcp,
    Static,
}

/// One configured interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicConfig {
    /// Interface name (or match pattern) as configured.
    pub name: String,
    pub mode: AddrMode,
    /// The file that configures it.
    pub source: String,
}

/// A rule that names a NIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicRename {
    pub name: String,
    /// The MAC address (or other match) it is bound to.
    pub matched: String,
    pub source: String,
}

impl NicRename {
    /// Whether the instance's one NIC (a new MAC address) would not come up as `eth0`
    /// (R-NET): the name is pinned to a MAC address, or a name other than `eth0` is given.
    pub fn breaks_eth0(&self) -> bool {
        self.matched.starts_with("MAC ") || self.name != "eth0"
    }
}

/// Network facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    pub interfaces: Vec<NicConfig>,
    pub renames: Vec<NicRename>,
    /// R-NET warnings for the user.
    pub warnings: Vec<String>,
}

fn read(guest: &Guest, path: &str) -> Option<String> {
    guest
        .read_file(path, MAX_FILE)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn files(guest: &Guest, dir: &str, suffix: &str) -> Vec<String> {
    let mut f: Vec<String> = guest
        .glob(dir, "", suffix)
        .into_iter()
        .filter(|p| guest.is_file(p))
        .collect();
    f.truncate(MAX_FILES);
    f
}

fn add(out: &mut Vec<NicConfig>, name: &str, mode: AddrMode, source: &str) {
    if name.is_empty() || name == "lo" {
        return;
    }
    if let Some(n) = out
        .iter_mut()
        .find(|n| n.name == name && n.source == source)
    {
        n.mode = n.mode.max(mode);
    } else {
        out.push(NicConfig {
            name: name.to_string(),
            mode,
            source: source.to_string(),
        });
    }
}

/// ifupdown `iface NAME inet METHOD`.
pub fn parse_interfaces(text: &str, source: &str, out: &mut Vec<NicConfig>) {
    for line in text.lines().take(MAX_LINES) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let ["iface", name, _family, method, ..] = w.as_slice() {
            let mode = match *method {
                "dhcp" | "auto" | "dhcp6" => AddrMode::Dhcp,
                "static" => AddrMode::Static,
                "manual" => AddrMode::Manual,
                "loopback" => continue,
                _ => AddrMode::Unknown,
            };
            add(out, name, mode, source);
        }
    }
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches([' ', '\t']).len()
}

fn yaml_true(v: &str) -> bool {
    matches!(
        v.trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_ascii_lowercase()
            .as_str(),
        "true" | "yes" | "on" | "y"
    )
}

/// netplan YAML (block style subset): interfaces under `ethernets:`, `bonds:`,
/// `bridges:`, `vlans:`; `dhcp4`/`dhcp6`, `addresses`, `set-name`, `match: name`.
pub fn parse_netplan(
    text: &str,
    source: &str,
    out: &mut Vec<NicConfig>,
    renames: &mut Vec<NicRename>,
) {
    let lines: Vec<&str> = text
        .lines()
        .take(MAX_LINES)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines.get(i).copied().unwrap_or("");
        let key = l.trim().trim_end_matches(':');
        i += 1;
        if !l.trim_end().ends_with(':')
            || !["ethernets", "bonds", "bridges", "vlans", "wifis"].contains(&key)
        {
            continue;
        }
        let base = indent(l);
        let mut id_indent = None;
        // (id, mode, set-name, match name)
        let mut cur: Option<(String, AddrMode, Option<String>, Option<String>)> = None;
        let flush = |cur: &mut Option<(String, AddrMode, Option<String>, Option<String>)>,
                     out: &mut Vec<NicConfig>,
                     renames: &mut Vec<NicRename>| {
            if let Some((id, mode, set_name, matched)) = cur.take() {
                let name = set_name.clone().or(matched.clone()).unwrap_or(id.clone());
                add(out, &name, mode, source);
                if let Some(s) = set_name {
                    renames.push(NicRename {
                        name: s,
                        matched: format!("netplan id {id}"),
                        source: source.into(),
                    });
                }
            }
        };
        while i < lines.len() {
            let l = lines.get(i).copied().unwrap_or("");
            let ind = indent(l);
            if ind <= base {
                break;
            }
            i += 1;
            let t = l.trim();
            if *id_indent.get_or_insert(ind) == ind {
                flush(&mut cur, out, renames);
                let id = t
                    .trim_end_matches(':')
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_string();
                cur = Some((id, AddrMode::Unknown, None, None));
                continue;
            }
            let Some(c) = cur.as_mut() else { continue };
            let (k, v) = t
                .split_once(':')
                .map(|(k, v)| (k.trim(), v.trim()))
                .unwrap_or((t, ""));
            match k {
                "dhcp4" | "dhcp6" if yaml_true(v) => c.1 = c.1.max(AddrMode::Dhcp),
                "addresses" if v != "[]" => c.1 = AddrMode::Static,
                "set-name" => c.2 = Some(v.trim_matches(|c| c == '"' || c == '\'').to_string()),
                "name" => c.3 = Some(v.trim_matches(|c| c == '"' || c == '\'').to_string()),
                _ => {}
            }
        }
        flush(&mut cur, out, renames);
    }
}

/// ifcfg files (`DEVICE`, `BOOTPROTO`, `IPADDR`).
fn parse_ifcfg(text: &str, file_name: &str, source: &str, out: &mut Vec<NicConfig>) {
    let m = parse_shell_vars(text);
    let name = m
        .get("DEVICE")
        .cloned()
        .unwrap_or_else(|| file_name.trim_start_matches("ifcfg-").to_string());
    let has_ip = m.keys().any(|k| k.starts_with("IPADDR"))
        && m.iter()
            .any(|(k, v)| k.starts_with("IPADDR") && !v.is_empty());
    let mode = match m
        .get("BOOTPROTO")
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("dhcp" | "dhcp4" | "dhcp6" | "autoip" | "dhcp+autoip" | "bootp") => AddrMode::Dhcp,
        Some("static") => AddrMode::Static,
        _ if has_ip => AddrMode::Static,
        Some("none") => AddrMode::Manual,
        _ => AddrMode::Unknown,
    };
    add(out, &name, mode, source);
}

/// An INI-style file as (section, key, value) triples.
fn ini(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().take(MAX_LINES) {
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') || t.is_empty() {
            continue;
        }
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some((k, v)) = t.split_once('=') {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// systemd-networkd `.network`: `[Match] Name=`, `[Network] DHCP=`/`Address=`.
fn parse_networkd(text: &str, source: &str, out: &mut Vec<NicConfig>) {
    let kv = ini(text);
    let names: Vec<String> = kv
        .iter()
        .filter(|(s, k, _)| s == "Match" && k == "Name")
        .flat_map(|(_, _, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let dhcp = kv.iter().any(|(s, k, v)| {
        s == "Network"
            && k == "DHCP"
            && matches!(v.as_str(), "yes" | "ipv4" | "ipv6" | "both" | "true" | "1")
    });
    let stat = kv
        .iter()
        .any(|(s, k, _)| (s == "Network" || s == "Address") && k == "Address");
    let mode = if stat {
        AddrMode::Static
    } else if dhcp {
        AddrMode::Dhcp
    } else {
        AddrMode::Unknown
    };
    let names = if names.is_empty() {
        vec!["*".to_string()]
    } else {
        names
    };
    for n in names {
        add(out, &n, mode, source);
    }
}

/// NetworkManager keyfile: `[connection] interface-name`, `[ipv4] method`.
fn parse_nm(text: &str, source: &str, out: &mut Vec<NicConfig>) {
    let kv = ini(text);
    let get = |sec: &str, key: &str| {
        kv.iter()
            .find(|(s, k, _)| s == sec && k == key)
            .map(|(_, _, v)| v.clone())
    };
    if let Some(t) = get("connection", "type") {
        if !matches!(
            t.as_str(),
            "ethernet" | "802-3-ethernet" | "bond" | "vlan" | "bridge"
        ) {
            return;
        }
    }
    let name = get("connection", "interface-name").unwrap_or_else(|| {
        format!(
            "* (connection {})",
            get("connection", "id").unwrap_or_default()
        )
    });
    let stat = kv
        .iter()
        .any(|(s, k, _)| (s == "ipv4" || s == "ipv6") && k.starts_with("address"));
    let mode = match get("ipv4", "method").as_deref() {
        _ if stat => AddrMode::Static,
        Some("auto") => AddrMode::Dhcp,
        Some("manual") => AddrMode::Static,
        Some("disabled" | "link-local") => AddrMode::Manual,
        _ => AddrMode::Unknown,
    };
    add(out, &name, mode, source);
}

/// udev rules with `NAME="…"` (persistent-net rules).
fn parse_udev(text: &str, source: &str, renames: &mut Vec<NicRename>) {
    for line in text.lines().take(MAX_LINES) {
        let t = line.trim();
        if t.starts_with('#') || !t.contains("SUBSYSTEM==\"net\"") {
            continue;
        }
        let field = |key: &str| {
            t.split(',')
                .map(str::trim)
                .find_map(|f| f.strip_prefix(key))
                .map(|v| v.trim_matches('"').to_string())
        };
        if let Some(name) = field("NAME=\"").or_else(|| field("NAME:=\"")) {
            let matched = field("ATTR{address}==\"")
                .map(|m| format!("MAC {m}"))
                .unwrap_or_else(|| "other match".into());
            renames.push(NicRename {
                name,
                matched,
                source: source.into(),
            });
        }
    }
}

/// systemd `.link` files: `[Link] Name=` with `[Match] MACAddress=`.
fn parse_link(text: &str, source: &str, renames: &mut Vec<NicRename>) {
    let kv = ini(text);
    if let Some((_, _, name)) = kv.iter().find(|(s, k, _)| s == "Link" && k == "Name") {
        let matched = kv
            .iter()
            .find(|(s, _, _)| s == "Match")
            .map(|(_, k, v)| format!("{k}={v}"))
            .unwrap_or_else(|| "any".into());
        renames.push(NicRename {
            name: name.clone(),
            matched,
            source: source.into(),
        });
    }
}

pub fn detect(guest: &Guest, ev: &mut Vec<Evidence>) -> Network {
    let mut n = Network::default();
    let mut ifaces = Vec::new();
    let mut sources = vec!["/etc/network/interfaces".to_string()];
    sources.extend(files(guest, "/etc/network/interfaces.d", ""));
    for f in sources {
        if let Some(t) = read(guest, &f) {
            parse_interfaces(&t, &f, &mut ifaces);
        }
    }
    for dir in ["/etc/netplan", "/lib/netplan", "/run/netplan"] {
        for f in files(guest, dir, ".yaml")
            .into_iter()
            .chain(files(guest, dir, ".yml"))
        {
            if let Some(t) = read(guest, &f) {
                parse_netplan(&t, &f, &mut ifaces, &mut n.renames);
            }
        }
    }
    for dir in ["/etc/sysconfig/network-scripts", "/etc/sysconfig/network"] {
        for f in files(guest, dir, "") {
            let name = f.rsplit('/').next().unwrap_or("").to_string();
            if !name.starts_with("ifcfg-") || name.ends_with(".bak") || name.contains('~') {
                continue;
            }
            if let Some(t) = read(guest, &f) {
                parse_ifcfg(&t, &name, &f, &mut ifaces);
            }
        }
    }
    for dir in [
        "/etc/systemd/network",
        "/usr/lib/systemd/network",
        "/lib/systemd/network",
    ] {
        // Distribution defaults in /usr/lib only matter for renames (.link).
        if dir == "/etc/systemd/network" {
            for f in files(guest, dir, ".network") {
                if let Some(t) = read(guest, &f) {
                    parse_networkd(&t, &f, &mut ifaces);
                }
            }
        }
        for f in files(guest, dir, ".link") {
            if dir != "/etc/systemd/network" && f.ends_with("99-default.link") {
                continue;
            }
            if let Some(t) = read(guest, &f) {
                parse_link(&t, &f, &mut n.renames);
            }
        }
    }
    for f in files(guest, "/etc/NetworkManager/system-connections", "") {
        if let Some(t) = read(guest, &f) {
            parse_nm(&t, &f, &mut ifaces);
        }
    }
    for f in files(guest, "/etc/udev/rules.d", ".rules") {
        if let Some(t) = read(guest, &f) {
            parse_udev(&t, &f, &mut n.renames);
        }
    }
    for i in &ifaces {
        ev.push(Evidence::new(
            &i.source,
            format!("{} configured {:?}", i.name, i.mode),
        ));
    }
    for r in &n.renames {
        ev.push(Evidence::new(
            &r.source,
            format!("names {} ({})", r.name, r.matched),
        ));
    }
    n.interfaces = ifaces;
    n.warnings = warnings(&n);
    if n.interfaces.is_empty() {
        ev.push(Evidence::new(
            "/etc/network",
            "no interface configuration found",
        ));
    }
    n
}

/// R-NET warnings.
fn warnings(n: &Network) -> Vec<String> {
    let mut w = Vec::new();
    let mut by_name: BTreeMap<&str, AddrMode> = BTreeMap::new();
    for i in &n.interfaces {
        let e = by_name.entry(i.name.as_str()).or_insert(i.mode);
        *e = (*e).max(i.mode);
        if i.mode == AddrMode::Static {
            w.push(format!(
                "{} has a static address in {}; the instance's address comes from the metadata service (use DHCP)",
                i.name, i.source
            ));
        }
    }
    let concrete: Vec<&str> = by_name
        .keys()
        .copied()
        .filter(|k| !k.contains('*'))
        .collect();
    if concrete.len() > 1 {
        w.push(format!(
            "{} interfaces are configured ({}); the instance gets one NIC, eth0",
            concrete.len(),
            concrete.join(", ")
        ));
    }
    for name in &concrete {
        if *name != "eth0" {
            w.push(format!(
                "interface {name} is configured; the instance's NIC is eth0"
            ));
        }
    }
    for r in n.renames.iter().filter(|r| r.breaks_eth0()) {
        if r.matched.starts_with("MAC ") {
            w.push(format!(
                "{} pins {} to {}; the instance's NIC has another MAC and would not be {}",
                r.source, r.name, r.matched, r.name
            ));
        } else if r.name != "eth0" {
            w.push(format!(
                "{} names a NIC {}; the instance's NIC is eth0",
                r.source, r.name
            ));
        }
    }
    if n.interfaces.is_empty() {
        w.push("no interface configuration found; eth0 must be configured by cloud-init or the metadata service".into());
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netplan() {
        let y = "network:\n  version: 2\n  ethernets:\n    ens3:\n      dhcp4: true\n    id1:\n      match:\n        macaddress: 00:11\n      set-name: eth1\n      addresses: [10.0.0.2/24]\n";
        let (mut o, mut r) = (Vec::new(), Vec::new());
        parse_netplan(y, "x.yaml", &mut o, &mut r);
        assert_eq!(o.len(), 2);
        assert_eq!((o[0].name.as_str(), o[0].mode), ("ens3", AddrMode::Dhcp));
        assert_eq!((o[1].name.as_str(), o[1].mode), ("eth1", AddrMode::Static));
        assert_eq!(r[0].name, "eth1");
    }
}
