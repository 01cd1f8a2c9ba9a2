//! The LVM2 physical volume label (`lib/label/label.h`, `lib/format_text/layout.h`):
//! `LABELONE` in one of the first four sectors, the PV header after it (UUID,
//! device size, data and metadata area lists), and each metadata area's
//! `mda_header` whose first `raw_locn` points at the current text metadata in a
//! circular buffer.
//!
//! Bounds: the label and PV header are one 512-byte sector (area lists end at the
//! sector's end at the latest); the metadata text is at most [`MAX_METADATA`] bytes.

use crate::{Error, Result};
use imgport_disk::bytes::{le32, le64};
use imgport_disk::{ReadAt, ReadAtExt};

/// Sectors searched for the label (LVM `LABEL_SCAN_SECTORS`).
pub const LABEL_SCAN_SECTORS: u64 = 4;
/// Largest metadata text read.
pub const MAX_METADATA: u64 = 1 << 20;
/// Size of the `mda_header` at the start of a metadata area.
pub const MDA_HEADER_SIZE: u64 = 512;
const SECTOR: u64 = 512;
const LABEL_ID: &[u8] = b"LABELONE";
const LVM2_LABEL: &[u8] = b"LVM2 001";
const FMTT_MAGIC: &[u8] = b" LVM2 x[5A%r0N*>";
const INITIAL_CRC: u32 = 0xf597_a6cf;
const RAW_LOCN_IGNORED: u32 = 1;

/// LVM's `calc_crc(INITIAL_CRC, …)`: the reflected CRC-32 polynomial with LVM's
/// initial value and no final inversion.
pub fn lvm_crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(!INITIAL_CRC);
    for p in parts {
        h.update(p);
    }
    !h.finalize()
}

/// An on-disk area: byte offset on the PV and size (0 = to the end of the device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Area {
    pub offset: u64,
    pub size: u64,
}

/// What the label sector says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvLabel {
    /// Sector (0–3) holding the label.
    pub sector: u64,
    /// The PV UUID in LVM's dashed form (`FgKigh-nxHK-…-SMO5bO`).
    pub uuid: String,
    pub device_size: u64,
    pub data_areas: Vec<Area>,
    pub metadata_areas: Vec<Area>,
}

