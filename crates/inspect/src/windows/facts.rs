//! Windows facts (R-OS, R-ARCH, R-VIRTIO, R-CLOUDINIT) from the `SOFTWARE` and
//! `SYSTEM` hives of `/Windows/System32/config` and the files beside them.
//!
//! - Product: `SOFTWARE\Microsoft\Windows NT\CurrentVersion` (`ProductName`,
//!   `EditionID`, `InstallationType`, `CurrentVersion`, `CurrentBuild`,
//!   `CurrentMajorVersionNumber` / `CurrentMinorVersionNumber`), and
//!   `SYSTEM\…\Control\ProductOptions\ProductType` (`WinNT` is a client).
//! - Control set: `SYSTEM\Select\Current`.
//! - Architecture: `…\Control\Session Manager\Environment\PROCESSOR_ARCHITECTURE`,
//!   else the existence of `/Windows/SysWOW64` (64-bit x86).
//! - Computer name: `…\Control\ComputerName\ComputerName\ComputerName`.

use super::hive::{Hive, Key, RegData, MAX_HIVE_SIZE};
use super::paths::{find_dir, find_file};
use super::services::{self, CloudbaseInit, WindowsVirtio};
use crate::fs::FileSystem;
use crate::guest::Evidence;
use crate::linux::elf::Arch;
use crate::Result;
use serde::Serialize;

/// Summary of one hive file read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HiveSummary {
    /// Guest path.
    pub path: String,
    /// regf format version (`1.5`).
    pub format_version: String,
    /// Sequence numbers differ: the transaction log was not replayed, so the
    /// newest changes may be missing from what we read.
    pub dirty: bool,
    pub checksum_ok: bool,
    /// The hive bins end before the size the base block claims.
    pub truncated: bool,
}

/// Everything we establish about a Windows guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowsFacts {
    /// `ProductName` (`Windows Server 2016 Datacenter`).
    pub product_name: Option<String>,
    /// `EditionID` (`ServerDatacenter`).
    pub edition_id: Option<String>,
    /// `InstallationType` (`Server`, `Server Core`, `Client`; absent before 2008 R2).
    pub installation_type: Option<String>,
    /// `ProductOptions\ProductType`: `WinNT` (client), `ServerNT`, `LanmanNT` (domain controller).
    pub product_type: Option<String>,
    /// A server edition (from `ProductType`, `InstallationType`, or the product name).
    pub is_server: Option<bool>,
    /// `CurrentVersion` (`6.1`, `6.3`; Windows 10 and later still say `6.3`).
    pub current_version: Option<String>,
    /// `CurrentBuild` (or `CurrentBuildNumber`) as stored (`14393`).
    pub current_build: Option<String>,
    /// `CurrentBuild` as a number.
    pub build: Option<u32>,
    /// `CurrentMajorVersionNumber` (10 and later), else from `CurrentVersion`.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Normalised release: `2008`, `2008 R2`, `2012`, `2012 R2`, `2016`, `2019`,
    /// `2022`, `2025` for servers; `Vista`, `7`, `8`, `8.1`, `10`, `11` for clients.
    pub version: Option<String>,
    pub arch: Option<Arch>,
    /// 32 or 64.
    pub arch_bits: Option<u8>,
    /// `SYSTEM\Select\Current`.
    pub current_control_set: Option<u32>,
    pub computer_name: Option<String>,
    pub virtio: WindowsVirtio,
    pub cloudbase_init: CloudbaseInit,
    pub hives: Vec<HiveSummary>,
    /// Problems met that did not stop the inspection (dirty hives, unreadable keys).
    pub warnings: Vec<String>,
    /// What was looked at, for every fact.
    pub evidence: Vec<Evidence>,
}

const CONFIG_DIR: &str = "/Windows/System32/config";
const CURRENT_VERSION: &str = r"Microsoft\Windows NT\CurrentVersion";

/// Load the hive file at `path`; its summary and any warnings are recorded.
fn load_hive(
    fs: &dyn FileSystem,
    path: &str,
    hives: &mut Vec<HiveSummary>,
    warnings: &mut Vec<String>,
) -> Result<Hive> {
    let hive = Hive::new(fs.read_file(path, MAX_HIVE_SIZE)?)?;
    let base = hive.base_block();
    let summary = HiveSummary {
        path: path.to_string(),
        format_version: base.version(),
        dirty: base.is_dirty(),
        checksum_ok: base.checksum_ok,
        truncated: hive.is_truncated(),
    };
    if summary.dirty {
        warnings.push(format!(
            "{path}: hive is dirty (sequence numbers {} and {}): its transaction log was not replayed, recent changes may be missing",
            base.primary_sequence, base.secondary_sequence
        ));
    }
    if !summary.checksum_ok {
        warnings.push(format!("{path}: base block checksum does not match"));
    }
    if summary.truncated {
        warnings.push(format!(
            "{path}: hive bins end before the size the base block claims"
        ));
    }
    hives.push(summary);
    Ok(hive)
}

