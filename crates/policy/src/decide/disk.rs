//! R-PART and R-ERR: the partition table, what the disk is, and where Windows lives.

use super::*;

/// The disk holds no partition information to search for a root at all (R-PART's error
/// says so; R-ERR has nothing to look at): all zeros, cut short, neither table nor
/// filesystem (and not a file R-ERR names), or a dynamic disk.
pub(super) fn nothing_to_search(g: &GuestFacts) -> bool {
    g.all_zero
        || g.classification == Some(DiskRole::Truncated)
        || g.dynamic_disk
        || (g.partition_table == Some(PartitionScheme::None)
            && g.filesystems.is_empty()
            && !g.classification.is_some_and(DiskRole::is_mistaken_upload))
}

/// R-PART: an MBR partition table, on a basic disk, holding the whole disk.
pub(super) fn check_partitions(cx: &mut Cx, g: &GuestFacts, format: &FormatFacts) {
    cx.check(RuleId::Partitions);
    if g.all_zero {
        cx.fail(
            Code::PartitionNotPresent,
            RuleId::Partitions,
            "every byte of the disk is zero: no partition table and no filesystem; the image \
             is incomplete"
                .into(),
            vec!["all sectors read as zero".into()],
            fixes::no_partitions(),
        );
        return;
    }
    if g.classification == Some(DiskRole::Truncated) {
        cx.fail(
            Code::PartitionNotPresent,
            RuleId::Partitions,
            "the image is incomplete: its partitions run past the end of the disk, so the \
             partition contents are missing"
                .into(),
            g.classification_evidence.clone(),
            fixes::truncated(),
        );
        return;
    }
    match g.partition_table {
        Some(PartitionScheme::Mbr) => {}
        Some(PartitionScheme::Gpt) => {
            let mut evidence = vec![format!(
                "partition table: GPT{}",
                if g.hybrid_gpt {
                    " with a hybrid MBR"
                } else {
                    ""
                }
            )];
            if let Some(n) = g.partition_count {
                evidence.push(format!("partitions: {n}"));
            }
            cx.fail(
                Code::PartitionNotPresent,
                RuleId::Partitions,
                "the disk uses a GPT partition table; GPT is not supported, only MBR".into(),
                evidence,
                fixes::gpt(g.hybrid_gpt, format.virtual_size, g.partition_count),
            );
        }
        Some(PartitionScheme::None) => {
            if g.classification.is_some_and(DiskRole::is_mistaken_upload) {
                // Not a disk at all (an installer ISO, an archive, an encrypted
                // container): the root check names it (RootPartitionNotFound, R-ERR).
            } else if g.filesystems.is_empty() {
                cx.fail(
                    Code::PartitionNotPresent,
                    RuleId::Partitions,
                    "no partition table and no filesystem found: the image is incomplete; was \
                     the boot partition included?"
                        .into(),
                    vec!["partition table: none".into(), "filesystems: none".into()],
                    fixes::no_partitions(),
                );
            } else if g.classification == Some(DiskRole::Os) {
                // A system in a bare filesystem is a partition image, not a disk image:
                // no partition table and no boot sector to start it from — the seed's
                // "the image is incomplete; was the boot partition included?" (R-PART).
                cx.fail(
                    Code::PartitionNotPresent,
                    RuleId::Partitions,
                    format!(
                        "no partition table: the system's root filesystem ({}) spans the whole \
                         disk, so this is an image of one partition, not of the disk; there \
                         is no partition table or boot sector to start it from",
                        list(&g.filesystems)
                    ),
                    vec![
                        "partition table: none".into(),
                        format!("filesystem on the whole disk: {}", list(&g.filesystems)),
                    ],
                    fixes::no_partitions(),
                );
            } else {
                // No OS either: the root check names what the disk is (data disk …).
                cx.warn(
                    RuleId::Partitions,
                    format!(
                        "no partition table: a filesystem ({}) spans the whole disk, so there \
                         is no boot sector; the import expects an MBR-partitioned system disk",
                        list(&g.filesystems)
                    ),
                    vec!["partition table: none".into()],
                    fixes::no_partitions(),
                );
            }
        }
        None => cx.warn(
            RuleId::Partitions,
            "the partition table was not read; it must be MBR".into(),
            vec![],
            vec!["Check it with `fdisk -l` on a raw copy of the image".into()],
        ),
    }
    if g.dynamic_disk {
        cx.fail(
            Code::RootPartitionNotFound,
            RuleId::Partitions,
            "the disk is a Windows dynamic disk (LDM): only basic MBR disks are supported, no \
             logical volume management"
                .into(),
            vec!["LDM (dynamic disk) metadata found".into()],
            fixes::no_root(NoRoot::WindowsIn(RootContainer::DynamicDisk)),
        );
    }
}