/// LVM's dashed form of a 32-character id (6-4-4-4-4-4-6).
pub fn dashed_uuid(id: &str) -> String {
    let mut out = String::with_capacity(38);
    for (i, c) in id.chars().enumerate() {
        if matches!(i, 6 | 10 | 14 | 18 | 22 | 26) {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// Find and decode the label; `Ok(None)` when no sector holds `LABELONE`.
pub fn read_label(dev: &dyn ReadAt) -> Result<Option<PvLabel>> {
    for sector in 0..LABEL_SCAN_SECTORS {
        let off = sector * SECTOR;
        if off + SECTOR > dev.size() {
            break;
        }
        let buf = dev.read_vec(off, SECTOR as usize)?;
        if buf.get(..8) != Some(LABEL_ID) {
            continue;
        }
        return parse_label(&buf, sector).map(Some);
    }
    Ok(None)
}

/// Decode a label sector found at `sector`.
pub fn parse_label(buf: &[u8], sector: u64) -> Result<PvLabel> {
    let at = sector * SECTOR;
    let corrupt = |d: String| Error::corrupt("LVM label", at, d);
    if le64(buf, 8) != sector {
        return Err(corrupt(format!(
            "label says it is in sector {}, found in sector {sector}",
            le64(buf, 8)
        )));
    }
    let crc = lvm_crc(&[buf.get(20..).unwrap_or_default()]);
    if crc != le32(buf, 16) {
        return Err(corrupt(format!(
            "checksum {:#010x} does not match the computed {crc:#010x}",
            le32(buf, 16)
        )));
    }
    if buf.get(24..32) != Some(LVM2_LABEL) {
        return Err(Error::Unsupported(format!(
            "LVM label type {:?} at offset {at} (only \"LVM2 001\" is known)",
            String::from_utf8_lossy(buf.get(24..32).unwrap_or_default())
        )));
    }
    let hdr = le32(buf, 20) as usize;
    let uuid_raw = buf.get(hdr..hdr + 32).ok_or_else(|| {
        corrupt(format!(
            "PV header offset {hdr} is outside the label sector"
        ))
    })?;
    if !uuid_raw.iter().all(|c| c.is_ascii_alphanumeric()) {
        return Err(corrupt(
            "PV UUID is not 32 alphanumeric characters".to_string(),
        ));
    }
    let uuid = dashed_uuid(&String::from_utf8_lossy(uuid_raw));
    let device_size = le64(buf, hdr + 32);
    let mut pos = hdr + 40;
    let data_areas = area_list(buf, &mut pos)
        .ok_or_else(|| corrupt("data area list runs past the sector".into()))?;
    let metadata_areas = area_list(buf, &mut pos)
        .ok_or_else(|| corrupt("metadata area list runs past the sector".into()))?;
    Ok(PvLabel {
        sector,
        uuid,
        device_size,
        data_areas,
        metadata_areas,
    })
}

/// A list of `disk_locn {offset, size}` ending with a zero offset; `None` when
/// the list has no end inside `buf`.
fn area_list(buf: &[u8], pos: &mut usize) -> Option<Vec<Area>> {
    let mut out = Vec::new();
    loop {
        let b = buf.get(*pos..*pos + 16)?;
        *pos += 16;
        let (offset, size) = (le64(b, 0), le64(b, 8));
        if offset == 0 {
            return Some(out);
        }
        out.push(Area { offset, size });
    }
}

/// The current metadata text of the metadata area `mda` of `dev`; `Ok(None)` when
/// the area holds none (ignored or empty), `Err` when it is damaged.
pub fn read_metadata(dev: &dyn ReadAt, mda: Area) -> Result<Option<String>> {
    let at = mda.offset;
    let corrupt = |d: String| Error::corrupt("LVM metadata area header", at, d);
    let end = at.checked_add(mda.size).filter(|&e| e <= dev.size());
    if end.is_none() || mda.size < 2 * MDA_HEADER_SIZE {
        return Err(corrupt(format!(
            "area of {} bytes does not fit a device of {} bytes",
            mda.size,
            dev.size()
        )));
    }
    let h = dev.read_vec(at, MDA_HEADER_SIZE as usize)?;
    if h.get(4..20) != Some(FMTT_MAGIC) {
        return Err(corrupt("no mda_header magic".into()));
    }
    let crc = lvm_crc(&[h.get(4..).unwrap_or_default()]);
    if crc != le32(&h, 0) {
        return Err(corrupt(format!(
            "checksum {:#010x} does not match the computed {crc:#010x}",
            le32(&h, 0)
        )));
    }
    if le32(&h, 20) != 1 {
        return Err(Error::Unsupported(format!(
            "LVM metadata area version {} at offset {at}",
            le32(&h, 20)
        )));
    }
    if le64(&h, 24) != at {
        return Err(corrupt(format!(
            "header says the area starts at {}",
            le64(&h, 24)
        )));
    }
    let area_size = le64(&h, 32).min(mda.size);
    // raw_locns[0]: the committed metadata.
    let (offset, size, checksum, flags) = (le64(&h, 40), le64(&h, 48), le32(&h, 56), le32(&h, 60));
    if offset == 0 || size == 0 || flags & RAW_LOCN_IGNORED != 0 {
        return Ok(None);
    }
    let corrupt_text =
        |d: String| Error::corrupt("LVM metadata text", at.saturating_add(offset), d);
    if size > MAX_METADATA {
        return Err(Error::Limit {
            what: format!(
                "LVM metadata text at offset {} ({size} bytes)",
                at.saturating_add(offset)
            ),
            limit: MAX_METADATA,
        });
    }
    if offset < MDA_HEADER_SIZE || offset >= area_size {
        return Err(corrupt_text(format!(
            "offset {offset} is outside the {area_size}-byte area"
        )));
    }
    // The buffer is circular: text past the area's end continues after the header.
    let first = size.min(area_size - offset);
    let wrap = size - first;
    if wrap > offset - MDA_HEADER_SIZE {
        return Err(corrupt_text(format!(
            "{size} bytes do not fit the circular buffer"
        )));
    }
    let mut text = dev.read_vec(at + offset, first as usize)?;
    let rest = dev.read_vec(at + MDA_HEADER_SIZE, wrap as usize)?;
    let crc = lvm_crc(&[&text, &rest]);
    if crc != checksum {
        return Err(corrupt_text(format!(
            "checksum {checksum:#010x} does not match the computed {crc:#010x}"
        )));
    }
    text.extend_from_slice(&rest);
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        text.truncate(nul);
    }
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}
