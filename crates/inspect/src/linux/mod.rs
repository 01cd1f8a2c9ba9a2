//! Linux facts: distribution, version, architecture, kernels, virtio support,
//! cloud-init, bootloader, network configuration (R-OS, R-ARCH, R-VIRTIO,
//! R-CLOUDINIT, R-KERNEL, R-NET).
//!
//! Entry points: [`find_linux_root`] (RootPartitionNotFound when `None`) and
//! [`inspect_linux`], which never fails as a whole: each fact it cannot establish
//! is `None` (or empty), and [`LinuxFacts::evidence`] says what was looked at.

pub mod bootloader;
pub mod cloudinit;
pub mod cpio;
pub mod distro;
pub mod elf;
pub mod fstab;
pub mod initramfs;
pub mod kernels;
pub mod network;
pub mod os_release;
pub mod packages;
pub mod root;
mod stock_kernel;
pub mod subvolumes;

pub use crate::guest::Evidence;
pub use bootloader::{BootEntry, Bootloader, BootloaderKind};
pub use cloudinit::CloudInit;
pub use elf::Arch;
pub use kernels::{InitramfsTool, Kernel, Tristate, VirtioModule};
pub use network::{AddrMode, Network, NicConfig, NicRename};
pub use root::{find_linux_root, find_root, LinuxRoot};

use crate::guest::Guest;
use imgport_disk::par;
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything we establish about a Linux guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinuxFacts {
    /// Lower-case distribution id (`debian`, `ubuntu`, `centos`, `sles` …).
    pub distro: Option<String>,
    /// Version (`12`, `22.04`, `7`, `15.5`).
    pub version: Option<String>,
    /// `PRETTY_NAME` or the release file's line.
    pub product_name: Option<String>,
    /// `ID_LIKE` words.
    pub id_like: Vec<String>,
    /// Userland architecture from ELF headers.
    pub arch: Option<Arch>,
    /// 32 or 64.
    pub arch_bits: Option<u8>,
    pub kernels: Vec<Kernel>,
    /// The program that (re)builds the initramfs, which the R-VIRTIO fix must name.
    pub initramfs_tool: Option<InitramfsTool>,
    /// Mounts (and the kernel's `root=`) by a non-virtio disk name such as
    /// `/dev/sda5`: on the cloud's virtio disk (`/dev/vda`) they do not resolve (R-VIRTIO).
    pub device_name_mounts: Vec<DeviceNameMount>,
    /// The bootloader's default kernel version.
    pub default_kernel: Option<String>,
    pub bootloader: Option<Bootloader>,
    pub cloud_init: CloudInit,
    pub network: Network,
    /// Package manager database seen: `dpkg`, `rpm`.
    pub package_db: Option<String>,
    /// What was looked at, for every fact.
    pub evidence: Vec<Evidence>,
}

/// A filesystem (or swap, or the root) named by a non-virtio kernel device name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceNameMount {
    /// Where it is written: `/etc/fstab:3`, or the bootloader config.
    pub source: String,
    /// `/`, `/boot`, `swap`; `root=` for the default boot entry's command line.
    pub mountpoint: String,
    /// `/dev/sda5`.
    pub device: String,
}

/// Largest fstab read.
const MAX_FSTAB: u64 = 1024 * 1024;

/// `/etc/fstab` entries and the default boot entry's `root=` that use a non-virtio
/// device name (R-VIRTIO).
fn device_name_mounts(
    guest: &Guest,
    bootloader: Option<&Bootloader>,
    ev: &mut Vec<Evidence>,
) -> Vec<DeviceNameMount> {
    let mut out = Vec::new();
    if let Ok(b) = guest.read_file("/etc/fstab", MAX_FSTAB) {
        let entries = fstab::parse_fstab(&String::from_utf8_lossy(&b));
        for e in fstab::device_name_entries(&entries) {
            out.push(DeviceNameMount {
                source: format!("/etc/fstab:{}", e.line),
                mountpoint: if e.vfstype == "swap" {
                    "swap".into()
                } else {
                    e.file.clone()
                },
                device: e.spec.clone(),
            });
        }
    }
    if let Some(b) = bootloader {
        let cmdline = b
            .default_entry
            .and_then(|i| b.entries.get(i))
            .and_then(|e| e.cmdline.as_deref());
        if let Some(root) = cmdline.and_then(|c| {
            c.split_whitespace()
                .find_map(|w| w.strip_prefix("root="))
                .filter(|r| fstab::is_non_virtio_device_name(r))
        }) {
            out.push(DeviceNameMount {
                source: b.config.clone(),
                mountpoint: "root=".into(),
                device: root.to_string(),
            });
        }
    }
    for m in &out {
        ev.push(Evidence::new(
            &m.source,
            format!(
                "{} names {} by a non-virtio device name; the cloud's virtio disk is /dev/vda",
                m.mountpoint, m.device
            ),
        ));
    }
    out
}

