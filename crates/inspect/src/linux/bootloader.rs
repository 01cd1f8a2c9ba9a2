//! Bootloader configuration: GRUB 2 (`grub.cfg`, BLS entries), GRUB legacy
//! (`menu.lst`/`grub.conf`), extlinux/syslinux, systemd-boot — which one, its
//! entries, and the default kernel where cheap to tell.

use crate::guest::{Evidence, Guest};
use serde::Serialize;

/// Largest config file read.
const MAX_CONFIG: u64 = 4 * 1024 * 1024;
/// Most entries kept per config.
const MAX_ENTRIES: usize = 1000;
/// Most BLS/systemd-boot entry files read.
const MAX_ENTRY_FILES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootloaderKind {
    Grub2,
    GrubLegacy,
    Extlinux,
    Syslinux,
    SystemdBoot,
}

/// One boot entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootEntry {
    pub title: String,
    /// Kernel path as written (`/boot/vmlinuz-6.1.0-18-amd64`, `/vmlinuz-…` on a separate /boot).
    pub kernel: Option<String>,
    /// Kernel command line as written.
    pub cmdline: Option<String>,
}

/// What boots the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bootloader {
    pub kind: BootloaderKind,
    /// The config file read.
    pub config: String,
    pub entries: Vec<BootEntry>,
    /// Index into `entries` of the default, when it could be told.
    pub default_entry: Option<usize>,
    /// Kernel version of the default entry (from its kernel file name).
    pub default_kernel_version: Option<String>,
}

fn read(guest: &Guest, path: &str, ev: &mut Vec<Evidence>) -> Option<String> {
    match guest.read_file(path, MAX_CONFIG) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(crate::Error::NotFound(_)) => None,
        Err(e) => {
            ev.push(Evidence::new(path, format!("unreadable: {e}")));
            None
        }
    }
}

