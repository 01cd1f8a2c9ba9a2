//! Finding the Linux root filesystem among an image's volumes and mounting the
//! rest as its `/etc/fstab` says (RootPartitionNotFound when none qualifies).
//!
//! Volume names are matched as the partition/LVM layers name them:
//! `"partition N"` (MBR/GPT number) and `"lv VG/LV"`.

use super::fstab::{parse_fstab, parse_spec, DeviceSpec, FstabEntry};
use super::subvolumes::{self, SubvolSpec};
use crate::fs::{FileSystem, FileType};
use crate::guest::{Evidence, Guest, SubtreeFs, Volume};
use std::sync::Arc;

/// Largest fstab read.
const MAX_FSTAB: u64 = 1024 * 1024;
/// Most OSTree deployments looked at.
const MAX_DEPLOYMENTS: usize = 64;

/// Filesystem types that are never on a volume of the image.
const PSEUDO_FS: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "devpts",
    "devtmpfs",
    "swap",
    "none",
    "nfs",
    "nfs4",
    "cifs",
    "smbfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "hugetlbfs",
    "mqueue",
    "fuse",
    "fuse.sshfs",
    "binfmt_misc",
    "efivarfs",
    "iso9660",
    "udf",
    "autofs",
    "rpc_pipefs",
    "configfs",
    "tracefs",
    "pstore",
    "bpf",
    "ramfs",
    "overlay",
];

fn lexists(fs: &dyn FileSystem, path: &str) -> bool {
    fs.metadata(path).is_ok()
}

fn is_dir(fs: &dyn FileSystem, path: &str) -> bool {
    matches!(fs.metadata(path), Ok(m) if m.file_type == FileType::Dir)
}

