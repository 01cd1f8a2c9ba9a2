//! The import rules (`SPEC.md`, R-…) as data, and a pure [`decide()`].
//!
//! Input: [`FormatFacts`] (disk core), [`GuestFacts`] (inspection) and the [`ImportForm`];
//! output: a [`Verdict`] with the error codes the import service would report, in pipeline
//! order, and findings with rule id, evidence and concrete fixes. No I/O; the crate depends
//! on no other imgport crate, so the CLI and the service fill the facts themselves.
//!
//! The rules ([`rules::RULES`]) and their codes:
//!
//! | rule | code | error when | unknown fact |
//! |---|---|---|---|
//! | R-REGION | `InvalidUrl` | the URL's storage region differs from the import region (finance regions `ap-shanghai-fsi`, `ap-shenzhen-fsi` named as such) | not checked |
//! | R-FMT | `InvalidFormatSize` | format not raw/qcow2/vhd/vmdk; image refused (corrupt, unsafe, unreadable variant) | warning |
//! | R-SIZE-ACTUAL | `InvalidFormatSize` | size as qcow2 (`imgport measure` `required`) > 50 GiB | warning |
//! | R-SIZE-VIRTUAL | `InvalidFormatSize` | virtual size > 500 GiB | warning |
//! | R-PART | `PartitionNotPresent` | all-zero disk; no partition table and no filesystem; a system in a bare filesystem (no partition table, no boot sector); GPT (also hybrid) | warning |
//! | R-PART | `RootPartitionNotFound` | Windows dynamic disk; Windows root not on NTFS; Windows root in an LVM logical volume, md software RAID, Storage Spaces or dynamic-disk volume (`root_container`) | — |
//! | R-ERR | `RootPartitionNotFound` | classified install-iso, archive, data-disk, boot-only, swap-only, encrypted, storage-spaces, software-raid, empty, wrong-file | warning |
//! | R-OS | `InvalidImageOsType.Unsupported` | declared OsType not listed; detected OS not based on a listed family | warning |
//! | R-OS | `InvalidImageOsVersion.Unsupported` | declared OsVersion not listed for the OsType (a detected version outside the list is a warning) | — |
//! | R-ARCH | `InvalidImageArchitecture.Unsupported` | declared or detected architecture not i386/x86_64 | warning |
//! | R-VIRTIO | `VirtioNotInstall` | virtio block/net not available at boot (Linux) / viostor, netkvm missing (Windows); **waived by Force** | warning |
//! | R-CLOUDINIT | `CloudInitNotInstalled` | no cloud-init (Linux) / cloudbase-init (Windows); **waived by Force** | warning |
//! | R-KERNEL | `VirtioNotInstall` | Linux with no kernel at all (no `/boot/vmlinuz-*`, no `/lib/modules/*`): nothing can boot, and the virtio drivers ship with the kernel; **not waived by Force**. A modified kernel: warning | kernel count not told: nothing |
//! | R-NET | — | warning: several NICs, static IP, NIC other than eth0 | — |
//! | R-ACTIVATION | — | info: Windows gets no activation service | — |
//! | R-BOOT | `VirtioNotInstall` | boot test (`GuestFacts::boot`): the root was not found on the virtio disk; **not waived by Force** | no boot test: nothing |
//! | R-BOOT | `PartitionNotPresent` | boot test: the firmware/boot loader found nothing to boot; **not waived by Force** | — |
//! | R-BOOT | — | warning: kernel panic, emergency shell, no userspace within the time, no cloud-init marker; info: booted, not run | — |
//!
//! [`check_form`] runs the checks that need no image (R-REGION, declared OsType, OsVersion,
//! Architecture), for the service's synchronous `ImportImage` validation;
//! [`describe_import_image_os`] is the `DescribeImportImageOs` response body.
//!
//! Declared-vs-detected contradictions (OS type, family, version, architecture) are
//! warnings carrying both values. Sizes are in GiB (2^30 bytes): the seed's "50G" is what
//! `qemu-img info` prints, in binary units.

pub mod boot;
pub mod decide;
pub mod detected;
pub mod facts;
pub mod fixes;
pub mod rules;
pub mod text;
pub mod verdict;

pub use boot::{BootFacts, BootFailure, BootOutcome};
pub use decide::{check_form, decide};
pub use detected::{detected_form, DetectedForm};
pub use facts::{
    DiskRole, FormatFacts, GuestFacts, ImportForm, NicFacts, OsFacts, PartitionScheme,
    RootContainer,
};
pub use rules::{describe_import_image_os, ImportImageOs, Rule, RULES};
pub use verdict::{Code, Finding, Severity, Verdict};