/// Kernel version from a kernel file path (`/boot/vmlinuz-6.1.0-18-amd64` → `6.1.0-18-amd64`).
pub fn version_from_kernel_path(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    ["vmlinuz-", "vmlinux-", "Image-", "kernel-"]
        .iter()
        .find_map(|p| base.strip_prefix(p))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Strip one level of shell-like quotes.
fn unq(s: &str) -> String {
    s.trim().trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// First word of a GRUB `menuentry` title (`menuentry 'Debian GNU/Linux' --class …`).
fn grub_title(line: &str) -> String {
    let rest = line
        .split_once(char::is_whitespace)
        .map(|x| x.1)
        .unwrap_or("")
        .trim_start();
    let mut chars = rest.chars();
    match chars.next() {
        Some(q @ ('\'' | '"')) => chars.take_while(|c| *c != q).collect(),
        Some(_) => rest.split_whitespace().next().unwrap_or("").to_string(),
        None => String::new(),
    }
}

/// `$menuentry_id_option 'gnulinux-…'` or `--id x`.
fn grub_id(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == "$menuentry_id_option" || *w == "--id")?;
    words.get(i + 1).map(|w| unq(w))
}

/// A grub.cfg entry: index path (`0`, `1>2`), `--id`, the entry.
type GrubEntry = (String, Option<String>, BootEntry);

/// Parsed grub.cfg: entries, `set default=`, whether it uses BLS (`blscfg`).
fn parse_grub_cfg(text: &str) -> (Vec<GrubEntry>, Option<String>, bool) {
    let mut entries = Vec::new();
    let mut default = None;
    let mut bls = false;
    let mut depth = 0usize; // brace depth
    let mut top_index = 0usize;
    let mut sub: Option<(usize, usize, usize)> = None; // (submenu depth, top index, next child)
    let mut current: Option<(String, Option<String>, BootEntry, usize)> = None;
    for line in text.lines().take(200_000) {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        let opens = t.matches('{').count();
        let closes = t.matches('}').count();
        if t.starts_with("set default=") && current.is_none() {
            default = Some(unq(t.trim_start_matches("set default=")));
        } else if t == "blscfg" || t.starts_with("blscfg ") {
            bls = true;
        } else if t.starts_with("submenu ") && current.is_none() {
            sub = Some((depth, top_index, 0));
            top_index += 1;
        } else if t.starts_with("menuentry ") && current.is_none() {
            let idx = match &mut sub {
                Some((_, top, child)) => {
                    let s = format!("{top}>{child}");
                    *child += 1;
                    s
                }
                None => {
                    top_index += 1;
                    (top_index - 1).to_string()
                }
            };
            current = Some((
                idx,
                grub_id(t),
                BootEntry {
                    title: grub_title(t),
                    kernel: None,
                    cmdline: None,
                },
                depth,
            ));
        } else if let Some((_, _, e, _)) = &mut current {
            let mut w = t.splitn(3, char::is_whitespace);
            if let Some("linux" | "linux16" | "linuxefi" | "kernel") = w.next() {
                e.kernel = w.next().map(str::to_string);
                e.cmdline = w.next().map(|s| s.trim().to_string());
            }
        }
        depth = (depth + opens).saturating_sub(closes);
        if let Some((_, _, _, d)) = &current {
            if depth <= *d && closes > 0 {
                if let Some((i, id, e, _)) = current.take() {
                    if entries.len() < MAX_ENTRIES {
                        entries.push((i, id, e));
                    }
                }
            }
        }
        if let Some((d, _, _)) = sub {
            if depth <= d && closes > 0 && current.is_none() {
                sub = None;
            }
        }
    }
    (entries, default, bls)
}

fn grubenv_saved(guest: &Guest, dir: &str, ev: &mut Vec<Evidence>) -> Option<String> {
    let path = format!("{dir}/grubenv");
    let text = read(guest, &path, ev)?;
    text.lines()
        .find_map(|l| l.strip_prefix("saved_entry="))
        .map(|s| s.trim().to_string())
}

/// BLS entries (`/boot/loader/entries/*.conf`), newest first, with their ids.
fn bls_entries(guest: &Guest, dir: &str, ev: &mut Vec<Evidence>) -> Vec<(String, BootEntry)> {
    let mut files = guest.glob(dir, "", ".conf");
    files.truncate(MAX_ENTRY_FILES);
    files.reverse();
    let mut out = Vec::new();
    for f in files {
        let Some(text) = read(guest, &f, ev) else {
            continue;
        };
        let mut e = BootEntry {
            title: String::new(),
            kernel: None,
            cmdline: None,
        };
        for line in text.lines().take(1000) {
            let mut kv = line.trim().splitn(2, char::is_whitespace);
            match (kv.next(), kv.next()) {
                (Some("title"), Some(v)) => e.title = v.trim().to_string(),
                (Some("linux"), Some(v)) => e.kernel = Some(v.trim().to_string()),
                (Some("options"), Some(v)) => e.cmdline = Some(v.trim().to_string()),
                _ => {}
            }
        }
        let id = f
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".conf")
            .to_string();
        out.push((id, e));
    }
    out
}