/// A string value (`REG_SZ`/`REG_EXPAND_SZ`), `None` when absent or another type.
fn string_value(key: &Key<'_>, name: &str, warnings: &mut Vec<String>) -> Option<String> {
    match key.value_data(name) {
        Ok(d) => d.and_then(|d| d.as_str().map(str::to_string)),
        Err(e) => {
            warnings.push(format!("value {name}: {e}"));
            None
        }
    }
}

fn dword_value(key: &Key<'_>, name: &str, warnings: &mut Vec<String>) -> Option<u32> {
    match key.value_data(name) {
        Ok(Some(RegData::Dword(v))) => Some(v),
        Ok(_) => None,
        Err(e) => {
            warnings.push(format!("value {name}: {e}"));
            None
        }
    }
}

fn open<'h>(hive: &'h Hive, path: &str, warnings: &mut Vec<String>) -> Option<Key<'h>> {
    match hive.open_key(path) {
        Ok(k) => k,
        Err(e) => {
            warnings.push(format!("key {path}: {e}"));
            None
        }
    }
}

/// The release name for a build number (and whether it is a server).
pub fn release_from_build(build: u32, server: bool) -> Option<&'static str> {
    Some(match (build, server) {
        (6000..=6003, true) => "2008",
        (6000..=6003, false) => "Vista",
        (7600 | 7601, true) => "2008 R2",
        (7600 | 7601, false) => "7",
        (9200, true) => "2012",
        (9200, false) => "8",
        (9600, true) => "2012 R2",
        (9600, false) => "8.1",
        (14393, true) => "2016",
        (17763, true) => "2019",
        (20348, true) => "2022",
        (26100, true) => "2025",
        (10240..=21999, false) => "10",
        (22000.., false) => "11",
        _ => return None,
    })
}

/// The release name from a product name (`Windows Server 2012 R2 Standard` →
/// `2012 R2`), for builds [`release_from_build`] does not know.
pub fn release_from_product_name(name: &str) -> Option<String> {
    let name = name
        .replace("(R)", " ")
        .replace(['\u{ae}', '\u{2122}'], " ");
    let words: Vec<&str> = name.split_whitespace().collect();
    let pos = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("windows"))?;
    let rest = words.get(pos + 1..)?;
    let (server, rest) = match rest.first() {
        Some(w) if w.eq_ignore_ascii_case("server") => (true, rest.get(1..)?),
        _ => (false, rest),
    };
    let first = *rest.first()?;
    let r2 = rest.get(1).is_some_and(|w| w.eq_ignore_ascii_case("r2"));
    let is_year = first.len() == 4 && first.bytes().all(|b| b.is_ascii_digit());
    if server && is_year {
        return Some(if r2 {
            format!("{first} R2")
        } else {
            first.to_string()
        });
    }
    if !server
        && ["vista", "7", "8", "8.1", "10", "11"]
            .iter()
            .any(|v| first.eq_ignore_ascii_case(v))
    {
        return Some(if first.eq_ignore_ascii_case("vista") {
            "Vista".into()
        } else {
            first.to_string()
        });
    }
    None
}

/// The product and version values of `HKLM\SOFTWARE\…\CurrentVersion`.
struct Product {
    product_name: Option<String>,
    edition_id: Option<String>,
    installation_type: Option<String>,
    current_version: Option<String>,
    current_build: Option<String>,
    major: Option<u32>,
    minor: Option<u32>,
}

