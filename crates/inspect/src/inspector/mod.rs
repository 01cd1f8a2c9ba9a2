//! The inspector: from a virtual disk to a [`Report`] — partition table, LVM,
//! filesystems, the OS root, and the facts the import rules ask about (R-PART, R-OS,
//! R-ARCH, R-VIRTIO, R-CLOUDINIT, R-KERNEL, R-NET).
//!
//! It reads only the blocks it needs and never fails as a whole: a layer that cannot
//! be read is recorded in [`Report::errors`] and the rest of the report still stands.
//! When no OS root is found, [`classify`] says what the disk is instead (data disk,
//! `/boot` only, swap only, encrypted, installation medium, empty), with the evidence
//! the import service's `RootPartitionNotFound` / `PartitionNotPresent` need.

mod classify;
mod summary;

pub use classify::{Classification, DiskKind};

use crate::container::{self, Container, ContainerKind};
use crate::fs::{self, FsKind, FsProbe};
use crate::guest::{Evidence, Volume};
use crate::linux::{self, LinuxFacts};
use crate::lvm;
use crate::partition::{self, Partition, PartitionTable, TableKind};
use crate::windows::{self, WindowsFacts};
use imgport_disk::source::{BlockCache, BlockCacheOptions};
use imgport_disk::ReadAt;
use serde::Serialize;
use std::sync::Arc;
use web_time::Instant;

/// Most volumes (partitions + logical volumes) examined; the rest are reported only.
pub const MAX_VOLUMES: usize = 128;

/// GPT "Linux RAID" partition type (an md member).
const MD_GPT_TYPE: &str = "A19D880F-05FC-4D3B-A006-743F0F84911E";

/// Windows dynamic disk (LDM) partition types: MBR 0x42; GPT LDM metadata and data.
const LDM_TYPES: &[&str] = &[
    "0x42",
    "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3",
    "af9b60a0-1431-4f62-bc68-3311714a69ad",
];

/// One filesystem (or other content) found on a volume.
#[derive(Debug, Clone, Serialize)]
pub struct FilesystemReport {
    /// `partition 1`, `lv vg0/root`, `whole disk`.
    pub volume: String,
    /// Offset on the virtual disk (0 for logical volumes).
    pub offset: u64,
    pub size: u64,
    #[serde(rename = "type")]
    pub kind: FsKind,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// We opened it and can read files.
    pub readable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The operating system, normalised for the rules (R-OS, R-ARCH).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OsReport {
    /// `linux` or `windows`.
    #[serde(rename = "type")]
    pub os_type: String,
    /// Lower-case id: `debian`, `ubuntu`, `centos`, `opensuse-leap`, `sles`, `windows` …
    pub distro: Option<String>,
    /// `ID_LIKE` words (Linux).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
    /// `12`, `7`, `22.04`; Windows: the release (`2016`, `2008 R2`).
    pub version: Option<String>,
    pub product_name: Option<String>,
    /// `x86_64`, `i386`, `aarch64` …
    pub arch: Option<String>,
}

/// Where the OS root was found.
#[derive(Debug, Clone, Serialize)]
pub struct RootReport {
    pub volume: String,
    pub filesystem: FsKind,
    /// The subvolume holding `/` (btrfs: path from the top level, `@`), when not the
    /// top level: the filesystem's default one or one named by the boot loader / fstab
    /// (`subvol=`) or found by searching (see the evidence).
    pub subvolume: Option<String>,
    /// What holds the root volume when it is not a plain partition: an LVM logical
    /// volume, an md RAID member, a Storage Spaces pool, a dynamic disk (R-PART).
    pub container: Option<Container>,
    /// Other filesystems mounted into the guest tree (from `/etc/fstab`).
    pub mounts: Vec<MountReport>,
}

/// A filesystem mounted into the guest tree.
#[derive(Debug, Clone, Serialize)]
pub struct MountReport {
    pub mountpoint: String,
    pub volume: String,
}

/// Everything inspection found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `mbr`, `gpt` or `none`.
    pub partition_table: TableKind,
    /// A GPT whose protective MBR also lists real partitions.
    pub hybrid_mbr: bool,
    pub partitions: Vec<Partition>,
    /// A Windows dynamic (LDM) disk.
    pub dynamic_disk: bool,
    /// LVM2 volume groups (linear LVs are read; others are listed as unreadable).
    pub lvm: Vec<lvm::VolumeGroup>,
    pub filesystems: Vec<FilesystemReport>,
    pub os: Option<OsReport>,
    pub root: Option<RootReport>,
    /// Linux kernels with per-kernel virtio evidence.
    pub kernels: Vec<linux::Kernel>,
    /// R-VIRTIO: `None` when it could not be established.
    pub virtio: Option<bool>,
    pub virtio_missing: Vec<String>,
    pub virtio_evidence: Vec<String>,
    /// R-CLOUDINIT: cloud-init (Linux) or cloudbase-init (Windows) installed.
    pub cloud_init: Option<bool>,
    pub cloud_init_evidence: Vec<String>,
    /// What the disk is (an OS disk, or why not).
    pub classification: Classification,
    /// Full Linux facts (bootloader, network, packages …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<LinuxFacts>,
    /// Full Windows facts (edition, build, services, hives …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<WindowsFacts>,
    /// What was read, where, and what it showed.
    pub evidence: Vec<Evidence>,
    /// Structures that could not be read (the rest of the report still stands).
    pub errors: Vec<String>,
    /// Bytes read from the image file by inspection.
    pub bytes_read: u64,
    pub elapsed_ms: u64,
}

