//! The GUID partition table (UEFI 2.10 §5.3): header at LBA 1 with its CRC32,
//! the partition entry array with its CRC32, and the backup header at the last LBA
//! (used, with a finding, when the primary is damaged).
//!
//! Bounds on hostile input: entry size 128..=4096 and a multiple of 8, the entry
//! array at most [`MAX_ENTRY_ARRAY`] bytes, every LBA checked against the disk size.

use super::types::{gpt_type_name, guid_string};
use super::Partition;
use crate::Result;
use imgport_disk::bytes::{le32, le64};
use imgport_disk::{ReadAt, ReadAtExt};

/// Largest partition entry array read (UEFI's usual one is 128 × 128 = 16 KiB).
pub const MAX_ENTRY_ARRAY: u64 = 1 << 20;
const SIGNATURE: &[u8; 8] = b"EFI PART";
/// "Legacy BIOS bootable" attribute bit.
const ATTR_LEGACY_BOOTABLE: u64 = 1 << 2;

/// The fields of a GPT header we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptHeader {
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub disk_guid: String,
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
    pub entries_crc: u32,
}

/// Whether the sector at `lba` starts with the GPT signature.
pub fn has_signature_at(disk: &dyn ReadAt, lba: u64, sector: u64) -> Result<bool> {
    let off = match lba.checked_mul(sector) {
        Some(o) if o.saturating_add(8) <= disk.size() => o,
        _ => return Ok(false),
    };
    Ok(disk.read_vec(off, 8)? == SIGNATURE)
}

/// Read and check the header at `lba`; `Ok(Err(reason))` when it is not valid.
pub fn read_header(
    disk: &dyn ReadAt,
    lba: u64,
    sector: u64,
) -> Result<std::result::Result<GptHeader, String>> {
    let disk_sectors = disk.size() / sector;
    if lba >= disk_sectors {
        return Ok(Err(format!(
            "LBA {lba} is beyond the end of the disk ({disk_sectors} sectors)"
        )));
    }
    let buf = disk.read_vec(lba * sector, sector as usize)?;
    Ok(parse_header(&buf, lba, disk_sectors))
}

fn parse_header(buf: &[u8], lba: u64, disk_sectors: u64) -> std::result::Result<GptHeader, String> {
    if buf.get(..8) != Some(&SIGNATURE[..]) {
        return Err(format!("no \"EFI PART\" signature at LBA {lba}"));
    }
    let header_size = le32(buf, 12) as usize;
    if header_size < 92 || header_size > buf.len() {
        return Err(format!(
            "header size {header_size} is not in 92..={}",
            buf.len()
        ));
    }
    let stored_crc = le32(buf, 16);
    let mut h = crc32fast::Hasher::new();
    h.update(buf.get(..16).unwrap_or_default());
    h.update(&[0; 4]);
    h.update(buf.get(20..header_size).unwrap_or_default());
    let crc = h.finalize();
    if crc != stored_crc {
        return Err(format!(
            "header CRC32 {stored_crc:#010x} does not match the computed {crc:#010x}"
        ));
    }
    let mut guid = [0u8; 16];
    guid.copy_from_slice(buf.get(56..72).unwrap_or(&[0; 16]));
    let hdr = GptHeader {
        my_lba: le64(buf, 24),
        alternate_lba: le64(buf, 32),
        first_usable: le64(buf, 40),
        last_usable: le64(buf, 48),
        disk_guid: guid_string(&guid),
        entries_lba: le64(buf, 72),
        entry_count: le32(buf, 80),
        entry_size: le32(buf, 84),
        entries_crc: le32(buf, 88),
    };
    if hdr.my_lba != lba {
        return Err(format!(
            "header at LBA {lba} says it is at LBA {}",
            hdr.my_lba
        ));
    }
    if !(128..=4096).contains(&hdr.entry_size) || hdr.entry_size & 7 != 0 {
        return Err(format!(
            "partition entry size {} is not 128..=4096 and a multiple of 8",
            hdr.entry_size
        ));
    }
    let array = u64::from(hdr.entry_count) * u64::from(hdr.entry_size);
    if array > MAX_ENTRY_ARRAY {
        return Err(format!(
            "partition entry array of {} × {} bytes is over the limit of {MAX_ENTRY_ARRAY}",
            hdr.entry_count, hdr.entry_size
        ));
    }
    if hdr.first_usable > hdr.last_usable.saturating_add(1) || hdr.last_usable >= disk_sectors {
        return Err(format!(
            "usable LBAs {}..={} do not fit a disk of {disk_sectors} sectors",
            hdr.first_usable, hdr.last_usable
        ));
    }
    Ok(hdr)
}