fn product(software: &Hive, ev: &mut Vec<Evidence>, warnings: &mut Vec<String>) -> Product {
    let mut product_name = None;
    let mut edition_id = None;
    let mut installation_type = None;
    let mut current_version = None;
    let mut current_build = None;
    let mut major = None;
    let mut minor = None;
    if let Some(cv) = open(software, CURRENT_VERSION, warnings) {
        let w = &mut *warnings;
        product_name = string_value(&cv, "ProductName", w);
        edition_id = string_value(&cv, "EditionID", w);
        installation_type = string_value(&cv, "InstallationType", w);
        current_version = string_value(&cv, "CurrentVersion", w);
        current_build = string_value(&cv, "CurrentBuild", w)
            .or_else(|| string_value(&cv, "CurrentBuildNumber", w));
        major = dword_value(&cv, "CurrentMajorVersionNumber", w);
        minor = dword_value(&cv, "CurrentMinorVersionNumber", w);
        ev.push(Evidence::new(
            format!(r"HKLM\SOFTWARE\{CURRENT_VERSION}"),
            format!(
                "ProductName={} EditionID={} InstallationType={} CurrentVersion={} CurrentBuild={}",
                product_name.as_deref().unwrap_or("-"),
                edition_id.as_deref().unwrap_or("-"),
                installation_type.as_deref().unwrap_or("-"),
                current_version.as_deref().unwrap_or("-"),
                current_build.as_deref().unwrap_or("-"),
            ),
        ));
    } else {
        warnings.push(format!(r"HKLM\SOFTWARE\{CURRENT_VERSION} not found"));
    }
    if major.is_none() {
        let mut parts = current_version.as_deref().unwrap_or("").split('.');
        major = parts.next().and_then(|p| p.trim().parse().ok());
        minor = minor.or_else(|| parts.next().and_then(|p| p.trim().parse().ok()));
    }
    Product {
        product_name,
        edition_id,
        installation_type,
        current_version,
        current_build,
        major,
        minor,
    }
}

/// The architecture from `PROCESSOR_ARCHITECTURE`, else 64-bit x86 when `SysWOW64` exists.
fn windows_arch(processor_architecture: Option<&str>, syswow64: bool) -> Option<Arch> {
    let named = processor_architecture.and_then(|a| match a.to_ascii_uppercase().as_str() {
        "AMD64" => Some(Arch::X86_64),
        "X86" => Some(Arch::I386),
        "ARM64" => Some(Arch::Aarch64),
        "ARM" => Some(Arch::Armv7),
        _ => None,
    });
    named.or(syswow64.then_some(Arch::X86_64))
}

/// Establish the facts of a Windows system volume. `Ok(None)` when `fs` has no
/// `Windows/System32/config/{SOFTWARE,SYSTEM}` (any casing); an error when a
/// hive cannot be opened at all (not a hive, damaged bins, over the size cap).
/// Damage met later is a warning and leaves the affected facts `None`.
pub fn inspect_windows(fs: &dyn FileSystem) -> Result<Option<WindowsFacts>> {
    let Some(config) = find_dir(fs, CONFIG_DIR) else {
        return Ok(None);
    };
    let (Some(software_path), Some(system_path)) = (
        find_file(fs, &format!("{config}/SOFTWARE")),
        find_file(fs, &format!("{config}/SYSTEM")),
    ) else {
        return Ok(None);
    };
    let mut ev = Vec::new();
    let mut warnings = Vec::new();
    let mut hives = Vec::new();
    let software = load_hive(fs, &software_path, &mut hives, &mut warnings)?;
    let system = load_hive(fs, &system_path, &mut hives, &mut warnings)?;

    let p = product(&software, &mut ev, &mut warnings);
    let build: Option<u32> = p
        .current_build
        .as_deref()
        .and_then(|b| b.trim().parse().ok());

    let ccs = ControlSet::open(&system, &mut ev, &mut warnings);
    let current_control_set = ccs.current;

    let product_type = ccs
        .sub(r"Control\ProductOptions", &mut warnings)
        .and_then(|k| string_value(&k, "ProductType", &mut warnings));
    if let Some(pt) = &product_type {
        ev.push(Evidence::new(
            r"HKLM\SYSTEM\CurrentControlSet\Control\ProductOptions",
            format!("ProductType={pt}"),
        ));
    }
    let is_server = is_server(product_type.as_ref(), &p);
    let version = build
        .zip(is_server)
        .and_then(|(b, s)| release_from_build(b, s).map(str::to_string))
        .or_else(|| {
            p.product_name
                .as_deref()
                .and_then(release_from_product_name)
        });

    let arch = architecture(fs, &ccs, &mut ev, &mut warnings);

    let computer_name = ccs
        .sub(r"Control\ComputerName\ComputerName", &mut warnings)
        .and_then(|k| string_value(&k, "ComputerName", &mut warnings));
    if let Some(n) = &computer_name {
        ev.push(Evidence::new(
            r"HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName",
            format!("ComputerName={n}"),
        ));
    }

    let services_key = ccs.sub("Services", &mut warnings);
    let virtio = services::virtio(fs, services_key.as_ref(), &mut ev, &mut warnings);
    let cloudbase_init =
        services::cloudbase_init(fs, services_key.as_ref(), &mut ev, &mut warnings);

    Ok(Some(WindowsFacts {
        product_name: p.product_name,
        edition_id: p.edition_id,
        installation_type: p.installation_type,
        product_type,
        is_server,
        current_version: p.current_version,
        current_build: p.current_build,
        build,
        major: p.major,
        minor: p.minor,
        version,
        arch,
        arch_bits: arch.map(Arch::bits),
        current_control_set,
        computer_name,
        virtio,
        cloudbase_init,
        hives,
        warnings,
        evidence: ev,
    }))
}