/// Block size of the guest-level cache of [`inspect`] (small: metadata reads are
/// scattered, and each miss reads a whole block).
const GUEST_CACHE_BLOCK: u64 = 16 * 1024;
/// Bytes the guest-level cache keeps.
const GUEST_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest single inner read of the guest-level cache.
const GUEST_CACHE_MAX_FETCH: u64 = 1024 * 1024;
/// Reads this long (file data being streamed) go past the guest-level cache.
const GUEST_CACHE_BYPASS: u64 = 128 * 1024;

/// Inspect the guest disk `disk` (a virtual disk from the disk core, read as guest bytes).
pub fn inspect(disk: Arc<dyn ReadAt>) -> Report {
    let started = Instant::now();
    let read_before = disk.bytes_read();
    let disk = with_guest_cache(disk);
    let mut errors = Vec::new();
    let mut evidence = Vec::new();
    let table = read_table(&*disk, &mut errors);
    for f in &table.findings {
        evidence.push(Evidence::new("partition table", f.clone()));
    }
    let dynamic_disk = table
        .partitions
        .iter()
        .any(|p| LDM_TYPES.contains(&p.type_id.to_ascii_lowercase().as_str()));

    let mut found = Found::default();
    found.open_partitions(&table, &disk);
    let vgs = lvm::assemble(std::mem::take(&mut found.pvs));
    found.open_lvs(&vgs);
    errors.append(&mut found.errors);

    let mut report = Report {
        partition_table: table.kind,
        hybrid_mbr: table.hybrid,
        partitions: table.partitions,
        dynamic_disk,
        lvm: vgs,
        filesystems: found.filesystems,
        os: None,
        root: None,
        kernels: Vec::new(),
        virtio: None,
        virtio_missing: Vec::new(),
        virtio_evidence: Vec::new(),
        cloud_init: None,
        cloud_init_evidence: Vec::new(),
        classification: Classification::default(),
        linux: None,
        windows: None,
        evidence,
        errors,
        bytes_read: 0,
        elapsed_ms: 0,
    };
    inspect_windows_volumes(&mut report, &found.volumes);
    if report.root.is_none() {
        inspect_linux_volumes(&mut report, &found.volumes);
    }
    name_root_container(&mut report, &disk);
    report.classification = classify::classify(&report, &found.volumes, &*disk);
    report.bytes_read = disk.bytes_read().saturating_sub(read_before);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report
}

