//! What a disk is when no OS root was found (SPEC R-ERR: the known causes of
//! `RootPartitionNotFound` — an installation medium, a data disk, a boot partition
//! alone, a wrong file — and of `PartitionNotPresent`: nothing on the disk).
//!
//! The kinds are the vocabulary of the policy crate's `GuestFacts::classification`.

use super::Report;
use crate::fs::FsKind;
use crate::guest::Volume;
use imgport_disk::ReadAt;
use serde::Serialize;

/// Bytes at the start of a disk or volume checked for "nothing written here".
const BLANK_PROBE: u64 = 1 << 20;

/// What the disk is, as inspection concluded (serialised kebab-case: `install-iso`).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum DiskKind {
    /// A root was found.
    Os,
    /// An ISO 9660 filesystem: an installation or live medium.
    InstallIso,
    /// A LUKS or BitLocker volume, whose contents cannot be read.
    Encrypted,
    /// A Windows Storage Spaces pool, whose volumes cannot be read.
    StorageSpaces,
    /// A Linux md software RAID member, whose array cannot be read.
    SoftwareRaid,
    /// Swap space only.
    SwapOnly,
    /// A boot partition without a root filesystem.
    BootOnly,
    /// Filesystems without an operating system.
    DataDisk,
    /// Partitions without any content.
    Empty,
    /// No partition table, no filesystem, nothing in the first MiB.
    Blank,
    /// Partitions run past the end of the disk: an incomplete image.
    Truncated,
    /// Content not recognised as a disk at all.
    WrongFile,
    /// A filesystem or LVM layout that cannot be read, so nothing can be told.
    #[default]
    Unreadable,
}

impl DiskKind {
    /// The name the report and the policy facts use (`install-iso`).
    pub fn name(self) -> &'static str {
        match self {
            DiskKind::Os => "os",
            DiskKind::InstallIso => "install-iso",
            DiskKind::Encrypted => "encrypted",
            DiskKind::StorageSpaces => "storage-spaces",
            DiskKind::SoftwareRaid => "software-raid",
            DiskKind::SwapOnly => "swap-only",
            DiskKind::BootOnly => "boot-only",
            DiskKind::DataDisk => "data-disk",
            DiskKind::Empty => "empty",
            DiskKind::Blank => "blank",
            DiskKind::Truncated => "truncated",
            DiskKind::WrongFile => "wrong-file",
            DiskKind::Unreadable => "unreadable",
        }
    }
}

impl std::fmt::Display for DiskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The disk's role, with the reason.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Classification {
    pub kind: DiskKind,
    pub reason: String,
}

fn class(kind: DiskKind, reason: String) -> Classification {
    Classification { kind, reason }
}

fn kind_name(k: FsKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{k:?}"))
}

/// What classification reads beyond the report, gathered first so that
/// [`by_contents`] decides without I/O: the disk's first MiB, the first MiB of partitions without a
/// filesystem, and the readable volumes' top directories.
#[derive(Debug, Clone, Default)]
pub struct DiskReads {
    pub disk_size: u64,
    /// The disk's first MiB is all zeros (read only when no filesystem was found).
    pub starts_blank: bool,
    /// Partitions without a recognised filesystem, each with whether its first MiB is
    /// all zeros (read only when no filesystem was found).
    pub unknown_partitions: Vec<(String, bool)>,
    /// Logical volumes were opened.
    pub lvs_read: bool,
    /// Each readable volume's top directory: (volume, entry names).
    pub top_dirs: Vec<(String, Vec<String>)>,
}

/// Classify the disk described by `r` (its volumes opened as `volumes`).
pub fn classify(r: &Report, volumes: &[Volume], disk: &dyn ReadAt) -> Classification {
    let mut reads = DiskReads {
        disk_size: disk.size(),
        lvs_read: volumes.iter().any(|v| v.name.starts_with("lv ")),
        ..DiskReads::default()
    };
    if let Some(c) = by_report(r, &reads) {
        return c;
    }
    read_contents(r, volumes, disk, &mut reads);
    by_contents(r, &reads)
}