/// How much a filesystem looks like a Linux root (`None`: not at all).
fn root_score(fs: &dyn FileSystem) -> Option<(u32, String)> {
    // The lookups do not depend on each other: over a remote source each is a few
    // round trips, so they run at once (issue 16; in order where there are no threads).
    let (etc, usr_or_bin, fstab, init, os_release) = imgport_disk::par::scope(|s| {
        let etc = s.spawn(|| is_dir(fs, "/etc"));
        let usr_or_bin = s.spawn(|| lexists(fs, "/usr") || lexists(fs, "/bin"));
        let fstab = s.spawn(|| lexists(fs, "/etc/fstab"));
        let init = s.spawn(|| {
            [
                "/sbin/init",
                "/usr/sbin/init",
                "/lib/systemd/systemd",
                "/usr/lib/systemd/systemd",
            ]
            .iter()
            .any(|p| lexists(fs, p))
        });
        let os_release =
            s.spawn(|| lexists(fs, "/etc/os-release") || lexists(fs, "/usr/lib/os-release"));
        (
            etc.join(),
            usr_or_bin.join(),
            fstab.join(),
            init.join(),
            os_release.join(),
        )
    });
    if !etc || !(usr_or_bin || fstab && init) {
        return None;
    }
    let score = u32::from(os_release) * 4 + u32::from(fstab) * 2 + u32::from(init);
    let why = format!(
        "/etc present; /usr or /bin {}; /etc/fstab {}; init {}; os-release {}",
        yes(usr_or_bin),
        yes(fstab),
        if init {
            "yes"
        } else {
            "not on this filesystem (a separate /usr may hold it)"
        },
        yes(os_release)
    );
    Some((score, why))
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// An OSTree system (Fedora CoreOS, RHCOS): the root is a deployment directory
/// `/ostree/deploy/OS/deploy/CHECKSUM.N` of the physical root.
fn ostree_deployment(
    fs: &Arc<dyn FileSystem>,
    ev: &mut Vec<Evidence>,
    vol: &str,
) -> Option<Arc<dyn FileSystem>> {
    let oses = fs.read_dir("/ostree/deploy").ok()?;
    let mut deployments = Vec::new();
    for os in oses
        .iter()
        .filter(|e| e.file_type == FileType::Dir)
        .take(MAX_DEPLOYMENTS)
    {
        let dir = format!("/ostree/deploy/{}/deploy", os.name);
        if let Ok(entries) = fs.read_dir(&dir) {
            for e in entries
                .iter()
                .filter(|e| e.file_type == FileType::Dir)
                .take(MAX_DEPLOYMENTS)
            {
                deployments.push(format!("{dir}/{}", e.name));
            }
        }
    }
    deployments.sort();
    let chosen = deployments.first()?.clone();
    ev.push(Evidence::new(
        format!("{vol}:{chosen}"),
        format!(
            "OSTree deployment used as the root ({} found)",
            deployments.len()
        ),
    ));
    Some(Arc::new(SubtreeFs::new(Arc::clone(fs), &chosen)))
}

/// The Linux root [`find_root`] found.
pub struct LinuxRoot {
    /// Index of the volume holding it.
    pub index: usize,
    /// The guest tree: the root plus its fstab mounts.
    pub guest: Guest,
    /// The subvolume holding `/` (path from the top level, `@`), when the root is in
    /// one other than the top level.
    pub subvolume: Option<String>,
    pub evidence: Vec<Evidence>,
}

/// The volume holding the Linux root, the guest tree with fstab mounts, and why.
pub fn find_linux_root(volumes: &[Volume]) -> Option<(usize, Guest, Vec<Evidence>)> {
    find_root(volumes).map(|r| (r.index, r.guest, r.evidence))
}

/// The Linux root: the best-scoring volume (at its default subvolume, an OSTree
/// deployment in it, or a subvolume [`subvolumes::find_root_subvolume`] finds),
/// mounted with its fstab.
pub fn find_root(volumes: &[Volume]) -> Option<LinuxRoot> {
    let mut ev = Vec::new();
    /// (score, volume index, root view, its subvolume)
    type Candidate = (u32, usize, Arc<dyn FileSystem>, Option<String>);
    let mut best: Option<Candidate> = None;
    // Boot-loader `rootflags=subvol…` hints from every volume (a separate /boot),
    // gathered the first time a volume's default view is no root.
    let mut hints: Option<Vec<(SubvolSpec, String)>> = None;
    for (i, v) in volumes.iter().enumerate() {
        let Some(fs) = &v.fs else { continue };
        let mut fs = Arc::clone(fs);
        let mut subvolume = None;
        if !is_dir(&*fs, "/etc") && is_dir(&*fs, "/ostree/deploy") {
            match ostree_deployment(&fs, &mut ev, &v.name) {
                Some(d) => fs = d,
                None => continue,
            }
        }
        let mut scored = root_score(&*fs);
        if scored.is_none() {
            let hints = hints.get_or_insert_with(|| {
                volumes
                    .iter()
                    .filter_map(|v| v.fs.as_ref().map(|f| (v, f)))
                    .flat_map(|(v, f)| subvolumes::boot_hints(&**f, &format!("{}:", v.name)))
                    .collect()
            });
            if let Some(r) =
                subvolumes::find_root_subvolume(&fs, &v.name, hints, root_score, &mut ev)
            {
                fs = r.fs;
                subvolume = Some(r.subvolume.path);
                scored = Some((r.score, r.why));
            }
        }
        match scored {
            Some((score, why)) => {
                ev.push(Evidence::new(
                    format!("{}:/{}", v.name, subvolume.as_deref().unwrap_or_default()),
                    format!("root candidate (score {score}): {why}"),
                ));
                if best.as_ref().is_none_or(|(s, ..)| score > *s) {
                    best = Some((score, i, fs, subvolume));
                }
            }
            None => ev.push(Evidence::new(
                format!("{}:/", v.name),
                "not a Linux root: no /etc with /usr or /bin",
            )),
        }
    }
    let (_, root_idx, root_fs, mut subvolume) = best?;
    let root_name = volumes
        .get(root_idx)
        .map(|v| v.name.clone())
        .unwrap_or_default();
    // A root at the filesystem's default subvolume (openSUSE's snapshot): name it too.
    if subvolume.is_none() {
        if let Some(id) = root_fs
            .subvolume_id()
            .filter(|&id| id != TOP_LEVEL_SUBVOLUME)
        {
            subvolume = root_fs
                .subvolumes()
                .ok()
                .and_then(|l| l.into_iter().find(|s| s.id == id))
                .map(|s| s.path);
            if let Some(p) = &subvolume {
                ev.push(Evidence::new(
                    format!("{root_name}:{p}"),
                    format!("the root is the filesystem's default subvolume {p} (id {id})"),
                ));
            }
        }
    }
    ev.push(Evidence::new(
        format!("{root_name}:/"),
        "chosen as the root filesystem",
    ));
    let mut guest = Guest::new(root_fs);
    mount_fstab(&mut guest, volumes, root_idx, subvolume.as_deref(), &mut ev);
    mount_coreos_labels(&mut guest, volumes, root_idx, &mut ev);
    Some(LinuxRoot {
        index: root_idx,
        guest,
        subvolume,
        evidence: ev,
    })
}

/// btrfs's top-level subvolume id.
const TOP_LEVEL_SUBVOLUME: u64 = 5;

/// Which volume an fstab spec names, and how it matched.
pub fn match_volume(volumes: &[Volume], spec: &DeviceSpec) -> Option<(usize, String)> {
    let find = |pred: &dyn Fn(&Volume) -> bool| volumes.iter().position(pred);
    match spec {
        DeviceSpec::Uuid(u) => find(&|v| {
            v.probe
                .uuid
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(u))
        })
        .map(|i| (i, format!("filesystem UUID {u}"))),
        DeviceSpec::Label(l) => find(&|v| v.probe.label.as_deref() == Some(l.as_str()))
            .map(|i| (i, format!("filesystem label {l}"))),
        DeviceSpec::PartUuid(u) => {
            // MBR PARTUUIDs are DISKID-NN with NN the partition number in hex; the
            // disk id is not on the Volume, so only the number is matched.
            let (disk, n) = u.rsplit_once('-')?;
            if disk.len() != 8 || n.len() != 2 {
                return None;
            }
            let n = u32::from_str_radix(n, 16).ok()?;
            let name = format!("partition {n}");
            find(&|v| v.name == name)
                .map(|i| (i, format!("MBR PARTUUID {u} by partition number {n} only")))
        }
        DeviceSpec::Lvm { vg, lv } => {
            let name = format!("lv {vg}/{lv}");
            find(&|v| v.name == name).map(|i| (i, format!("LVM {vg}/{lv}")))
        }
        DeviceSpec::PartitionNumber(n) => {
            let name = format!("partition {n}");
            find(&|v| v.name == name).map(|i| {
                (
                    i,
                    format!("partition number {n} (device names are a last resort)"),
                )
            })
        }
        DeviceSpec::PartLabel(_) | DeviceSpec::Other(_) => None,
    }
}

