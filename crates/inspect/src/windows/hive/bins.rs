//! Hive bins (`hbin`) and the cells inside them (regf spec, "Hive bins" and
//! "Cells").
//!
//! A hive bin is a 32-byte header (`hbin`, its offset relative to the first bin,
//! its size, a multiple of 4096) followed by cells. A cell is an `i32` size
//! (negative: allocated) and its data; the size includes the size field. Cell
//! offsets in the hive are relative to the first bin (file offset 4096). A cell
//! must lie wholly inside one bin; we check that on every access.

use super::base_block::BASE_BLOCK_SIZE;
use crate::{Error, Result};

/// Size of an hbin header.
const HBIN_HEADER_SIZE: u32 = 32;
/// Hive bins are multiples of this.
const HBIN_ALIGN: u32 = 4096;

/// The bins of a hive: `(start, end)` relative offsets, sorted, contiguous.
#[derive(Debug, Clone)]
pub struct Bins {
    bins: Vec<(u32, u32)>,
    /// The bins stopped early (data after them is not a hive bin).
    pub truncated: bool,
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    imgport_disk::bytes::short::get(b, at).map(u32::from_le_bytes)
}

impl Bins {
    /// Index the bins in `data` (the whole hive file), up to `claimed` bytes of
    /// bins (the base block's size) or the end of the file, whichever is first.
    pub fn scan(data: &[u8], claimed: u32) -> Result<Bins> {
        let avail = data.len().saturating_sub(BASE_BLOCK_SIZE);
        let avail = u32::try_from(avail).unwrap_or(u32::MAX);
        let limit = claimed.min(avail);
        let mut bins = Vec::new();
        let mut pos: u32 = 0;
        let mut truncated = claimed > avail;
        while pos < limit {
            let file_off = BASE_BLOCK_SIZE + pos as usize;
            let hdr = data.get(file_off..file_off + HBIN_HEADER_SIZE as usize);
            let Some(hdr) = hdr.filter(|h| h.get(..4) == Some(b"hbin".as_slice())) else {
                truncated = true;
                break;
            };
            let self_off = le32(hdr, 4).unwrap_or(u32::MAX);
            let size = le32(hdr, 8).unwrap_or(0);
            if self_off != pos {
                return Err(Error::corrupt(
                    "hbin",
                    file_off as u64,
                    format!("offset field says {self_off:#x}, bin is at {pos:#x}"),
                ));
            }
            if size < HBIN_ALIGN || size & (HBIN_ALIGN - 1) != 0 {
                return Err(Error::corrupt(
                    "hbin",
                    file_off as u64,
                    format!("size {size:#x} is not a positive multiple of 4096"),
                ));
            }
            let end = pos.checked_add(size).filter(|&e| e <= avail);
            let Some(end) = end else {
                // The last bin runs off the end of the file.
                truncated = true;
                break;
            };
            bins.push((pos, end));
            pos = end;
        }
        if bins.is_empty() {
            return Err(Error::corrupt(
                "hbin",
                BASE_BLOCK_SIZE as u64,
                "the hive has no hive bins",
            ));
        }
        Ok(Bins { bins, truncated })
    }

    /// Bytes of hive bins indexed.
    pub fn bins_size(&self) -> u32 {
        self.bins.last().map(|b| b.1).unwrap_or(0)
    }

    /// Number of bins.
    pub fn count(&self) -> usize {
        self.bins.len()
    }

    fn bin_of(&self, off: u32) -> Option<(u32, u32)> {
        let i = self.bins.partition_point(|&(start, _)| start <= off);
        let bin = *self.bins.get(i.checked_sub(1)?)?;
        (off < bin.1).then_some(bin)
    }

    /// The data of the allocated cell at relative offset `off` (without its size
    /// field), checked to lie inside one bin. `structure` names what the caller
    /// expects there, for the error.
    pub fn cell<'d>(&self, data: &'d [u8], off: u32, structure: &'static str) -> Result<&'d [u8]> {
        let file_off = BASE_BLOCK_SIZE as u64 + u64::from(off);
        let bad = |detail: String| Error::corrupt(structure, file_off, detail);
        let (start, end) = self
            .bin_of(off)
            .ok_or_else(|| bad(format!("cell offset {off:#x} is outside the hive bins")))?;
        if off < start + HBIN_HEADER_SIZE || off & 3 != 0 {
            return Err(bad(format!("cell offset {off:#x} is not a cell start")));
        }
        let base = BASE_BLOCK_SIZE + off as usize;
        let raw = le32(data, base).ok_or_else(|| bad("cell size unreadable".into()))? as i32;
        if raw >= 0 {
            return Err(bad(format!("cell at {off:#x} is free (size {raw})")));
        }
        let size = raw.unsigned_abs();
        if size < 8 || u64::from(off) + u64::from(size) > u64::from(end) {
            return Err(bad(format!(
                "cell size {size} at {off:#x} does not fit its hive bin ({start:#x}..{end:#x})"
            )));
        }
        data.get(base + 4..base + size as usize)
            .ok_or_else(|| bad("cell runs past the end of the file".into()))
    }
}