/// R-ERR (RootPartitionNotFound) and Windows-on-NTFS (R-PART).
pub(super) fn check_root(cx: &mut Cx, g: &GuestFacts, os: Option<&OsFacts>) {
    cx.check(RuleId::RootPartition);
    let evidence = || g.classification_evidence.clone();
    if let Some(role) = g.classification {
        if let Some(what) = role.without_root() {
            cx.fail(
                Code::RootPartitionNotFound,
                RuleId::RootPartition,
                format!("no root partition found: the image is {what}"),
                evidence(),
                fixes::no_root(NoRoot::Disk(role)),
            );
            return;
        }
        if role != DiskRole::Os && os.is_none() {
            cx.warn(
                RuleId::RootPartition,
                format!(
                    "could not establish whether the image has a root partition ({role}); the \
                     import may fail with RootPartitionNotFound"
                ),
                evidence(),
                fixes::no_root(NoRoot::Unknown),
            );
            return;
        }
    }
    let Some(os) = os else {
        cx.warn(
            RuleId::RootPartition,
            "no operating system was identified on any filesystem; the import may fail with \
             RootPartitionNotFound"
                .into(),
            evidence(),
            fixes::no_root(NoRoot::Unknown),
        );
        return;
    };
    if is_windows(os) {
        check_windows_container(cx, g);
        if let Some(fs) = nonempty(&g.root_fs) {
            if !fs.eq_ignore_ascii_case("ntfs") {
                cx.fail(
                    Code::RootPartitionNotFound,
                    RuleId::Partitions,
                    format!(
                        "Windows is installed on {}, not NTFS: only NTFS is supported",
                        clip(fs)
                    ),
                    vec![format!("Windows root filesystem: {}", clip(fs))],
                    fixes::no_root(NoRoot::WindowsNotNtfs),
                );
            }
        }
    }
}

/// R-PART, Windows: the system volume (C:, `Windows/System32/config`) must be an NTFS
/// partition of a basic MBR disk — not in LVM, software RAID, Storage Spaces or a
/// dynamic disk, which Windows cannot start from on the instance's single virtio disk.
pub(super) fn check_windows_container(cx: &mut Cx, g: &GuestFacts) {
    let Some(kind) = g.root_container else {
        return;
    };
    // The dynamic disk itself is R-PART's structural finding already.
    if kind == RootContainer::DynamicDisk && g.dynamic_disk {
        return;
    }
    let what = match kind {
        RootContainer::Lvm => "an LVM logical volume",
        RootContainer::MdRaid => "a Linux md software RAID array",
        RootContainer::StorageSpaces => "a Storage Spaces pool",
        RootContainer::DynamicDisk => "a dynamic disk (LDM) volume",
    };
    let mut evidence = g.root_container_evidence.clone();
    if evidence.is_empty() {
        evidence.push(format!("root volume container: {kind}"));
    }
    cx.fail(
        Code::RootPartitionNotFound,
        RuleId::Partitions,
        format!(
            "Windows is installed in {what}, not on a partition: the system volume must be an \
             NTFS partition of a basic MBR disk — no LVM, dynamic disks, Storage Spaces or \
             software RAID"
        ),
        evidence,
        fixes::no_root(NoRoot::WindowsIn(kind)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(table: PartitionScheme, role: DiskRole, fs: &[&str]) -> GuestFacts {
        GuestFacts {
            partition_table: Some(table),
            classification: Some(role),
            filesystems: fs.iter().map(|f| f.to_string()).collect(),
            ..GuestFacts::default()
        }
    }

    #[test]
    fn a_root_is_searched_for_wherever_there_is_something_to_search() {
        use DiskRole::*;
        use PartitionScheme::{Gpt, Mbr, None as NoTable};
        assert!(!nothing_to_search(&disk(Mbr, Os, &["ext4"])));
        assert!(!nothing_to_search(&disk(Gpt, DataDisk, &["xfs"])));
        // A bare filesystem: R-PART fails it, R-ERR still says what it is.
        assert!(!nothing_to_search(&disk(NoTable, DataDisk, &["ext4"])));
        // A file that is no disk: R-ERR names it.
        assert!(!nothing_to_search(&disk(NoTable, InstallIso, &[])));
        assert!(!nothing_to_search(&disk(NoTable, Archive, &[])));
        // Nothing at all, cut short, all zeros, a dynamic disk: R-PART's error only.
        assert!(nothing_to_search(&disk(NoTable, Blank, &[])));
        assert!(nothing_to_search(&disk(Mbr, Truncated, &["ext4"])));
        let mut zero = disk(Mbr, Empty, &[]);
        zero.all_zero = true;
        assert!(nothing_to_search(&zero));
        let mut ldm = disk(Mbr, Os, &["ntfs"]);
        ldm.dynamic_disk = true;
        assert!(nothing_to_search(&ldm));
    }
}
