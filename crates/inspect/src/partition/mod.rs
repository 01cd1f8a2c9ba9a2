//! Partition tables: MBR (primary + extended/logical chains), GPT (protective MBR,
//! header and entry CRCs, backup header), hybrid MBR/GPT, or none (R-PART).
//!
//! Written here rather than with `mbrman`/`gptman` (checked at 0.6.1 / 3.1.1):
//! `gptman` pre-allocates `Vec::with_capacity(number_of_partition_entries)` from
//! the header (a hostile 2³² entries aborts the process) and `mbrman` adds
//! on-disk u32 LBAs unchecked (overflow panics) and has no bound on EBR chains.
//! Both also reject damaged tables outright, where we want findings (backup GPT
//! header used, EBR loop cut, partition past the end of a truncated image).
//!
//! Damage inside a table is reported in [`PartitionTable::findings`]; only reads
//! of the medium itself return an error.

use crate::Result;
use imgport_disk::{ReadAt, ReadAtExt, SliceSource};
use serde::Serialize;
use std::sync::Arc;

pub mod gpt;
pub mod mbr;
pub mod types;

/// Logical sector size assumed for MBR disks and tried first for GPT.
pub const SECTOR: u64 = 512;
/// The other GPT sector size we detect (4Kn disks).
pub const SECTOR_4K: u64 = 4096;

/// Which kind of partition table a disk has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Mbr,
    Gpt,
    /// No partition table (empty disk, or a filesystem on the whole disk).
    #[default]
    None,
}

impl std::fmt::Display for TableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableKind::Mbr => "mbr",
            TableKind::Gpt => "gpt",
            TableKind::None => "none",
        })
    }
}

/// A disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionTable {
    pub kind: TableKind,
    /// A GPT disk whose protective MBR also lists partitions.
    pub hybrid: bool,
    /// MBR: `0x1234abcd` (as `sfdisk --json` prints it); GPT: the disk GUID.
    pub disk_id: Option<String>,
    pub partitions: Vec<Partition>,
    /// What was odd or damaged, in words for the user.
    pub findings: Vec<String>,
}

/// One partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// As Linux numbers it: MBR 1–4 primary, 5+ logical; GPT entry index + 1.
    pub number: u32,
    /// Byte offset on the disk.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// MBR `"0x83"`; GPT the upper-case type GUID.
    pub type_id: String,
    /// `"Linux"`, `"Linux LVM"`, `"EFI System"`, … (see [`types`]).
    pub type_name: String,
    /// MBR boot flag 0x80; GPT "legacy BIOS bootable" attribute.
    pub bootable: bool,
    /// MBR logical partition (inside an extended one).
    pub logical: bool,
    /// GPT partition name.
    pub name: Option<String>,
    /// GPT unique partition GUID.
    pub guid: Option<String>,
}

impl Partition {
    /// An MBR extended partition (a container of logical partitions, no filesystem).
    pub fn is_extended(&self) -> bool {
        !self.logical
            && self.guid.is_none()
            && types::MBR_EXTENDED
                .iter()
                .any(|t| self.type_id == format!("{t:#04x}"))
    }
}

/// The partition's bytes as a source named `"partition N"` (clipped to the disk).
pub fn open_partition(disk: Arc<dyn ReadAt>, p: &Partition) -> Arc<dyn ReadAt> {
    Arc::new(SliceSource::new(
        disk,
        p.start,
        p.size,
        format!("partition {}", p.number),
    ))
}

/// Read the partition table of `disk` (R-PART).
pub fn read_partition_table(disk: &dyn ReadAt) -> Result<PartitionTable> {
    let mut t = PartitionTable {
        kind: TableKind::None,
        hybrid: false,
        disk_id: None,
        partitions: Vec::new(),
        findings: Vec::new(),
    };
    if disk.size() < SECTOR {
        t.findings.push(format!(
            "the disk is only {} bytes, smaller than one sector",
            disk.size()
        ));
        return Ok(t);
    }
    let s0 = disk.read_vec(0, SECTOR as usize)?;
    if !mbr::has_signature(&s0) {
        for ss in [SECTOR, SECTOR_4K] {
            if gpt::has_signature_at(disk, 1, ss)? {
                t.findings.push(format!(
                    "a GPT header is at LBA 1 ({ss}-byte sectors) but sector 0 is no protective MBR \
                     (no 0x55AA signature); Linux and libfdisk ignore such a GPT"
                ));
                break;
            }
        }
        return Ok(t);
    }
    let entries = mbr::entries(&s0);
    if entries
        .iter()
        .any(|e| e.type_id == types::MBR_GPT_PROTECTIVE)
    {
        read_gpt(disk, &entries, &mut t)?;
    } else if let Some(why) = mbr::not_a_table(&s0) {
        t.findings.push(why);
        return Ok(t);
    } else {
        t.kind = TableKind::Mbr;
        t.disk_id = Some(format!("{:#010x}", mbr::disk_id(&s0)));
        t.partitions = mbr::read(disk, &s0, &mut t.findings)?;
    }
    check_layout(&mut t, disk.size());
    Ok(t)
}