/// `f` with an evidence list of its own, as a task of `scope` (a scoped thread, or run
/// at once where there are none: [`imgport_disk::par`]).
pub(super) fn gather<'s, T: Send + 's>(
    scope: par::Scope<'s, '_>,
    f: impl FnOnce(&mut Vec<Evidence>) -> T + Send + 's,
) -> par::Task<'s, (T, Vec<Evidence>)> {
    scope.spawn(move || {
        let mut ev = Vec::new();
        let v = f(&mut ev);
        (v, ev)
    })
}

/// Establish the Linux facts of `guest`. Facts that do not depend on each other are
/// gathered concurrently: over a remote source every read is a round trip, and the
/// lookups of one fact depend on each other but not on another fact's (issue 16; the
/// ext reader gives concurrent callers more workers). Facts and evidence are the same
/// as a sequential walk's, the evidence in its order: distro, architecture,
/// bootloader, packages, kernels, initramfs tool, cloud-init, network, device names.
pub fn inspect_linux(guest: &Guest) -> LinuxFacts {
    // The initramfs, the longest read, starts at once beside the facts (issue 16); the
    // kernel examination takes its scan when it gets there.
    let prescanned = kernels::Prescanned::default();
    par::scope(|s| {
        let pre = s.spawn(|| kernels::prescan(guest, &prescanned));
        let facts = gather_facts(guest, &prescanned);
        pre.join();
        facts
    })
}

/// [`inspect_linux`]'s facts, with the initramfs scans of `prescanned`.
fn gather_facts(guest: &Guest, prescanned: &kernels::Prescanned) -> LinuxFacts {
    let (
        (d, ev_distro),
        (arch, ev_arch),
        (bootloader, ev_boot),
        (dpkg, ev_dpkg),
        rpm_path,
        kernel_versions,
        (initramfs_tool, ev_tool),
        (network, ev_net),
    ) = par::scope(|s| {
        let d = gather(s, |ev| distro::detect(guest, ev));
        let arch = gather(s, |ev| elf::detect(guest, ev));
        let boot = gather(s, |ev| bootloader::detect(guest, ev));
        let dpkg = gather(s, |ev| packages::dpkg_installed(guest, ev));
        let rpm = s.spawn(|| packages::rpmdb_path(guest));
        let versions = s.spawn(|| kernels::versions(guest));
        let tool = gather(s, |ev| kernels::initramfs_tool(guest, ev));
        let net = gather(s, |ev| network::detect(guest, ev));
        (
            d.join(),
            arch.join(),
            boot.join(),
            dpkg.join(),
            rpm.join(),
            versions.join(),
            tool.join(),
            net.join(),
        )
    });
    let default_kernel = bootloader
        .as_ref()
        .and_then(|b| b.default_kernel_version.clone());

    let mut ev_rpm = Vec::new();
    let mut rpm_kernels = BTreeMap::new();
    let mut rpm_cloud_init = false;
    if let Some(path) = rpm_path {
        let mut needles: Vec<Vec<u8>> = vec![b"cloud-init\0".to_vec()];
        needles.extend(kernel_versions.iter().map(|v| v.as_bytes().to_vec()));
        let found = packages::rpmdb_search(guest, path, &needles, &mut ev_rpm);
        rpm_cloud_init = found.first().copied().unwrap_or(false);
        for (v, hit) in kernel_versions.iter().zip(found.iter().skip(1)) {
            rpm_kernels.insert(v.clone(), *hit);
        }
    }
    let package_db = match (&dpkg, rpm_path) {
        (Some(_), _) => Some("dpkg".to_string()),
        (None, Some(_)) => Some("rpm".to_string()),
        (None, None) => None,
    };

    let ctx = kernels::KernelContext {
        distro_id: d.id.as_deref(),
        id_like: &d.id_like,
        dpkg: dpkg.as_ref(),
        rpm: rpm_path.map(|p| (p, rpm_kernels)),
        default_version: default_kernel.as_deref(),
        prescanned: Some(prescanned),
    };
    let pkgs = cloudinit::PackageInfo {
        dpkg: dpkg.as_ref(),
        rpm: rpm_path.map(|p| (p, rpm_cloud_init)),
    };
    let ((kernels, ev_kernels), (cloud_init, ev_cloud), (device_name_mounts, ev_mounts)) =
        par::scope(|s| {
            let kernels = gather(s, |ev| kernels::detect(guest, &ctx, ev));
            let cloud = gather(s, |ev| cloudinit::detect(guest, &pkgs, ev));
            let mounts = gather(s, |ev| device_name_mounts(guest, bootloader.as_ref(), ev));
            (kernels.join(), cloud.join(), mounts.join())
        });
    let ev: Vec<Evidence> = [
        ev_distro, ev_arch, ev_boot, ev_dpkg, ev_rpm, ev_kernels, ev_tool, ev_cloud, ev_net,
        ev_mounts,
    ]
    .into_iter()
    .flatten()
    .collect();
    LinuxFacts {
        distro: d.id,
        version: d.version,
        product_name: d.product_name,
        id_like: d.id_like,
        arch,
        arch_bits: arch.map(Arch::bits),
        kernels,
        initramfs_tool,
        device_name_mounts,
        default_kernel,
        bootloader,
        cloud_init,
        network,
        package_db,
        evidence: ev,
    }
}
