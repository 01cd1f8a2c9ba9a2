//! Package databases, read just enough for R-CLOUDINIT and R-KERNEL:
//! - dpkg `/var/lib/dpkg/status` (deb822 paragraphs): installed packages and versions.
//! - rpm (`rpmdb.sqlite`, Berkeley DB `Packages`, ndb `Packages.db`): we do not
//!   parse the database formats; we search its bytes (streamed, bounded) for the
//!   strings an installed package's header holds (`cloud-init\0`, a kernel
//!   version). A hit means "the database mentions it" — evidence, not proof;
//!   header blobs split across database pages may be missed.

use crate::guest::{Evidence, Guest};
use std::collections::BTreeMap;
use std::io::Read;

/// Largest dpkg status file read.
const MAX_DPKG_STATUS: u64 = 64 * 1024 * 1024;
/// Most rpm database bytes searched.
const MAX_RPMDB_SCAN: u64 = 512 * 1024 * 1024;

/// Where rpm keeps its database, newest layouts first.
pub const RPMDB_PATHS: &[&str] = &[
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/Packages.db",
    "/usr/lib/sysimage/rpm/Packages",
    "/var/lib/rpm/rpmdb.sqlite",
    "/var/lib/rpm/Packages.db",
    "/var/lib/rpm/Packages",
];

/// Installed dpkg packages (name → version), when a dpkg status file exists.
pub fn dpkg_installed(guest: &Guest, ev: &mut Vec<Evidence>) -> Option<BTreeMap<String, String>> {
    let path = "/var/lib/dpkg/status";
    let data = match guest.read_file(path, MAX_DPKG_STATUS) {
        Ok(d) => d,
        Err(crate::Error::NotFound(_)) => return None,
        Err(e) => {
            ev.push(Evidence::new(path, format!("unreadable: {e}")));
            return None;
        }
    };
    let text = String::from_utf8_lossy(&data);
    let installed = parse_dpkg_status(&text);
    ev.push(Evidence::new(
        path,
        format!("{} packages installed", installed.len()),
    ));
    Some(installed)
}

/// Parse dpkg status paragraphs; keep packages whose `Status` ends in `installed`
/// (`install ok installed`, and `hold ok installed`).
pub fn parse_dpkg_status(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for para in text.split("\n\n") {
        let (mut name, mut version, mut status) = (None, None, None);
        for line in para.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                match k {
                    "Package" => name = Some(v.trim()),
                    "Version" => version = Some(v.trim()),
                    "Status" => status = Some(v.trim()),
                    _ => {}
                }
            }
        }
        if let (Some(n), Some(s)) = (name, status) {
            if s.split_whitespace().nth(2) == Some("installed") {
                out.insert(n.to_string(), version.unwrap_or("").to_string());
            }
        }
    }
    out
}

/// The first rpm database file present.
pub fn rpmdb_path(guest: &Guest) -> Option<&'static str> {
    RPMDB_PATHS.iter().copied().find(|p| guest.is_file(p))
}

/// Search the rpm database at `path` for each needle; returns which were found.
/// Streams the file in chunks, bounded by [`MAX_RPMDB_SCAN`].
pub fn rpmdb_search(
    guest: &Guest,
    path: &str,
    needles: &[Vec<u8>],
    ev: &mut Vec<Evidence>,
) -> Vec<bool> {
    let mut found = vec![false; needles.len()];
    let mut reader = match guest.open_file(path) {
        Ok(r) => r.take(MAX_RPMDB_SCAN),
        Err(e) => {
            ev.push(Evidence::new(path, format!("unreadable: {e}")));
            return found;
        }
    };
    let keep = needles
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(1)
        .saturating_sub(1);
    let mut window: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                ev.push(Evidence::new(
                    path,
                    format!("read error after {total} bytes: {e}"),
                ));
                break;
            }
        };
        total += n as u64;
        window.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        for (hit, needle) in found.iter_mut().zip(needles) {
            if !*hit && !needle.is_empty() && memchr::memmem::find(&window, needle).is_some() {
                *hit = true;
            }
        }
        if found.iter().all(|f| *f) {
            break;
        }
        let cut = window.len().saturating_sub(keep);
        window.drain(..cut);
    }
    if total >= MAX_RPMDB_SCAN {
        ev.push(Evidence::new(
            path,
            format!("searched only the first {MAX_RPMDB_SCAN} bytes"),
        ));
    }
    found
}
