//! What [`crate::decide()`] decides on: plain data the CLI and the service fill from the disk
//! core (format facts), inspection (guest facts) and the import form.
//!
//! `None` / empty means "not established", never "absent": the policy reports a warning
//! for an unknown fact instead of failing the import (see `RULES[..].when_unknown`).

use crate::rules::OsType;
use serde::{Deserialize, Serialize};

/// Enums of this module spelled as their serde names (`"install-iso"`), for `FromStr`.
macro_rules! named {
    ($t:ident { $($v:ident => $n:literal,)* }) => {
        impl $t {
            /// The name facts and reports use.
            pub fn name(self) -> &'static str {
                match self { $($t::$v => $n,)* }
            }
            /// Every value.
            pub const ALL: &'static [$t] = &[$($t::$v,)*];
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let s = s.trim().to_ascii_lowercase();
                $t::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| format!("not a {}: {s}", stringify!($t)))
            }
        }
    };
}

/// What the disk is (R-ERR, R-PART), as inspection concluded; `check` maps inspection's
/// kind onto it, and names a file that is no disk image at all (`Archive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskRole {
    /// An OS root was found.
    Os,
    /// An installation or live medium (ISO 9660).
    InstallIso,
    /// A file archive or package uploaded as a disk image.
    Archive,
    /// An encrypted volume (LUKS, BitLocker) that cannot be read.
    Encrypted,
    /// A Windows Storage Spaces pool member.
    StorageSpaces,
    /// A Linux md software RAID member.
    SoftwareRaid,
    /// Swap space only.
    SwapOnly,
    /// A boot partition without a root filesystem.
    BootOnly,
    /// Filesystems without an operating system.
    DataDisk,
    /// Partitions without any filesystem.
    Empty,
    /// No partition table, no filesystem, nothing written at the start.
    Blank,
    /// Partitions run past the end of the disk: an incomplete image.
    Truncated,
    /// Content not recognised as a disk.
    WrongFile,
    /// A filesystem or layout that could not be read: nothing can be told.
    Unreadable,
}

named!(DiskRole {
    Os => "os",
    InstallIso => "install-iso",
    Archive => "archive",
    Encrypted => "encrypted",
    StorageSpaces => "storage-spaces",
    SoftwareRaid => "software-raid",
    SwapOnly => "swap-only",
    BootOnly => "boot-only",
    DataDisk => "data-disk",
    Empty => "empty",
    Blank => "blank",
    Truncated => "truncated",
    WrongFile => "wrong-file",
    Unreadable => "unreadable",
});

impl DiskRole {
    /// A file that is no disk image but was uploaded as one: its missing partition table is
    /// not the finding, what it is is (R-ERR names it).
    pub fn is_mistaken_upload(self) -> bool {
        matches!(
            self,
            DiskRole::InstallIso | DiskRole::Archive | DiskRole::Encrypted
        )
    }

    /// What the disk is when this role means "no OS root here" (RootPartitionNotFound);
    /// `None` for a root found (`Os`) or a role that tells nothing (`Blank`, `Unreadable`,
    /// `Truncated`, which R-PART reports).
    pub fn without_root(self) -> Option<&'static str> {
        Some(match self {
            DiskRole::InstallIso => "an installation medium (install ISO), not a system disk",
            DiskRole::Archive => "an archive or installation package, not a disk image",
            DiskRole::DataDisk => "a data disk: filesystems without an operating system",
            DiskRole::BootOnly => "a boot partition only (/boot without the root filesystem)",
            DiskRole::SwapOnly => "swap space only",
            DiskRole::Encrypted => "an encrypted root filesystem that cannot be read",
            DiskRole::StorageSpaces => {
                "a Windows Storage Spaces pool, whose volumes cannot be read or started from \
                 (R-PART: Windows must be on a basic MBR disk)"
            }
            DiskRole::SoftwareRaid => {
                "a Linux md software RAID member, whose volume cannot be read or started from \
                 (R-PART: no software RAID holding the system or boot volume)"
            }
            DiskRole::Empty => "partitions without any filesystem",
            DiskRole::WrongFile => "not a system disk image",
            DiskRole::Os | DiskRole::Blank | DiskRole::Truncated | DiskRole::Unreadable => {
                return None
            }
        })
    }
}

