//! Guest inspection: what is inside a disk image, read through the disk core's
//! [`imgport_disk::ReadAt`] only — no mounting, no root, no guest execution.
//!
//! Layers, bottom up:
//! - [`partition`]: MBR (with logical partitions) and GPT tables (R-PART).
//! - [`lvm`]: LVM2 physical volumes and linear logical volumes.
//! - [`container`]: md RAID and Storage Spaces signatures (what holds a volume).
//! - [`fs`]: filesystem identification and read-only file access ([`fs::FileSystem`]).
//! - [`guest`]: a guest's file tree (mounts from fstab, symlinks resolved inside the guest).
//! - [`linux`] / [`windows`]: OS facts (R-OS, R-ARCH, R-VIRTIO, R-CLOUDINIT, R-KERNEL).
//! - [`inspector`]: all of the above composed into one [`inspector::Report`].

pub mod budget;
pub mod container;
mod error;
pub mod fs;
pub mod guest;
pub mod inspector;
pub mod linux;
pub mod lvm;
pub mod partition;
pub mod windows;

pub use error::{Error, Result};
pub use inspector::{inspect, Report};