fn grub2(guest: &Guest, ev: &mut Vec<Evidence>) -> Option<Bootloader> {
    for dir in ["/boot/grub2", "/boot/grub"] {
        let cfg = format!("{dir}/grub.cfg");
        let Some(text) = read(guest, &cfg, ev) else {
            continue;
        };
        let (parsed, default, bls) = parse_grub_cfg(&text);
        let saved = grubenv_saved(guest, dir, ev);
        let default = match default.as_deref() {
            Some("saved") | Some("${saved_entry}") | Some("$saved_entry") => saved.clone(),
            Some(d) if d.starts_with('$') => None,
            other => other.map(str::to_string).or(Some("0".into())),
        };
        let mut entries: Vec<BootEntry> = Vec::new();
        let mut default_entry = None;
        if bls {
            let bl = bls_entries(guest, "/boot/loader/entries", ev);
            ev.push(Evidence::new(
                &cfg,
                format!(
                    "GRUB 2 with BLS: {} entries in /boot/loader/entries",
                    bl.len()
                ),
            ));
            for (i, (id, e)) in bl.into_iter().enumerate() {
                if default.as_deref() == Some(id.as_str()) {
                    default_entry = Some(i);
                }
                entries.push(e);
            }
            if default_entry.is_none() && !entries.is_empty() {
                default_entry = match default.as_deref() {
                    Some(d) => d.parse::<usize>().ok().filter(|i| *i < entries.len()),
                    None => Some(0),
                };
            }
        }
        if entries.is_empty() {
            for (i, (idx, id, e)) in parsed.into_iter().enumerate() {
                if let Some(d) = default.as_deref() {
                    let top_of_sub = idx.split('>').next() == Some(d) && idx.ends_with(">0");
                    if default_entry.is_none()
                        && (idx == d || top_of_sub || id.as_deref() == Some(d) || e.title == d)
                    {
                        default_entry = Some(i);
                    }
                }
                entries.push(e);
            }
            ev.push(Evidence::new(
                &cfg,
                format!(
                    "GRUB 2: {} menu entries, default {:?}",
                    entries.len(),
                    default.as_deref().unwrap_or("?")
                ),
            ));
        }
        return Some(finish(BootloaderKind::Grub2, cfg, entries, default_entry));
    }
    None
}

fn finish(
    kind: BootloaderKind,
    config: String,
    entries: Vec<BootEntry>,
    default_entry: Option<usize>,
) -> Bootloader {
    let default_kernel_version = default_entry
        .and_then(|i| entries.get(i))
        .and_then(|e| e.kernel.as_deref())
        .and_then(version_from_kernel_path);
    Bootloader {
        kind,
        config,
        entries,
        default_entry,
        default_kernel_version,
    }
}

fn grub_legacy(guest: &Guest, ev: &mut Vec<Evidence>) -> Option<Bootloader> {
    for cfg in ["/boot/grub/menu.lst", "/boot/grub/grub.conf"] {
        let Some(text) = read(guest, cfg, ev) else {
            continue;
        };
        let mut default = 0usize;
        let mut entries: Vec<BootEntry> = Vec::new();
        for line in text.lines().take(100_000) {
            let t = line.trim();
            let mut kv = t.splitn(2, |c: char| c.is_whitespace() || c == '=');
            match (kv.next(), kv.next()) {
                (Some("default"), Some(v)) => default = v.trim().parse().unwrap_or(0),
                (Some("title"), Some(v)) if entries.len() < MAX_ENTRIES => {
                    entries.push(BootEntry {
                        title: v.trim().to_string(),
                        kernel: None,
                        cmdline: None,
                    })
                }
                (Some("kernel"), Some(v)) => {
                    if let Some(e) = entries.last_mut() {
                        let mut w = v.trim().splitn(2, char::is_whitespace);
                        e.kernel = w.next().map(str::to_string);
                        e.cmdline = w.next().map(|s| s.trim().to_string());
                    }
                }
                _ => {}
            }
        }
        ev.push(Evidence::new(
            cfg,
            format!("GRUB legacy: {} entries, default {default}", entries.len()),
        ));
        let d = (default < entries.len()).then_some(default);
        return Some(finish(
            BootloaderKind::GrubLegacy,
            cfg.to_string(),
            entries,
            d,
        ));
    }
    None
}

