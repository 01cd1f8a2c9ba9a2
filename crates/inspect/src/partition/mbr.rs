//! The MBR (DOS) partition table: the boot record at sector 0 with four primary
//! entries, and logical partitions in chains of extended boot records (EBRs).
//!
//! Telling a partition table from a bare filesystem follows blkid's `dos` prober
//! (`libblkid/src/partitions/dos.c`): the 0x55AA signature alone is not enough —
//! a FAT/exFAT/NTFS boot sector (a valid BPB) is a filesystem, and every entry's
//! boot flag must be 0x00 or 0x80. Logical partitions are found and numbered as the
//! Linux kernel does (`block/partitions/msdos.c`): 5, 6, … in chain order, every
//! extended primary followed, each EBR's data entries first, then its first link.

use super::types::{mbr_type_name, MBR_EXTENDED};
use super::{Partition, SECTOR};
use crate::Result;
use imgport_disk::bytes::{le16, le32};
use imgport_disk::{ReadAt, ReadAtExt};
use std::collections::HashSet;

/// Most logical partitions followed over all EBR chains (the kernel stops at
/// its minor-number limit; util-linux has no limit).
pub const MAX_LOGICAL: usize = 128;

/// One 16-byte entry of an MBR or EBR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrEntry {
    pub boot: u8,
    pub type_id: u8,
    pub start_lba: u32,
    pub sectors: u32,
}

impl MbrEntry {
    /// Unused: type 0 or no sectors (the kernel skips `nr_sects == 0`).
    pub fn is_empty(&self) -> bool {
        self.type_id == 0 || self.sectors == 0
    }

    pub fn is_extended(&self) -> bool {
        MBR_EXTENDED.contains(&self.type_id)
    }
}

/// The four entries of a 512-byte boot record.
pub fn entries(sector: &[u8]) -> [MbrEntry; 4] {
    std::array::from_fn(|i| {
        let o = 446 + 16 * i;
        MbrEntry {
            boot: sector.get(o).copied().unwrap_or(0),
            type_id: sector.get(o + 4).copied().unwrap_or(0),
            start_lba: le32(sector, o + 8),
            sectors: le32(sector, o + 12),
        }
    })
}

/// Whether the sector ends in the boot signature 0x55 0xAA.
pub fn has_signature(sector: &[u8]) -> bool {
    sector.get(510..512) == Some(&[0x55, 0xaa][..])
}

/// The 32-bit disk identifier at offset 440 (`label-id` in sfdisk).
pub fn disk_id(sector: &[u8]) -> u32 {
    le32(sector, 440)
}

/// Which filesystem's boot sector this is, if it has a valid BIOS parameter block
/// (blkid `blkid_probe_is_ntfs`/`is_exfat`/`is_vfat`).
pub fn boot_sector_filesystem(s: &[u8]) -> Option<&'static str> {
    let oem = s.get(3..11)?;
    if oem == b"NTFS    " {
        return Some("NTFS");
    }
    if oem == b"EXFAT   " {
        return Some("exFAT");
    }
    fat_bpb_is_valid(s).then_some("FAT")
}

/// blkid's `fat_valid_superblock` for a sector whose only magic is the jump
/// instruction or the 0x55AA signature.
fn fat_bpb_is_valid(s: &[u8]) -> bool {
    let magic = |off: usize, m: &[u8]| s.get(off..off + m.len()) == Some(m);
    if magic(0x36, b"JFS     ") || magic(0x36, b"HPFS    ") {
        return false;
    }
    let byte = |o: usize| s.get(o).copied().unwrap_or(0);
    let sector_size = u32::from(le16(s, 11));
    let cluster_size = u32::from(byte(13));
    let reserved = u32::from(le16(s, 14));
    let fats = u32::from(byte(16));
    let dir_entries = u32::from(le16(s, 17));
    let media = byte(21);
    if fats == 0 || reserved == 0 || !(media >= 0xf8 || media == 0xf0) {
        return false;
    }
    if !cluster_size.is_power_of_two()
        || !sector_size.is_power_of_two()
        || !(512..=4096).contains(&sector_size)
    {
        return false;
    }
    let mut sect_count = u32::from(le16(s, 19));
    if sect_count == 0 {
        sect_count = le32(s, 32);
    }
    let mut fat_length = u32::from(le16(s, 22));
    if fat_length == 0 {
        fat_length = le32(s, 36);
    }
    let fat_size = fat_length.wrapping_mul(fats);
    let dir_size = (dir_entries * 32).div_ceil(sector_size);
    // C unsigned arithmetic: an underflow wraps to a huge count and fails the check.
    let clusters = sect_count.wrapping_sub(reserved.wrapping_add(fat_size).wrapping_add(dir_size))
        / cluster_size;
    clusters <= 0x0fff_fff6
}