/// The partition table (R-PART: MBR only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionScheme {
    Mbr,
    Gpt,
    /// No partition table (a filesystem on the whole disk, or nothing).
    None,
}

named!(PartitionScheme {
    Mbr => "mbr",
    Gpt => "gpt",
    None => "none",
});

/// What holds the root volume when it is not a plain partition (R-PART for Windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootContainer {
    Lvm,
    MdRaid,
    StorageSpaces,
    DynamicDisk,
}

named!(RootContainer {
    Lvm => "lvm",
    MdRaid => "md-raid",
    StorageSpaces => "storage-spaces",
    DynamicDisk => "dynamic-disk",
});

/// Facts about the image file (disk core: detection, safety checks, measurement).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FormatFacts {
    /// The detected format by its `qemu-img` name (`raw`, `qcow2`, `vpc`/`vhd`, `vmdk`,
    /// `vhdx`, `vdi`, `iso` …).
    pub detected_format: Option<String>,
    /// The disk core can read this image (format and variant supported, checks passed).
    pub supported: bool,
    /// The disk core's refusal (unsupported, corrupt or unsafe image), as its error message.
    pub refusal: Option<String>,
    /// Virtual disk size in bytes (R-SIZE-VIRTUAL).
    pub virtual_size: Option<u64>,
    /// Size once converted to qcow2: `imgport measure`'s `required` (R-SIZE-ACTUAL).
    pub qcow2_required: Option<u64>,
    /// `qcow2_required` is only an upper bound: the image maps guest bytes straight onto
    /// the file (raw, fixed VHD) and the file's holes could not be seen (read over
    /// HTTP), so its zero regions were counted as data.
    pub qcow2_required_counts_zeros: bool,
    /// Size of the image file itself.
    pub file_size: Option<u64>,
}

impl FormatFacts {
    /// A readable image of `format` with its measured sizes.
    pub fn readable(format: &str, virtual_size: u64, qcow2_required: u64) -> FormatFacts {
        FormatFacts {
            detected_format: Some(format.to_string()),
            supported: true,
            refusal: None,
            virtual_size: Some(virtual_size),
            qcow2_required: Some(qcow2_required),
            qcow2_required_counts_zeros: false,
            file_size: None,
        }
    }

    /// An image the disk core refused, with its message.
    pub fn refused(detected_format: Option<&str>, message: &str) -> FormatFacts {
        FormatFacts {
            detected_format: detected_format.map(str::to_string),
            supported: false,
            refusal: Some(message.to_string()),
            ..FormatFacts::default()
        }
    }
}

/// [`OsFacts::os_type`] as inspection spells it (`"linux"`, `"windows"`, `""` unknown).
mod os_type_name {
    use crate::rules::OsType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<OsType>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.map_or("", OsType::name))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OsType>, D::Error> {
        Ok(OsType::from_name(&String::deserialize(d)?))
    }
}

/// The operating system found on the root filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OsFacts {
    /// Linux or Windows (`"linux"`, `"windows"` in JSON); `None` when inspection could not
    /// tell (a Linux root is still recognised by its distribution).
    #[serde(with = "os_type_name")]
    pub os_type: Option<OsType>,
    /// Linux: os-release `ID` (`centos`, `ubuntu`, `sles` …).
    pub distro: Option<String>,
    /// Linux: os-release `ID_LIKE` words.
    pub id_like: Vec<String>,
    /// Linux: `VERSION_ID` (`7`, `16.04`); Windows: `CurrentVersion`/build, informative.
    pub version: Option<String>,
    /// `PRETTY_NAME`, or Windows `ProductName` (`Windows Server 2008 R2 Enterprise`).
    pub product_name: Option<String>,
    /// Userland architecture (`x86_64`, `i686`, `aarch64` …).
    pub arch: Option<String>,
}

/// One configured network interface (R-NET).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NicFacts {
    /// Interface name as configured (`eth0`, `ens3`); Windows: connection name.
    pub name: String,
    /// Configured with a static address rather than DHCP.
    pub static_ip: bool,
    /// Where the configuration was read (`/etc/sysconfig/network-scripts/ifcfg-eth0`).
    pub source: Option<String>,
}