/// Read what [`by_contents`] needs: without any known filesystem, the first MiB of the
/// disk or of its partitions; else the top directory of each readable volume.
fn read_contents(r: &Report, volumes: &[Volume], disk: &dyn ReadAt, reads: &mut DiskReads) {
    if !known(r).is_empty() {
        reads.top_dirs = volumes
            .iter()
            .filter_map(|v| {
                let entries = v.fs.as_ref()?.read_dir("/").ok()?;
                Some((
                    v.name.clone(),
                    entries.into_iter().map(|e| e.name).collect(),
                ))
            })
            .collect();
    } else if r.partitions.is_empty() {
        reads.starts_blank = starts_blank(disk);
    } else {
        reads.unknown_partitions = volumes
            .iter()
            .filter(|v| v.probe.kind == FsKind::Unknown && v.name.starts_with("partition "))
            .map(|v| (v.name.clone(), volume_starts_blank(disk, v.offset, v.size)))
            .collect();
    }
}

/// The filesystems seen, but for unknown content and LVM physical volumes.
fn known(r: &Report) -> Vec<&super::FilesystemReport> {
    r.filesystems
        .iter()
        .filter(|f| !matches!(f.kind, FsKind::Unknown | FsKind::LvmPv))
        .collect()
}

/// What the report alone tells (a root, a medium, an encrypted or pooled volume, an
/// unreadable LVM, a cut-short image); `None` when the contents must be looked at.
fn by_report(r: &Report, reads: &DiskReads) -> Option<Classification> {
    if r.root.is_some() {
        return os_root(r);
    }
    let known = known(r);
    install_medium(&known)
        .or_else(|| encrypted(&known))
        .or_else(|| storage_pool(&known))
        .or_else(|| raid_member(&known))
        .or_else(|| unread_lvm(r, reads))
        .or_else(|| truncated(r, reads))
}

/// An OS root was found: the OS and where its root is.
fn os_root(r: &Report) -> Option<Classification> {
    let root = r.root.as_ref()?;
    let os =
        r.os.as_ref()
            .and_then(|o| o.product_name.clone().or(o.distro.clone()))
            .unwrap_or_else(|| "an operating system".into());
    Some(class(
        DiskKind::Os,
        format!(
            "{os} root on {} ({}{})",
            root.volume,
            kind_name(root.filesystem),
            root.subvolume
                .as_deref()
                .map(|s| format!(", subvolume {s}"))
                .unwrap_or_default()
        ),
    ))
}

/// An ISO 9660 filesystem: an installation or live medium.
fn install_medium(known: &[&super::FilesystemReport]) -> Option<Classification> {
    if let Some(f) = known.iter().find(|f| f.kind == FsKind::Iso9660) {
        return Some(class(
            DiskKind::InstallIso,
            format!(
                "{} holds an ISO 9660 filesystem{}: an installation or live medium, not an installed system",
                f.volume,
                f.label.as_deref().map(|l| format!(" labelled '{l}'")).unwrap_or_default()
            ),
        ));
    }
    None
}

/// A LUKS or BitLocker volume, whose contents cannot be inspected.
fn encrypted(known: &[&super::FilesystemReport]) -> Option<Classification> {
    if let Some(f) = known
        .iter()
        .find(|f| matches!(f.kind, FsKind::Luks | FsKind::Bitlocker))
    {
        let what = if f.kind == FsKind::Luks {
            "LUKS"
        } else {
            "BitLocker"
        };
        let others = if known.len() > 1 {
            format!(
                "; the other filesystems ({}) hold no OS root",
                list(known, Some(f.volume.as_str()))
            )
        } else {
            String::new()
        };
        return Some(class(
            DiskKind::Encrypted,
            format!(
                "{} is {what}-encrypted: its contents cannot be inspected{others}",
                f.volume
            ),
        ));
    }
    None
}

// Containers whose volumes cannot be read: what holds the volume is the finding
// (R-PART: Windows cannot be imported from a storage pool or software RAID).

/// Windows Storage Spaces pool members, whose volumes cannot be read.
fn storage_pool(known: &[&super::FilesystemReport]) -> Option<Classification> {
    let spaces: Vec<&str> = known
        .iter()
        .filter(|f| f.kind == FsKind::StorageSpaces)
        .map(|f| f.volume.as_str())
        .collect();
    if !spaces.is_empty() {
        return Some(class(
            DiskKind::StorageSpaces,
            format!(
                "{} holds a Windows Storage Spaces pool (SPACEDB header): the volumes in the \
                 pool cannot be read, and no root was found outside it",
                spaces.join(", ")
            ),
        ));
    }
    None
}

