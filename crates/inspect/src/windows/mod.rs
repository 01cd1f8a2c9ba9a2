//! Windows facts from registry hives: product, version, build, architecture, virtio
//! drivers, cloudbase-init (R-OS, R-ARCH, R-VIRTIO, R-CLOUDINIT, R-ACTIVATION).
//!
//! Entry point: [`inspect_windows`]. The registry reader is [`hive`].

pub mod facts;
pub mod hive;
pub mod paths;
pub mod services;

pub use crate::guest::Evidence;
pub use facts::{inspect_windows, HiveSummary, WindowsFacts};
pub use services::{
    CloudbaseInit, ServiceInfo, StartType, VirtioDriver, VirtioRole, WindowsVirtio,
};