/// GPT behind a protective (or hybrid) MBR: primary header, else the backup.
fn read_gpt(disk: &dyn ReadAt, pmbr: &[mbr::MbrEntry; 4], t: &mut PartitionTable) -> Result<()> {
    t.kind = TableKind::Gpt;
    let others: Vec<String> = pmbr
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_empty() && e.type_id != types::MBR_GPT_PROTECTIVE)
        .map(|(i, e)| {
            format!(
                "{} ({:#04x} {})",
                i + 1,
                e.type_id,
                types::mbr_type_name(e.type_id)
            )
        })
        .collect();
    if !others.is_empty() {
        t.hybrid = true;
        t.findings.push(format!(
            "hybrid MBR: besides the protective 0xEE entry the MBR lists partitions {} \
             (BIOS and MBR-only tools see those; Linux and UEFI use the GPT)",
            others.join(", ")
        ));
    }
    if let Some(e) = pmbr.iter().find(|e| e.type_id == types::MBR_GPT_PROTECTIVE) {
        if e.start_lba != 1 {
            t.findings.push(format!(
                "the protective MBR entry starts at LBA {}, not 1",
                e.start_lba
            ));
        }
    }
    let size = disk.size();
    let mut ss = SECTOR;
    for cand in [SECTOR, SECTOR_4K] {
        if gpt::has_signature_at(disk, 1, cand)?
            || gpt::has_signature_at(disk, (size / cand).saturating_sub(1), cand)?
        {
            ss = cand;
            break;
        }
    }
    if ss != SECTOR {
        t.findings.push(format!("the GPT uses {ss}-byte sectors"));
    }
    let disk_sectors = size / ss;
    let last_lba = disk_sectors.saturating_sub(1);

    let primary = gpt::read_header(disk, 1, ss)?;
    let primary_entries = match &primary {
        Ok(h) => gpt::read_entries(disk, h, ss)?,
        Err(e) => Err(e.clone()),
    };
    if let (Ok(hdr), Ok(array)) = (&primary, &primary_entries) {
        t.disk_id = Some(hdr.disk_guid.clone());
        t.partitions = gpt::partitions(hdr, array, ss, disk_sectors, &mut t.findings);
        if hdr.alternate_lba != last_lba {
            t.findings.push(format!(
                "the primary GPT header puts the backup at LBA {}, but the disk's last LBA is {last_lba} \
                 (image resized or truncated?)",
                hdr.alternate_lba
            ));
        }
        match gpt::read_header(disk, hdr.alternate_lba, ss)? {
            Ok(b) if b.entries_crc != hdr.entries_crc => t
                .findings
                .push("the backup GPT's partition entries differ from the primary's".to_string()),
            Ok(_) => {}
            Err(why) => t.findings.push(format!("backup GPT header: {why}")),
        }
        return Ok(());
    }
    let why = match (&primary, &primary_entries) {
        (Err(e), _) | (_, Err(e)) => e.clone(),
        _ => String::new(),
    };
    t.findings
        .push(format!("primary GPT header at LBA 1 is invalid: {why}"));
    let mut candidates = vec![last_lba];
    if let Ok(h) = &primary {
        if h.alternate_lba != last_lba {
            candidates.push(h.alternate_lba);
        }
    }
    for lba in candidates {
        let hdr = match gpt::read_header(disk, lba, ss)? {
            Ok(h) => h,
            Err(e) => {
                t.findings.push(format!("backup GPT header: {e}"));
                continue;
            }
        };
        match gpt::read_entries(disk, &hdr, ss)? {
            Ok(array) => {
                t.findings
                    .push(format!("using the backup GPT header at LBA {lba}"));
                t.disk_id = Some(hdr.disk_guid.clone());
                t.partitions = gpt::partitions(&hdr, &array, ss, disk_sectors, &mut t.findings);
                return Ok(());
            }
            Err(e) => t.findings.push(format!("backup GPT at LBA {lba}: {e}")),
        }
    }
    t.findings
        .push("no valid GPT header: the partitions of this GPT disk cannot be read".to_string());
    Ok(())
}

/// Findings for partitions past the end of the disk or overlapping each other.
fn check_layout(t: &mut PartitionTable, disk_size: u64) {
    for p in &t.partitions {
        let end = p.start.saturating_add(p.size);
        if end > disk_size {
            t.findings.push(format!(
                "partition {} (bytes {}..{end}) ends beyond the end of the disk ({disk_size} bytes): \
                 image truncated?",
                p.number, p.start
            ));
        }
    }
    let mut data: Vec<&Partition> = t.partitions.iter().filter(|p| !p.is_extended()).collect();
    data.sort_by_key(|p| p.start);
    for w in data.windows(2) {
        if let [a, b] = w {
            if a.start.saturating_add(a.size) > b.start {
                t.findings
                    .push(format!("partitions {} and {} overlap", a.number, b.number));
            }
        }
    }
}
