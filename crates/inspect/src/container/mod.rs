//! What holds a volume when it is not a plain partition: LVM logical volumes, Linux md
//! software RAID, Windows Storage Spaces and dynamic disks (LDM). SPEC R-PART: Windows
//! must be on a basic MBR disk with NTFS — no LVM, dynamic disk, Storage Spaces or
//! software RAID holding the system or boot volume.
//!
//! [`md`] and [`spaces`] recognise the two on-disk signatures the other layers do not
//! read (the md superblock, the Storage Spaces `SPACEDB` header); the inspector names
//! the container of the root volume ([`Container`]) from them, the partition type and
//! the LVM layer.

pub mod md;
pub mod spaces;

use serde::Serialize;

/// The kind of container a volume sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerKind {
    /// An LVM2 logical volume.
    Lvm,
    /// A Linux md software RAID member.
    MdRaid,
    /// A Windows Storage Spaces pool.
    StorageSpaces,
    /// A Windows dynamic disk (LDM).
    DynamicDisk,
}

impl ContainerKind {
    /// The name the policy facts use (`lvm`, `md-raid`, `storage-spaces`, `dynamic-disk`).
    pub fn name(self) -> &'static str {
        match self {
            ContainerKind::Lvm => "lvm",
            ContainerKind::MdRaid => "md-raid",
            ContainerKind::StorageSpaces => "storage-spaces",
            ContainerKind::DynamicDisk => "dynamic-disk",
        }
    }
}

/// What holds a volume, and what showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    pub kind: ContainerKind,
    /// In words, with where it was read (`lv vg0/win on partition 2 (type 0x8e Linux LVM)`).
    pub evidence: Vec<String>,
}