/// `disk` behind the guest-level block cache. The filesystem readers come back to
/// the same metadata blocks again and again (the NTFS MFT and index records for each
/// path looked up, ext4 group descriptors, XFS inode clusters): a small cache reads
/// each once and saves decoding a compressed cluster more than once.
fn with_guest_cache(disk: Arc<dyn ReadAt>) -> Arc<dyn ReadAt> {
    Arc::new(BlockCache::with_options(
        disk,
        BlockCacheOptions {
            block_size: GUEST_CACHE_BLOCK,
            capacity: GUEST_CACHE_BYTES,
            max_fetch: GUEST_CACHE_MAX_FETCH,
            bypass_len: GUEST_CACHE_BYPASS,
            readahead: 0,
        },
    ))
}

/// The disk's partition table; an empty one (kind `None`) when it cannot be read,
/// with the error in `errors`.
fn read_table(disk: &dyn ReadAt, errors: &mut Vec<String>) -> PartitionTable {
    match partition::read_partition_table(disk) {
        Ok(t) => t,
        Err(e) => {
            errors.push(format!("partition table: {e}"));
            PartitionTable {
                kind: TableKind::None,
                hybrid: false,
                disk_id: None,
                partitions: Vec::new(),
                findings: Vec::new(),
            }
        }
    }
}

/// Name what holds the root volume (LVM, md RAID, …) in the report, with its
/// evidence.
fn name_root_container(report: &mut Report, disk: &Arc<dyn ReadAt>) {
    if let Some(volume) = report.root.as_ref().map(|r| r.volume.clone()) {
        let c = root_container(report, &volume, disk);
        if let Some(c) = &c {
            for e in &c.evidence {
                report
                    .evidence
                    .push(Evidence::new(volume.clone(), e.clone()));
            }
        }
        if let Some(root) = report.root.as_mut() {
            root.container = c;
        }
    }
}

/// Volumes opened so far, with their reports.
#[derive(Default)]
struct Found {
    volumes: Vec<Volume>,
    filesystems: Vec<FilesystemReport>,
    pvs: Vec<lvm::PhysicalVolume>,
    errors: Vec<String>,
}

impl Found {
    /// Probe `dev`; open it when we can read that filesystem; collect LVM PVs.
    /// Open the whole disk when it has no partition table, else each primary and
    /// logical partition (at most [`MAX_VOLUMES`]; one past the disk's end is read up
    /// to the end, and said so).
    fn open_partitions(&mut self, table: &PartitionTable, disk: &Arc<dyn ReadAt>) {
        if table.kind == TableKind::None {
            self.open_volume("whole disk", 0, disk.clone());
            return;
        }
        for p in table.partitions.iter().filter(|p| !p.is_extended()) {
            if self.volumes.len() >= MAX_VOLUMES {
                self.errors.push(format!(
                    "more than {MAX_VOLUMES} volumes: partition {} and later not examined",
                    p.number
                ));
                break;
            }
            if p.start.saturating_add(p.size) > disk.size() {
                self.errors.push(format!(
                    "partition {} ends at byte {} past the end of the disk ({} bytes): read up to the end only",
                    p.number,
                    p.start.saturating_add(p.size),
                    disk.size()
                ));
            }
            let dev = partition::open_partition(disk.clone(), p);
            self.open_volume(&format!("partition {}", p.number), p.start, dev);
        }
    }

