//! A Linux root inside a subvolume (btrfs) that is not the filesystem's default: Ubuntu's
//! installer puts the system in `@` (and `/home` in `@home`), Fedora's in `root` and
//! `home`, and both leave the default subvolume at the top level, which then holds
//! nothing but those subvolumes. The kernel is told which one is `/` by the boot
//! loader (`rootflags=subvol=@`), and fstab repeats it (`subvol=@` on the `/` line).
//!
//! [`find_root_subvolume`] follows those hints — boot-loader command lines in any
//! volume's GRUB / BLS configuration, then the subvolumes' own fstab — and else
//! searches the top-level subvolumes (at most [`MAX_CANDIDATES`]) for a root tree.

use super::fstab::parse_fstab;
use crate::fs::{FileSystem, FileType, Subvolume, SubvolumeRef};
use crate::guest::{normalize_path, Evidence};
use std::sync::Arc;

/// Most top-level subvolumes examined as root candidates.
pub const MAX_CANDIDATES: usize = 32;
/// Largest boot-loader or fstab file read.
const MAX_CONFIG: u64 = 4 * 1024 * 1024;
/// Most BLS entry files read per directory.
const MAX_ENTRY_FILES: usize = 64;
/// Most hints kept.
const MAX_HINTS: usize = 64;
/// GRUB configurations, on a root (`/boot/…`) or on a separate /boot (`/grub…`).
const GRUB_CONFIGS: &[&str] = &[
    "/boot/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/grub/grub.cfg",
    "/grub2/grub.cfg",
];
/// Boot Loader Specification entry directories (Fedora's grub2 `blscfg`, systemd-boot).
const BLS_DIRS: &[&str] = &["/boot/loader/entries", "/loader/entries"];

/// A `subvol=PATH` or `subvolid=ID` mount option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubvolSpec {
    Path(String),
    Id(u64),
}

impl SubvolSpec {
    /// Whether `s` is the subvolume this names (`subvol=/@` and `subvol=@` are the same).
    pub fn matches(&self, s: &Subvolume) -> bool {
        match self {
            SubvolSpec::Path(p) => normalize_path(p).trim_start_matches('/') == s.path,
            SubvolSpec::Id(id) => *id == s.id,
        }
    }

    /// As [`FileSystem::open_subvolume`] takes it.
    pub fn to_ref(&self) -> SubvolumeRef<'_> {
        match self {
            SubvolSpec::Path(p) => SubvolumeRef::Path(p),
            SubvolSpec::Id(id) => SubvolumeRef::Id(*id),
        }
    }
}

impl std::fmt::Display for SubvolSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubvolSpec::Path(p) => write!(f, "subvol={p}"),
            SubvolSpec::Id(id) => write!(f, "subvolid={id}"),
        }
    }
}

/// The subvolume named by mount options (`subvol=` wins over `subvolid=`, as the
/// kernel requires them to agree).
pub fn from_options<'a>(opts: impl IntoIterator<Item = &'a str>) -> Option<SubvolSpec> {
    let mut id = None;
    for o in opts {
        let o = o.trim();
        if let Some(p) = o.strip_prefix("subvol=") {
            if !p.is_empty() {
                return Some(SubvolSpec::Path(p.to_string()));
            }
        } else if let Some(n) = o.strip_prefix("subvolid=") {
            id = n.parse().ok().map(SubvolSpec::Id).or(id);
        }
    }
    id
}

/// `rootflags=` subvolume hints on kernel command lines in `text` (GRUB `linux` lines,
/// BLS `options` lines: any word `rootflags=a,b,…`).
fn cmdline_hints(text: &str) -> Vec<SubvolSpec> {
    text.lines()
        .take(200_000)
        .flat_map(str::split_whitespace)
        .filter_map(|w| {
            w.trim_matches(|c| c == '"' || c == '\'')
                .strip_prefix("rootflags=")
        })
        .filter_map(|flags| from_options(flags.split(',')))
        .take(MAX_HINTS)
        .collect()
}