fn mount_fstab(
    guest: &mut Guest,
    volumes: &[Volume],
    root_idx: usize,
    root_subvolume: Option<&str>,
    ev: &mut Vec<Evidence>,
) {
    let text = match guest.read_file("/etc/fstab", MAX_FSTAB) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            ev.push(Evidence::new("/etc/fstab", format!("not used: {e}")));
            return;
        }
    };
    let mut entries: Vec<FstabEntry> = parse_fstab(&text);
    entries.sort_by_key(|e| e.file.matches('/').count());
    for e in entries {
        let here = format!("/etc/fstab:{}", e.line);
        if e.file == "/" {
            let how = match_volume(volumes, &parse_spec(&e.spec));
            let what = match how {
                Some((i, how)) if i == root_idx => {
                    format!("root {} is the chosen root ({how})", e.spec)
                }
                Some((i, _)) => format!(
                    "root {} names {}, not the chosen root",
                    e.spec,
                    volumes.get(i).map(|v| v.name.as_str()).unwrap_or("?")
                ),
                None => format!("root {} matches no volume", e.spec),
            };
            ev.push(Evidence::new(here, what));
            continue;
        }
        if !e.file.starts_with('/')
            || PSEUDO_FS.contains(&e.vfstype.as_str())
            || e.options.iter().any(|o| o == "bind" || o == "noauto")
        {
            continue;
        }
        let spec = parse_spec(&e.spec);
        let Some((i, how)) = match_volume(volumes, &spec) else {
            ev.push(Evidence::new(
                here,
                format!("{} for {} matches no volume of the image", e.spec, e.file),
            ));
            continue;
        };
        let Some(vol) = volumes.get(i) else { continue };
        // A subvolume (`/home … subvol=@home`): mounted from the same filesystem.
        let subvol = subvolumes::from_options(e.options.iter().map(String::as_str));
        let is_root_subvol = |spec: &SubvolSpec| match (spec, root_subvolume) {
            (SubvolSpec::Path(p), Some(r)) => {
                crate::guest::normalize_path(p).trim_start_matches('/') == r
            }
            _ => false,
        };
        if let (Some(spec), Some(fs)) = (&subvol, &vol.fs) {
            if !(i == root_idx && is_root_subvol(spec)) {
                let mounted = fs
                    .open_subvolume(spec.to_ref())
                    .and_then(|sub| guest.mount(&e.file, sub, &vol.name));
                ev.push(Evidence::new(
                    here,
                    match mounted {
                        Ok(mp) => format!("mounted {} {spec} at {mp} ({how})", vol.name),
                        Err(err) => {
                            format!("cannot mount {} {spec} at {}: {err}", vol.name, e.file)
                        }
                    },
                ));
                continue;
            }
        }
        if i == root_idx {
            ev.push(Evidence::new(
                here,
                format!(
                    "{} is the root filesystem again (subvolume/bind); not mounted separately",
                    e.file
                ),
            ));
            continue;
        }
        let Some(fs) = &vol.fs else {
            ev.push(Evidence::new(
                here,
                format!(
                    "{} for {} is {} ({:?}), not readable",
                    e.spec, e.file, vol.name, vol.probe.kind
                ),
            ));
            continue;
        };
        match guest.mount(&e.file, Arc::clone(fs), &vol.name) {
            Ok(mp) => ev.push(Evidence::new(
                here,
                format!("mounted {} at {mp} ({how})", vol.name),
            )),
            Err(err) => ev.push(Evidence::new(
                here,
                format!("cannot mount {}: {err}", e.file),
            )),
        }
    }
}