/// Facts established by inspecting the guest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuestFacts {
    /// The partition table; `None` when not read.
    pub partition_table: Option<PartitionScheme>,
    /// Number of partitions in the table, when read.
    pub partition_count: Option<u32>,
    /// A GPT whose protective MBR also holds real partitions (hybrid MBR).
    pub hybrid_gpt: bool,
    /// LVM2 physical volumes seen.
    pub lvm_present: bool,
    /// A Windows dynamic disk (LDM) seen.
    pub dynamic_disk: bool,
    /// Filesystems seen (`ext4`, `xfs`, `ntfs`, `swap`, `luks` …), on partitions or the
    /// whole disk.
    pub filesystems: Vec<String>,
    /// Every byte of the virtual disk reads as zero.
    pub all_zero: bool,
    /// Inspection's conclusion about what the disk is (`Os` when a root was found).
    pub classification: Option<DiskRole>,
    /// Why inspection concluded that (what it read, where).
    pub classification_evidence: Vec<String>,
    /// The OS on the root filesystem.
    pub os: Option<OsFacts>,
    /// Filesystem of the root (`ext4`, `ntfs` …).
    pub root_fs: Option<String>,
    /// What holds the root volume when it is not a plain partition (R-PART: none of them
    /// for Windows); `None` for a plain partition or when not established.
    pub root_container: Option<RootContainer>,
    /// Where that was seen (`the root is LVM logical volume vg/win, in volume group vg
    /// on partition 2 (type 0x8e Linux LVM)`).
    pub root_container_evidence: Vec<String>,
    /// virtio block + net available at boot (Linux: kernel config / initramfs; Windows:
    /// viostor + netkvm); `None` when it could not be established.
    pub virtio: Option<bool>,
    /// The virtio drivers found missing (`virtio_blk`, `viostor` …).
    pub virtio_missing: Vec<String>,
    pub virtio_evidence: Vec<String>,
    /// cloud-init (Linux) / cloudbase-init (Windows) installed; `None` when unknown.
    pub cloud_init: Option<bool>,
    pub cloud_init_evidence: Vec<String>,
    /// Signs of a modified (non-distribution) kernel, each with where it was seen.
    pub kernel_hints: Vec<String>,
    /// Linux: how many kernels were found (`/boot/vmlinuz-*`, `/lib/modules/*`); `Some(0)`
    /// means the image has none and cannot boot by itself (R-KERNEL). `None`: not told.
    pub kernel_count: Option<u32>,
    /// Linux: the initramfs generator installed (`dracut`, `initramfs-tools`,
    /// `mkinitrd`), so that the R-VIRTIO fix names the right commands.
    pub initramfs_tool: Option<String>,
    /// Linux: filesystems (fstab) or the kernel's `root=` named by a non-virtio disk
    /// name (`/etc/fstab:1: / on /dev/sda5`); on a virtio disk they are `/dev/vd*`
    /// (R-VIRTIO, a warning).
    pub device_name_mounts: Vec<String>,
    /// Network interfaces configured in the guest (loopback excluded or ignored).
    pub nics: Vec<NicFacts>,
    /// Linux: rules that name the NIC by its MAC address or give it a name other than
    /// `eth0` (udev persistent-net rules, systemd `.link` files, netplan `set-name`),
    /// each with where it was read: the instance's NIC (a new MAC) would not be `eth0`
    /// (R-NET, a warning).
    pub nic_renames: Vec<String>,
    /// The boot test's result (`imgport boot-test`, `check --boot`, `BootTest=true`);
    /// `None` when no boot test was asked for (R-BOOT, issue 17).
    pub boot: Option<crate::boot::BootFacts>,
}

/// The import form (R-FLOW-FORM) and where the request comes from (R-REGION).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportForm {
    /// `OsType` as declared (`CentOS`, `Windows Server 2012`).
    pub os_type: Option<String>,
    /// `OsVersion` as declared (`7`, `-`).
    pub os_version: Option<String>,
    /// `Architecture` as declared (`x86_64`, `i386`).
    pub architecture: Option<String>,
    /// `Force`: waive R-VIRTIO and R-CLOUDINIT.
    pub force: bool,
    /// The region the import runs in (`ap-shanghai-fsi`).
    pub region: Option<String>,
    /// The region of the object storage the image URL points to.
    pub source_region: Option<String>,
}
