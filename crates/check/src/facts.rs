//! From an inspection [`Report`] to the policy's [`GuestFacts`]: the only place the
//! inspector's vocabulary is translated into the rules' (R-PART, R-ERR, R-OS, R-ARCH,
//! R-VIRTIO, R-CLOUDINIT, R-KERNEL, R-NET).

use imgport_inspect::container::ContainerKind;
use imgport_inspect::fs::FsKind;
use imgport_inspect::inspector::DiskKind;
use imgport_inspect::linux::AddrMode;
use imgport_inspect::partition::TableKind;
use imgport_inspect::Report;
use imgport_policy::{DiskRole, GuestFacts, NicFacts, OsFacts, PartitionScheme, RootContainer};

/// The name of a filesystem kind as the report and the rules spell it (`ext4`, `ntfs`).
fn fs_name(k: FsKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{k:?}").to_ascii_lowercase())
}

/// What inspection's kind of disk is to the rules.
fn disk_role(k: DiskKind) -> DiskRole {
    match k {
        DiskKind::Os => DiskRole::Os,
        DiskKind::InstallIso => DiskRole::InstallIso,
        DiskKind::Encrypted => DiskRole::Encrypted,
        DiskKind::StorageSpaces => DiskRole::StorageSpaces,
        DiskKind::SoftwareRaid => DiskRole::SoftwareRaid,
        DiskKind::SwapOnly => DiskRole::SwapOnly,
        DiskKind::BootOnly => DiskRole::BootOnly,
        DiskKind::DataDisk => DiskRole::DataDisk,
        DiskKind::Empty => DiskRole::Empty,
        DiskKind::Blank => DiskRole::Blank,
        DiskKind::Truncated => DiskRole::Truncated,
        DiskKind::WrongFile => DiskRole::WrongFile,
        DiskKind::Unreadable => DiskRole::Unreadable,
    }
}

fn partition_scheme(k: TableKind) -> PartitionScheme {
    match k {
        TableKind::Mbr => PartitionScheme::Mbr,
        TableKind::Gpt => PartitionScheme::Gpt,
        TableKind::None => PartitionScheme::None,
    }
}

fn root_container(k: ContainerKind) -> RootContainer {
    match k {
        ContainerKind::Lvm => RootContainer::Lvm,
        ContainerKind::MdRaid => RootContainer::MdRaid,
        ContainerKind::StorageSpaces => RootContainer::StorageSpaces,
        ContainerKind::DynamicDisk => RootContainer::DynamicDisk,
    }
}

/// Translate `r`; `all_zero` comes from the disk core's measure (no guest range counts as data).
pub fn guest_facts(r: &Report, all_zero: bool) -> GuestFacts {
    let mut classification_evidence = vec![r.classification.reason.clone()];
    classification_evidence.extend(r.errors.iter().take(8).cloned());
    let os = r.os.as_ref().map(|o| OsFacts {
        os_type: imgport_policy::rules::OsType::from_name(&o.os_type),
        distro: o.distro.clone(),
        id_like: o.id_like.clone(),
        version: o.version.clone(),
        product_name: o.product_name.clone(),
        arch: o.arch.clone(),
    });
    let kernel_hints = r
        .kernels
        .iter()
        .filter_map(|k| {
            k.modified_hint
                .as_ref()
                .map(|h| format!("kernel {}: {h}", k.version))
        })
        .collect();
    let nics = r
        .linux
        .as_ref()
        .map(|l| {
            l.network
                .interfaces
                .iter()
                .map(|n| NicFacts {
                    name: n.name.clone(),
                    static_ip: n.mode == AddrMode::Static,
                    source: Some(n.source.clone()),
                })
                .collect()
        })
        .unwrap_or_default();
    GuestFacts {
        partition_table: Some(partition_scheme(r.partition_table)),
        partition_count: Some(r.partitions.iter().filter(|p| !p.is_extended()).count() as u32),
        hybrid_gpt: r.hybrid_mbr,
        lvm_present: !r.lvm.is_empty() || r.filesystems.iter().any(|f| f.kind == FsKind::LvmPv),
        dynamic_disk: r.dynamic_disk,
        filesystems: r
            .filesystems
            .iter()
            .filter(|f| f.kind != FsKind::Unknown)
            .map(|f| fs_name(f.kind))
            .collect(),
        all_zero,
        classification: Some(disk_role(r.classification.kind)),
        classification_evidence,
        os,
        root_fs: r.root.as_ref().map(|root| fs_name(root.filesystem)),
        root_container: r
            .root
            .as_ref()
            .and_then(|root| root.container.as_ref())
            .map(|c| root_container(c.kind)),
        root_container_evidence: r
            .root
            .as_ref()
            .and_then(|root| root.container.as_ref())
            .map(|c| c.evidence.clone())
            .unwrap_or_default(),
        virtio: r.virtio,
        virtio_missing: r.virtio_missing.clone(),
        virtio_evidence: r.virtio_evidence.clone(),
        cloud_init: r.cloud_init,
        cloud_init_evidence: r.cloud_init_evidence.clone(),
        kernel_hints,
        kernel_count: r.linux.as_ref().map(|_| r.kernels.len() as u32),
        initramfs_tool: r
            .linux
            .as_ref()
            .and_then(|l| l.initramfs_tool)
            .map(|t| t.name().to_string()),
        device_name_mounts: r
            .linux
            .as_ref()
            .map(|l| {
                l.device_name_mounts
                    .iter()
                    .map(|m| format!("{}: {} on {}", m.source, m.mountpoint, m.device))
                    .collect()
            })
            .unwrap_or_default(),
        nics,
        nic_renames: r
            .linux
            .as_ref()
            .map(|l| {
                l.network
                    .renames
                    .iter()
                    .filter(|n| n.breaks_eth0())
                    .map(|n| format!("{}: {} bound to {}", n.source, n.name, n.matched))
                    .collect()
            })
            .unwrap_or_default(),
        // Filled by the boot test, when asked for (issue 17).
        boot: None,
    }
}