    /// Open each readable logical volume of `vgs` (within [`MAX_VOLUMES`]); the
    /// others are errors.
    fn open_lvs(&mut self, vgs: &[lvm::VolumeGroup]) {
        for vg in vgs {
            for lv in &vg.lvs {
                let name = format!("lv {}/{}", vg.name, lv.name);
                if !lv.readable {
                    self.errors.push(format!(
                        "{name}: {}",
                        lv.reason.as_deref().unwrap_or("not readable")
                    ));
                    continue;
                }
                if self.volumes.len() >= MAX_VOLUMES {
                    self.errors.push(format!("{name}: volume limit reached"));
                    continue;
                }
                match lvm::open_lv(vg, lv) {
                    Ok(dev) => self.open_volume(&name, 0, dev),
                    Err(e) => self.errors.push(format!("{name}: {e}")),
                }
            }
        }
    }

    fn open_volume(&mut self, name: &str, offset: u64, dev: Arc<dyn ReadAt>) {
        let size = dev.size();
        let probe = match fs::probe(&*dev) {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(format!("{name}: {e}"));
                FsProbe {
                    kind: FsKind::Unknown,
                    uuid: None,
                    label: None,
                }
            }
        };
        if probe.kind == FsKind::LvmPv {
            match lvm::scan_pv(dev.clone(), name) {
                Ok(Some(pv)) => self.pvs.push(pv),
                Ok(None) => {}
                Err(e) => self.errors.push(format!("{name}: LVM: {e}")),
            }
        }
        let (fs, error) = if probe.kind.is_readable() {
            match fs::open(dev, &probe) {
                Ok(fs) => (fs, None),
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
        if let Some(e) = &error {
            self.errors.push(format!("{name}: {e}"));
        }
        self.filesystems.push(FilesystemReport {
            volume: name.into(),
            offset,
            size,
            kind: probe.kind,
            uuid: probe.uuid.clone(),
            label: probe.label.clone(),
            readable: fs.is_some(),
            error,
        });
        self.volumes.push(Volume {
            name: name.into(),
            offset,
            size,
            probe,
            fs,
        });
    }
}

/// Windows: the first volume with `Windows/System32/config` hives — NTFS volumes
/// first; Windows found on another filesystem is reported as such (R-PART wants NTFS).
fn inspect_windows_volumes(report: &mut Report, volumes: &[Volume]) {
    let ntfs_first = volumes
        .iter()
        .filter(|v| v.probe.kind == FsKind::Ntfs)
        .chain(volumes.iter().filter(|v| v.probe.kind != FsKind::Ntfs));
    for v in ntfs_first {
        let Some(fs) = &v.fs else { continue };
        match windows::inspect_windows(&**fs) {
            Ok(Some(w)) => {
                report.os = Some(OsReport {
                    os_type: "windows".into(),
                    distro: Some("windows".into()),
                    id_like: Vec::new(),
                    version: w.version.clone(),
                    product_name: w.product_name.clone(),
                    arch: w.arch.map(|a| a.name().to_string()),
                });
                report.root = Some(RootReport {
                    volume: v.name.clone(),
                    filesystem: v.probe.kind,
                    subvolume: None,
                    container: None,
                    mounts: Vec::new(),
                });
                let s = summary::windows(&w);
                report.virtio = s.virtio;
                report.virtio_missing = s.virtio_missing;
                report.virtio_evidence = s.virtio_evidence;
                report.cloud_init = s.cloud_init;
                report.cloud_init_evidence = s.cloud_init_evidence;
                report.evidence.extend(w.evidence.iter().cloned());
                report.windows = Some(w);
                return;
            }
            Ok(None) => {}
            Err(e) => report
                .errors
                .push(format!("{}: Windows registry: {e}", v.name)),
        }
    }
}

/// Linux: the best root candidate (`/etc` with `/usr` or `/bin`) plus its fstab mounts.
fn inspect_linux_volumes(report: &mut Report, volumes: &[Volume]) {
    let Some(linux::LinuxRoot {
        index: idx,
        guest,
        subvolume,
        evidence: ev,
    }) = linux::find_root(volumes)
    else {
        report.evidence.push(Evidence::new(
            "volumes",
            format!(
                "no Linux root among {} volume(s): none has /etc with /usr or /bin",
                volumes.len()
            ),
        ));
        return;
    };
    report.evidence.extend(ev);
    let facts = linux::inspect_linux(&guest);
    let v = &volumes[idx];
    report.root = Some(RootReport {
        volume: v.name.clone(),
        filesystem: v.probe.kind,
        subvolume,
        container: None,
        mounts: guest
            .mounts()
            .iter()
            .map(|m| MountReport {
                mountpoint: m.mountpoint.clone(),
                volume: m.source.clone(),
            })
            .collect(),
    });
    report.os = Some(OsReport {
        os_type: "linux".into(),
        distro: facts.distro.clone(),
        id_like: facts.id_like.clone(),
        version: facts.version.clone(),
        product_name: facts.product_name.clone(),
        arch: facts.arch.map(|a| a.name().to_string()),
    });
    let s = summary::linux(&facts);
    report.virtio = s.virtio;
    report.virtio_missing = s.virtio_missing;
    report.virtio_evidence = s.virtio_evidence;
    report.cloud_init = s.cloud_init;
    report.cloud_init_evidence = s.cloud_init_evidence;
    report.kernels = facts.kernels.clone();
    report.evidence.extend(facts.evidence.iter().cloned());
    report.linux = Some(facts);
}

/// What holds the root `volume` (R-PART): the LVM volume group and the partitions of its
/// PVs for `lv VG/LV`; for `partition N` its type (LDM, Linux RAID, Storage Spaces) and
/// an md superblock on it (a 0.90/1.0 mirror member starts with its filesystem).
fn root_container(report: &Report, volume: &str, disk: &Arc<dyn ReadAt>) -> Option<Container> {
    let describe = |p: &Partition| {
        format!(
            "partition {} (type {} {})",
            p.number, p.type_id, p.type_name
        )
    };
    let partition = |name: &str| {
        report
            .partitions
            .iter()
            .find(|p| format!("partition {}", p.number) == name)
    };
    if let Some(lv) = volume.strip_prefix("lv ") {
        let vg = lv.split('/').next().unwrap_or("");
        let pvs: Vec<String> = report
            .lvm
            .iter()
            .filter(|g| g.name == vg)
            .flat_map(|g| g.pvs.iter())
            .filter_map(|pv| pv.device.as_deref())
            .map(|d| partition(d).map_or_else(|| d.to_string(), describe))
            .collect();
        return Some(Container {
            kind: ContainerKind::Lvm,
            evidence: vec![format!(
                "the root is LVM logical volume {lv}, in volume group {vg} on {}",
                if pvs.is_empty() {
                    "physical volumes not found".to_string()
                } else {
                    pvs.join(", ")
                }
            )],
        });
    }
    let p = partition(volume)?;
    let t = p.type_id.to_ascii_lowercase();
    if LDM_TYPES.contains(&t.as_str()) {
        return Some(Container {
            kind: ContainerKind::DynamicDisk,
            evidence: vec![format!(
                "the root is on {}: a Windows dynamic disk (LDM) volume",
                describe(p)
            )],
        });
    }
    if p.type_id.eq_ignore_ascii_case(container::spaces::GPT_TYPE) {
        return Some(Container {
            kind: ContainerKind::StorageSpaces,
            evidence: vec![format!(
                "the root is on {}: a Storage Spaces pool member",
                describe(p)
            )],
        });
    }
    let dev = partition::open_partition(disk.clone(), p);
    let md = container::md::find(&*dev).ok().flatten();
    let raid_type = t == "0xfd" || p.type_id.eq_ignore_ascii_case(MD_GPT_TYPE);
    if md.is_none() && !raid_type {
        return None;
    }
    let mut evidence = vec![format!(
        "the root is on {}, a Linux md software RAID member",
        describe(p)
    )];
    if let Some(sb) = md {
        evidence.push(sb.describe());
    }
    Some(Container {
        kind: ContainerKind::MdRaid,
        evidence,
    })
}