fn extlinux(guest: &Guest, ev: &mut Vec<Evidence>) -> Option<Bootloader> {
    for cfg in [
        "/boot/extlinux/extlinux.conf",
        "/boot/extlinux.conf",
        "/extlinux.conf",
        "/boot/syslinux/syslinux.cfg",
        "/boot/syslinux.cfg",
    ] {
        let Some(text) = read(guest, cfg, ev) else {
            continue;
        };
        let kind = if cfg.contains("syslinux") {
            BootloaderKind::Syslinux
        } else {
            BootloaderKind::Extlinux
        };
        let mut default = None;
        let mut entries: Vec<BootEntry> = Vec::new();
        for line in text.lines().take(100_000) {
            let mut kv = line.trim().splitn(2, char::is_whitespace);
            let key = kv.next().unwrap_or("").to_ascii_lowercase();
            let val = kv.next().unwrap_or("").trim().to_string();
            match key.as_str() {
                "default" => default = Some(val),
                "label" if entries.len() < MAX_ENTRIES => entries.push(BootEntry {
                    title: val,
                    kernel: None,
                    cmdline: None,
                }),
                "kernel" | "linux" => {
                    if let Some(e) = entries.last_mut() {
                        e.kernel = Some(val);
                    }
                }
                "append" => {
                    if let Some(e) = entries.last_mut() {
                        e.cmdline = Some(val);
                    }
                }
                _ => {}
            }
        }
        let d = match &default {
            Some(d) => entries.iter().position(|e| &e.title == d),
            None => (!entries.is_empty()).then_some(0),
        };
        ev.push(Evidence::new(
            cfg,
            format!("{kind:?}: {} entries, default {default:?}", entries.len()),
        ));
        return Some(finish(kind, cfg.to_string(), entries, d));
    }
    None
}

fn systemd_boot(guest: &Guest, ev: &mut Vec<Evidence>) -> Option<Bootloader> {
    for esp in ["/boot", "/boot/efi", "/efi"] {
        let cfg = format!("{esp}/loader/loader.conf");
        let Some(text) = read(guest, &cfg, ev) else {
            continue;
        };
        let default = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("default"))
            .map(|s| s.trim().to_string());
        let bl = bls_entries(guest, &format!("{esp}/loader/entries"), ev);
        let mut d = None;
        let mut entries = Vec::new();
        for (i, (id, e)) in bl.into_iter().enumerate() {
            let want = default.as_deref().map(|s| s.trim_end_matches(".conf"));
            if d.is_none()
                && want.is_some_and(|w| {
                    w == id
                        || w == "*"
                        || (w.ends_with('*') && id.starts_with(w.trim_end_matches('*')))
                })
            {
                d = Some(i);
            }
            entries.push(e);
        }
        if d.is_none() && !entries.is_empty() {
            d = Some(0);
        }
        ev.push(Evidence::new(
            &cfg,
            format!("systemd-boot: {} entries", entries.len()),
        ));
        return Some(finish(BootloaderKind::SystemdBoot, cfg, entries, d));
    }
    None
}

/// Find the bootloader configuration (GRUB 2 first, as most images use it).
pub fn detect(guest: &Guest, ev: &mut Vec<Evidence>) -> Option<Bootloader> {
    let found = grub2(guest, ev)
        .or_else(|| grub_legacy(guest, ev))
        .or_else(|| extlinux(guest, ev))
        .or_else(|| systemd_boot(guest, ev));
    if found.is_none() {
        ev.push(Evidence::new(
            "/boot",
            "no GRUB 2, GRUB legacy, extlinux/syslinux or systemd-boot config found",
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg() {
        let cfg = "set default=\"1>1\"\nmenuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-x' {\n\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro quiet\n}\nsubmenu 'Advanced' {\n\tmenuentry 'a' {\n\t\tlinux /boot/vmlinuz-6.1.0-18-amd64 ro\n\t}\n\tmenuentry 'b' {\n\t\tlinux /boot/vmlinuz-6.1.0-17-amd64 ro single\n\t}\n}\n";
        let (e, d, bls) = parse_grub_cfg(cfg);
        assert!(!bls);
        assert_eq!(d.as_deref(), Some("1>1"));
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].0, "0");
        assert_eq!(e[0].1.as_deref(), Some("gnulinux-simple-x"));
        assert_eq!(e[0].2.cmdline.as_deref(), Some("root=UUID=x ro quiet"));
        assert_eq!(e[2].0, "1>1");
        assert_eq!(
            e[2].2.kernel.as_deref(),
            Some("/boot/vmlinuz-6.1.0-17-amd64")
        );
    }
}