/// Read the entry array of `hdr` and check its CRC; `Ok(Err(reason))` when bad.
pub fn read_entries(
    disk: &dyn ReadAt,
    hdr: &GptHeader,
    sector: u64,
) -> Result<std::result::Result<Vec<u8>, String>> {
    let len = u64::from(hdr.entry_count) * u64::from(hdr.entry_size);
    let off = hdr.entries_lba.checked_mul(sector);
    match off.and_then(|o| o.checked_add(len)) {
        Some(end) if end <= disk.size() => {}
        _ => {
            return Ok(Err(format!(
                "partition entry array at LBA {} ({len} bytes) is beyond the end of the disk",
                hdr.entries_lba
            )))
        }
    }
    let array = disk.read_vec(hdr.entries_lba * sector, len as usize)?;
    let crc = crc32fast::hash(&array);
    if crc != hdr.entries_crc {
        return Ok(Err(format!(
            "partition entry array CRC32 {:#010x} does not match the computed {crc:#010x}",
            hdr.entries_crc
        )));
    }
    Ok(Ok(array))
}

/// The used entries of a checked entry array, numbered by index + 1.
pub fn partitions(
    hdr: &GptHeader,
    array: &[u8],
    sector: u64,
    disk_sectors: u64,
    findings: &mut Vec<String>,
) -> Vec<Partition> {
    let mut parts = Vec::new();
    for (i, e) in array.chunks_exact(hdr.entry_size as usize).enumerate() {
        let mut type_guid = [0u8; 16];
        let mut part_guid = [0u8; 16];
        type_guid.copy_from_slice(e.get(..16).unwrap_or(&[0; 16]));
        part_guid.copy_from_slice(e.get(16..32).unwrap_or(&[0; 16]));
        if type_guid == [0; 16] {
            continue;
        }
        let number = i as u32 + 1;
        let (first, last) = (le64(e, 32), le64(e, 40));
        if last < first {
            findings.push(format!(
                "GPT entry {number}: last LBA {last} is before first LBA {first}; ignored"
            ));
            continue;
        }
        if first < hdr.first_usable || last > hdr.last_usable {
            findings.push(format!(
                "GPT partition {number} (LBA {first}..={last}) is outside the usable LBAs {}..={}",
                hdr.first_usable, hdr.last_usable
            ));
        }
        if last >= disk_sectors {
            findings.push(format!(
                "GPT partition {number} ends at LBA {last}, beyond the end of the disk ({disk_sectors} sectors)"
            ));
        }
        let name: Vec<u16> = e
            .get(56..128)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        let type_id = guid_string(&type_guid);
        parts.push(Partition {
            number,
            // Both fit: LBAs are below disk_sectors or saturate; size uses the
            // checked difference.
            start: first.saturating_mul(sector),
            size: (last - first).saturating_add(1).saturating_mul(sector),
            type_name: gpt_type_name(&type_id).to_string(),
            type_id,
            bootable: le64(e, 48) & ATTR_LEGACY_BOOTABLE != 0,
            logical: false,
            name: Some(String::from_utf16_lossy(&name)),
            guid: Some(guid_string(&part_guid)),
        });
    }
    parts
}