/// Why sector 0 (with the 0x55AA signature) is not an MBR partition table, or
/// `None` when it is one.
pub fn not_a_table(sector: &[u8]) -> Option<String> {
    if let Some(fs) = boot_sector_filesystem(sector) {
        return Some(format!(
            "sector 0 is a {fs} boot sector (a filesystem on the whole disk), not a partition table"
        ));
    }
    let bad: Vec<String> = entries(sector)
        .iter()
        .enumerate()
        .filter(|(_, e)| e.boot != 0 && e.boot != 0x80)
        .map(|(i, e)| format!("entry {} boot flag {:#04x}", i + 1, e.boot))
        .collect();
    if !bad.is_empty() {
        return Some(format!(
            "sector 0 has the 0x55AA signature but is not a partition table ({})",
            bad.join(", ")
        ));
    }
    None
}

fn partition(number: u32, e: &MbrEntry, start_lba: u64, logical: bool) -> Partition {
    Partition {
        number,
        start: start_lba * SECTOR,
        size: u64::from(e.sectors) * SECTOR,
        type_id: format!("{:#04x}", e.type_id),
        type_name: mbr_type_name(e.type_id).to_string(),
        bootable: e.boot == 0x80,
        logical,
        name: None,
        guid: None,
    }
}

/// The partitions of an MBR whose sector 0 is `sector`: primaries 1–4 as listed,
/// then the logical partitions of each extended partition. Damage is reported in
/// `findings`; only reads of the medium fail.
pub fn read(
    disk: &dyn ReadAt,
    sector: &[u8],
    findings: &mut Vec<String>,
) -> Result<Vec<Partition>> {
    let mut parts = Vec::new();
    let primaries = entries(sector);
    for (i, e) in primaries.iter().enumerate() {
        if !e.is_empty() {
            parts.push(partition(i as u32 + 1, e, u64::from(e.start_lba), false));
        }
    }
    let extended: Vec<&MbrEntry> = primaries
        .iter()
        .filter(|e| !e.is_empty() && e.is_extended())
        .collect();
    if extended.len() > 1 {
        findings.push(format!(
            "{} extended partitions in the MBR (Linux follows all of them, most other tools only the first)",
            extended.len()
        ));
    }
    let mut next_number = 5u32;
    let mut visited = HashSet::new();
    for ext in extended {
        read_chain(
            disk,
            ext,
            &mut next_number,
            &mut visited,
            &mut parts,
            findings,
        )?;
    }
    Ok(parts)
}

/// Follow one EBR chain (kernel `parse_extended`).
fn read_chain(
    disk: &dyn ReadAt,
    ext: &MbrEntry,
    next_number: &mut u32,
    visited: &mut HashSet<u64>,
    parts: &mut Vec<Partition>,
    findings: &mut Vec<String>,
) -> Result<()> {
    let first = u64::from(ext.start_lba);
    let first_size = u64::from(ext.sectors);
    let disk_sectors = disk.size() / SECTOR;
    let (mut this, mut this_size) = (first, first_size);
    loop {
        if !visited.insert(this) {
            findings.push(format!(
                "the EBR chain loops back to sector {this}; logical partitions after it are ignored"
            ));
            return Ok(());
        }
        if visited.len() > MAX_LOGICAL + 4 {
            findings.push(format!(
                "more than {MAX_LOGICAL} EBRs; the rest of the chain is ignored"
            ));
            return Ok(());
        }
        if this >= disk_sectors {
            findings.push(format!(
                "EBR at sector {this} lies beyond the end of the disk ({disk_sectors} sectors): image truncated?"
            ));
            return Ok(());
        }
        let ebr = disk.read_vec(this * SECTOR, SECTOR as usize)?;
        if !has_signature(&ebr) {
            // An extended partition with no logical partitions need not have an EBR.
            if this != first {
                findings.push(format!(
                    "EBR at sector {this} has no 0x55AA signature; chain ends there"
                ));
            }
            return Ok(());
        }
        let ents = entries(&ebr);
        for (i, e) in ents.iter().enumerate() {
            if e.is_empty() || e.is_extended() {
                continue;
            }
            let offs = u64::from(e.start_lba);
            let size = u64::from(e.sectors);
            let start = this + offs;
            let inside =
                offs + size <= this_size && start >= first && start + size <= first + first_size;
            if i >= 2 && !inside {
                // The kernel ignores these; so do we.
                continue;
            }
            if parts.iter().filter(|p| p.logical).count() >= MAX_LOGICAL {
                findings.push(format!(
                    "more than {MAX_LOGICAL} logical partitions; the rest are ignored"
                ));
                return Ok(());
            }
            if !inside {
                findings.push(format!(
                    "logical partition {} (sectors {start}..{}) is not inside its extended partition",
                    *next_number,
                    start + size
                ));
            }
            parts.push(partition(*next_number, e, start, true));
            *next_number += 1;
        }
        match ents.iter().find(|e| !e.is_empty() && e.is_extended()) {
            Some(link) => {
                this = first + u64::from(link.start_lba);
                this_size = u64::from(link.sectors);
            }
            None => return Ok(()),
        }
    }
}