fn read_text(fs: &dyn FileSystem, path: &str) -> Option<String> {
    fs.read_file(path, MAX_CONFIG)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Boot-loader `rootflags=subvol…` hints in `fs`'s GRUB and BLS configurations, each
/// with where it was read (`partition 1:@/boot/grub/grub.cfg`).
pub fn boot_hints(fs: &dyn FileSystem, at: &str) -> Vec<(SubvolSpec, String)> {
    let mut out = Vec::new();
    for cfg in GRUB_CONFIGS {
        if let Some(text) = read_text(fs, cfg) {
            out.extend(
                cmdline_hints(&text)
                    .into_iter()
                    .map(|h| (h, format!("{at}{cfg}"))),
            );
        }
    }
    for dir in BLS_DIRS {
        let Ok(entries) = fs.read_dir(dir) else {
            continue;
        };
        for e in entries
            .iter()
            .filter(|e| e.file_type == FileType::File && e.name.ends_with(".conf"))
            .take(MAX_ENTRY_FILES)
        {
            let path = format!("{dir}/{}", e.name);
            if let Some(text) = read_text(fs, &path) {
                out.extend(
                    cmdline_hints(&text)
                        .into_iter()
                        .map(|h| (h, format!("{at}{path}"))),
                );
            }
        }
    }
    out.truncate(MAX_HINTS);
    out
}

/// The `/` line of `fs`'s own /etc/fstab names subvolume `s`: (line, option).
fn fstab_confirms(fs: &dyn FileSystem, s: &Subvolume) -> Option<(usize, String)> {
    let text = read_text(fs, "/etc/fstab")?;
    parse_fstab(&text)
        .into_iter()
        .filter(|e| e.file == "/")
        .find_map(|e| {
            from_options(e.options.iter().map(String::as_str))
                .filter(|spec| spec.matches(s))
                .map(|spec| (e.line, spec.to_string()))
        })
}

/// What [`find_root_subvolume`] chose.
pub struct RootSubvolume {
    pub fs: Arc<dyn FileSystem>,
    pub subvolume: Subvolume,
    pub score: u32,
    /// Why it looks like a root (from the scorer).
    pub why: String,
}

/// The subvolume of `fs` (a filesystem whose default view is no root) that holds a
/// Linux root, as `score` judges one: the first named by a boot-loader hint
/// (`hints`, from other volumes, then the top-level subvolumes' own boot
/// configurations), else the best top-level subvolume — those whose fstab mounts
/// them at `/` first, then by score, then the oldest (lowest id). `vol` names the
/// volume in the evidence.
pub fn find_root_subvolume(
    fs: &Arc<dyn FileSystem>,
    vol: &str,
    hints: &[(SubvolSpec, String)],
    score: fn(&dyn FileSystem) -> Option<(u32, String)>,
    ev: &mut Vec<Evidence>,
) -> Option<RootSubvolume> {
    let subvolumes = match fs.subvolumes() {
        Ok(s) => s,
        Err(crate::Error::Unsupported(_)) => return None,
        Err(e) => {
            ev.push(Evidence::new(
                format!("{vol}:/"),
                format!("subvolumes not listed: {e}"),
            ));
            return None;
        }
    };
    if subvolumes.is_empty() {
        return None;
    }
    let top: Vec<&Subvolume> = subvolumes
        .iter()
        .filter(|s| !s.path.contains('/'))
        .take(MAX_CANDIDATES)
        .collect();
    let open = |s: &Subvolume| fs.open_subvolume(SubvolumeRef::Id(s.id)).ok();
    let opened: Vec<(&Subvolume, Arc<dyn FileSystem>)> = top
        .iter()
        .filter_map(|s| open(s).map(|f| (*s, f)))
        .collect();
    let mut all_hints: Vec<(SubvolSpec, String)> = hints.to_vec();
    for (s, f) in &opened {
        all_hints.extend(boot_hints(&**f, &format!("{vol}:{}", s.path)));
    }
    all_hints.truncate(MAX_HINTS);
    // 1. Boot-loader hints, in the order found.
    for (spec, source) in &all_hints {
        let Some(s) = subvolumes.iter().find(|s| spec.matches(s)) else {
            ev.push(Evidence::new(
                source.clone(),
                format!("rootflags={spec} names no subvolume of {vol}"),
            ));
            continue;
        };
        let Some(f) = open(s) else { continue };
        if let Some((sc, why)) = score(&*f) {
            ev.push(Evidence::new(
                format!("{vol}:{}", s.path),
                format!(
                    "btrfs subvolume {} (id {}) holds the root: the boot loader mounts it \
                     (rootflags={spec} in {source})",
                    s.path, s.id
                ),
            ));
            return Some(RootSubvolume {
                fs: f,
                subvolume: s.clone(),
                score: sc,
                why,
            });
        }
    }
    // 2. Search the top-level subvolumes; fstab's `/ … subvol=` line confirms one.
    /// (fstab confirms it, score, subvolume, its view, why, the confirming fstab line)
    type Candidate<'s> = (
        bool,
        u32,
        &'s Subvolume,
        Arc<dyn FileSystem>,
        String,
        Option<(usize, String)>,
    );
    let mut best: Option<Candidate<'_>> = None;
    for (s, f) in &opened {
        let Some((sc, why)) = score(&**f) else {
            continue;
        };
        let confirmed = fstab_confirms(&**f, s);
        let better = best.as_ref().is_none_or(|(c, b, bs, ..)| {
            (confirmed.is_some(), sc, std::cmp::Reverse(s.id)) > (*c, *b, std::cmp::Reverse(bs.id))
        });
        if better {
            best = Some((confirmed.is_some(), sc, s, Arc::clone(f), why, confirmed));
        }
    }
    let (_, sc, s, f, why, confirmed) = best?;
    let names: Vec<&str> = top.iter().map(|s| s.path.as_str()).collect();
    ev.push(Evidence::new(
        format!("{vol}:{}", s.path),
        format!(
            "btrfs subvolume {} (id {}) holds the root, found among the top-level subvolumes \
             ({}){}",
            s.path,
            s.id,
            names.join(", "),
            match confirmed {
                Some((line, opt)) => format!("; its /etc/fstab:{line} mounts / with {opt}"),
                None => "; no fstab or boot-loader line names it".to_string(),
            }
        ),
    ));
    Some(RootSubvolume {
        fs: f,
        subvolume: s.clone(),
        score: sc,
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_cmdlines() {
        assert_eq!(
            from_options(["rw", "subvol=@", "compress=zstd"]),
            Some(SubvolSpec::Path("@".into()))
        );
        assert_eq!(from_options(["subvolid=256"]), Some(SubvolSpec::Id(256)));
        assert_eq!(
            from_options(["subvolid=256", "subvol=/root"]),
            Some(SubvolSpec::Path("/root".into()))
        );
        assert_eq!(from_options(["defaults", "subvol="]), None);
        let cfg = "menuentry 'Ubuntu' {\n\tlinux /@/boot/vmlinuz-6.8.0 root=UUID=x ro rootflags=subvol=@ quiet\n}\n\
                   options root=UUID=x ro \"rootflags=compress=zstd,subvolid=257\"\n";
        assert_eq!(
            cmdline_hints(cfg),
            [SubvolSpec::Path("@".into()), SubvolSpec::Id(257)]
        );
        let s = Subvolume {
            id: 256,
            path: "@".into(),
        };
        assert!(SubvolSpec::Path("/@".into()).matches(&s));
        assert!(SubvolSpec::Path("@".into()).matches(&s));
        assert!(SubvolSpec::Id(256).matches(&s));
        assert!(!SubvolSpec::Path("@home".into()).matches(&s));
        assert_eq!(SubvolSpec::Path("@".into()).to_string(), "subvol=@");
    }
}