/// Container-optimised systems mount by label without fstab lines: Fedora
/// CoreOS `boot` at `/boot`; Flatcar `USR-A` at `/usr` and `EFI-SYSTEM` at `/boot`.
fn mount_coreos_labels(
    guest: &mut Guest,
    volumes: &[Volume],
    root_idx: usize,
    ev: &mut Vec<Evidence>,
) {
    for (label, mp) in [
        ("boot", "/boot"),
        ("USR-A", "/usr"),
        ("EFI-SYSTEM", "/boot"),
    ] {
        if guest.mounts().iter().any(|m| m.mountpoint == mp) {
            continue;
        }
        let empty = guest.read_dir(mp).map(|e| e.is_empty()).unwrap_or(true);
        if !empty {
            continue;
        }
        let found = volumes.iter().enumerate().find(|(i, v)| {
            *i != root_idx && v.probe.label.as_deref() == Some(label) && v.fs.is_some()
        });
        if let Some((_, v)) = found {
            if let Some(fs) = &v.fs {
                if guest.mount(mp, Arc::clone(fs), &v.name).is_ok() {
                    ev.push(Evidence::new(
                        format!("{}:/", v.name),
                        format!("label {label} mounted at {mp} (CoreOS-style, no fstab line)"),
                    ));
                }
            }
        }
    }
}