/// The current control set of the SYSTEM hive (`HKLM\SYSTEM\Select\Current`, else
/// `ControlSet001`), the key services and settings are read under.
struct ControlSet<'h> {
    /// `Select\Current`, when present.
    current: Option<u32>,
    /// `ControlSetNNN`.
    name: String,
    key: Option<Key<'h>>,
}

impl<'h> ControlSet<'h> {
    /// Find the current control set, noting what was read (or not) in `ev` / `warnings`.
    fn open(system: &'h Hive, ev: &mut Vec<Evidence>, warnings: &mut Vec<String>) -> Self {
        let current =
            open(system, "Select", warnings).and_then(|k| dword_value(&k, "Current", warnings));
        let name = match current {
            Some(n) => {
                ev.push(Evidence::new(r"HKLM\SYSTEM\Select", format!("Current={n}")));
                format!("ControlSet{n:03}")
            }
            None => {
                warnings.push(r"HKLM\SYSTEM\Select\Current not found: using ControlSet001".into());
                "ControlSet001".to_string()
            }
        };
        let key = open(system, &name, warnings);
        if key.is_none() {
            warnings.push(format!(r"HKLM\SYSTEM\{name} not found"));
        }
        ControlSet { current, name, key }
    }

    /// The key at `path` below the control set; nothing when absent, a warning when
    /// it cannot be read.
    fn sub(&self, path: &str, warnings: &mut Vec<String>) -> Option<Key<'h>> {
        self.key.as_ref().and_then(|k| match sub_key(k, path) {
            Ok(k) => k,
            Err(e) => {
                warnings.push(format!(r"{}\{path}: {e}", self.name));
                None
            }
        })
    }
}

/// Whether this is a server edition: by `ProductType` (anything but `WinNT`), else
/// `InstallationType`, else the product name; unknown without any of them.
fn is_server(product_type: Option<&String>, p: &Product) -> Option<bool> {
    match (product_type, &p.installation_type, &p.product_name) {
        (Some(pt), _, _) if !pt.is_empty() => Some(!pt.eq_ignore_ascii_case("WinNT")),
        (_, Some(it), _) => Some(it.to_ascii_lowercase().starts_with("server")),
        (_, _, Some(pn)) => Some(pn.to_ascii_lowercase().contains("server")),
        _ => None,
    }
}

/// The architecture from the control set's `PROCESSOR_ARCHITECTURE` and the
/// presence of `SysWOW64` ([`windows_arch`]), with the evidence of each.
fn architecture(
    fs: &dyn FileSystem,
    ccs: &ControlSet<'_>,
    ev: &mut Vec<Evidence>,
    warnings: &mut Vec<String>,
) -> Option<Arch> {
    let env_arch = ccs
        .sub(r"Control\Session Manager\Environment", warnings)
        .and_then(|k| string_value(&k, "PROCESSOR_ARCHITECTURE", warnings));
    if let Some(a) = &env_arch {
        ev.push(Evidence::new(
            r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment",
            format!("PROCESSOR_ARCHITECTURE={a}"),
        ));
    }
    let syswow64 = find_dir(fs, "/Windows/SysWOW64");
    if let Some(d) = &syswow64 {
        ev.push(Evidence::new(
            d.clone(),
            "32-bit compatibility directory present (64-bit Windows)",
        ));
    }
    windows_arch(env_arch.as_deref(), syswow64.is_some())
}

/// The key at `path` below `key` (case-insensitive).
fn sub_key<'h>(key: &Key<'h>, path: &str) -> Result<Option<Key<'h>>> {
    let mut cur = key.clone();
    for comp in path.split('\\').filter(|c| !c.is_empty()) {
        match cur.subkey(comp)? {
            Some(k) => cur = k,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

#[cfg(test)]
mod arch_tests {
    use super::*;

    #[test]
    fn the_architecture_is_named_or_told_by_syswow64() {
        assert_eq!(windows_arch(Some("amd64"), false), Some(Arch::X86_64));
        assert_eq!(windows_arch(Some("x86"), true), Some(Arch::I386));
        assert_eq!(windows_arch(None, true), Some(Arch::X86_64));
        assert_eq!(windows_arch(Some("IA64"), false), None);
        assert_eq!(windows_arch(None, false), None);
    }
}