/// Linux md RAID members, whose array cannot be read.
fn raid_member(known: &[&super::FilesystemReport]) -> Option<Classification> {
    let raid: Vec<String> = known
        .iter()
        .filter(|f| f.kind == FsKind::LinuxRaidMember)
        .map(|f| {
            format!(
                "{}{}",
                f.volume,
                f.label
                    .as_deref()
                    .map(|l| format!(" (array \"{l}\")"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !raid.is_empty() {
        return Some(class(
            DiskKind::SoftwareRaid,
            format!(
                "{} holds a Linux md software RAID member (md superblock, magic a92b4efc): \
                 the array's volume cannot be read, and no root was found outside it",
                raid.join(", ")
            ),
        ));
    }
    None
}

/// LVM volume groups whose logical volumes could not be read.
fn unread_lvm(r: &Report, reads: &DiskReads) -> Option<Classification> {
    if !r.lvm.is_empty() && !reads.lvs_read {
        return Some(class(
            DiskKind::Unreadable,
            format!(
                "LVM volume group(s) {} whose logical volumes could not be read",
                r.lvm
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    None
}

/// Partitions that end past the end of the disk: the image was cut short (an
/// interrupted copy or upload), so the missing part may hold the root.
fn truncated(r: &Report, reads: &DiskReads) -> Option<Classification> {
    let cut: Vec<String> = r
        .partitions
        .iter()
        .filter(|p| !p.is_extended() && p.start.saturating_add(p.size) > reads.disk_size)
        .map(|p| {
            format!(
                "partition {} spans bytes {}..{} but the disk has {} bytes",
                p.number,
                p.start,
                p.start.saturating_add(p.size),
                reads.disk_size
            )
        })
        .collect();
    if !cut.is_empty() {
        return Some(class(
            DiskKind::Truncated,
            format!("the image is incomplete (cut short): {}", cut.join("; ")),
        ));
    }
    None
}

/// What the disk's contents tell, when the report alone did not ([`by_report`]).
fn by_contents(r: &Report, reads: &DiskReads) -> Classification {
    let known = known(r);
    if known.is_empty() {
        if r.partitions.is_empty() {
            return if reads.starts_blank {
                class(
                    DiskKind::Blank,
                    "no partition table and no filesystem; the first MiB of the disk is all zeros"
                        .into(),
                )
            } else {
                class(
                    DiskKind::WrongFile,
                    "no partition table and no recognisable filesystem or disk structure".into(),
                )
            };
        }
        if !reads.unknown_partitions.is_empty()
            && reads.unknown_partitions.iter().all(|(_, blank)| *blank)
        {
            return class(
                DiskKind::Empty,
                format!(
                    "{} partition(s), none with a filesystem (their first MiB is all zeros)",
                    r.partitions.len()
                ),
            );
        }
        return class(
            DiskKind::Unreadable,
            format!(
                "{} partition(s) with content we do not recognise as a filesystem",
                r.partitions.len()
            ),
        );
    }
    if known.iter().all(|f| f.kind == FsKind::Swap) {
        return class(
            DiskKind::SwapOnly,
            format!("only swap space ({})", list(&known, None)),
        );
    }
    let unreadable: Vec<_> = known
        .iter()
        .filter(|f| f.kind.is_readable() && !f.readable)
        .collect();
    for (volume, entries) in &reads.top_dirs {
        let boot_like = entries.iter().any(|e| {
            e.starts_with("vmlinuz")
                || e.starts_with("initrd")
                || e.starts_with("initramfs")
                || matches!(e.as_str(), "grub" | "grub2" | "loader" | "syslinux")
        });
        let root_like = entries.iter().any(|e| e == "etc" || e == "Windows");
        if boot_like && !root_like {
            if !unreadable.is_empty() {
                break;
            }
            let names: Vec<&str> = entries.iter().take(8).map(String::as_str).collect();
            return class(
                DiskKind::BootOnly,
                format!(
                    "{volume} holds a boot partition ({} …) but no root filesystem was found",
                    names.join(", ")
                ),
            );
        }
    }
    if !unreadable.is_empty() {
        return class(
            DiskKind::Unreadable,
            format!(
                "filesystem(s) that could not be read: {}",
                unreadable
                    .iter()
                    .map(|f| format!(
                        "{} on {} ({})",
                        kind_name(f.kind),
                        f.volume,
                        f.error.as_deref().unwrap_or("error")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
    class(
        DiskKind::DataDisk,
        format!(
            "filesystems ({}) but no operating system root (no /etc with /usr or /bin, no Windows/System32/config)",
            list(&known, None)
        ),
    )
}

fn list(fs: &[&super::FilesystemReport], except: Option<&str>) -> String {
    fs.iter()
        .filter(|f| Some(f.volume.as_str()) != except)
        .map(|f| format!("{} on {}", kind_name(f.kind), f.volume))
        .collect::<Vec<_>>()
        .join(", ")
}

fn starts_blank(disk: &dyn ReadAt) -> bool {
    volume_starts_blank(disk, 0, disk.size())
}

fn volume_starts_blank(disk: &dyn ReadAt, offset: u64, size: u64) -> bool {
    let end = disk.size().min(offset.saturating_add(size));
    let n = end.saturating_sub(offset).min(BLANK_PROBE) as usize;
    let mut buf = vec![0u8; n];
    disk.read_exact_at(&mut buf, offset).is_ok() && buf.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the disk is, from the report and [`DiskReads`], as [`classify`] decides it.
    fn judge(r: &Report, reads: &DiskReads) -> Classification {
        by_report(r, reads).unwrap_or_else(|| by_contents(r, reads))
    }
    use crate::inspector::FilesystemReport;

    fn fs(volume: &str, kind: FsKind, readable: bool) -> FilesystemReport {
        FilesystemReport {
            volume: volume.into(),
            offset: 0,
            size: 1 << 30,
            kind,
            uuid: None,
            label: None,
            readable,
            error: None,
        }
    }

    fn report(filesystems: Vec<FilesystemReport>) -> Report {
        Report {
            filesystems,
            ..Report::default()
        }
    }

    fn reads() -> DiskReads {
        DiskReads {
            disk_size: 8 << 30,
            ..DiskReads::default()
        }
    }

    #[test]
    fn nothing_on_the_disk_is_blank_or_a_wrong_file() {
        let blank = DiskReads {
            starts_blank: true,
            ..reads()
        };
        assert_eq!(judge(&report(vec![]), &blank).kind, DiskKind::Blank);
        assert_eq!(judge(&report(vec![]), &reads()).kind, DiskKind::WrongFile);
    }

    #[test]
    fn what_the_filesystems_are_names_the_disk() {
        let iso = report(vec![fs("whole disk", FsKind::Iso9660, true)]);
        assert_eq!(judge(&iso, &reads()).kind, DiskKind::InstallIso);
        let luks = report(vec![
            fs("partition 1", FsKind::Ext4, true),
            fs("partition 2", FsKind::Luks, false),
        ]);
        let c = judge(&luks, &reads());
        assert_eq!(c.kind, DiskKind::Encrypted);
        assert!(c.reason.contains("ext4 on partition 1"), "{}", c.reason);
        let swap = report(vec![fs("partition 1", FsKind::Swap, false)]);
        assert_eq!(judge(&swap, &reads()).kind, DiskKind::SwapOnly);
        let data = report(vec![fs("partition 1", FsKind::Xfs, true)]);
        assert_eq!(judge(&data, &reads()).kind, DiskKind::DataDisk);
    }

    #[test]
    fn a_boot_partition_alone_is_boot_only_unless_something_was_unreadable() {
        let r = report(vec![fs("partition 1", FsKind::Ext4, true)]);
        let boot = DiskReads {
            top_dirs: vec![(
                "partition 1".into(),
                vec!["grub".into(), "vmlinuz-6.1".into()],
            )],
            ..reads()
        };
        assert_eq!(judge(&r, &boot).kind, DiskKind::BootOnly);
        let mut r2 = r.clone();
        r2.filesystems.push(fs("partition 2", FsKind::Xfs, false));
        assert_eq!(judge(&r2, &boot).kind, DiskKind::Unreadable);
    }

    #[test]
    fn partitions_past_the_end_are_truncated() {
        let mut r = report(vec![fs("partition 1", FsKind::Ext4, true)]);
        r.partitions.push(crate::partition::Partition {
            number: 1,
            start: 1 << 20,
            size: 16 << 30,
            type_id: "0x83".into(),
            ..Default::default()
        });
        let c = judge(&r, &reads());
        assert_eq!(c.kind, DiskKind::Truncated);
        assert!(
            c.reason.contains("but the disk has 8589934592 bytes"),
            "{}",
            c.reason
        );
    }
}
