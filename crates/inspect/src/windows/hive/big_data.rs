//! Big data records (`db`, regf spec "Big data"): value data over 16344 bytes in
//! hives of format 1.4 and later is split into segments of at most 16344 bytes.
//!
//! `db` cell: signature(2), number of segments(2), offset of the segments list(4).
//! The segments list is a cell of `u32` cell offsets.

use super::key_value::BIG_DATA_THRESHOLD;
use super::Hive;
use crate::{Error, Result};

/// Assemble `len` bytes from the `db` record `cell` (at file offset `file_off`).
pub fn read(hive: &Hive, cell: &[u8], file_off: u64, len: usize) -> Result<Vec<u8>> {
    const WHAT: &str = "db (big data)";
    let count = cell
        .get(2..4)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
        .unwrap_or(0);
    let list_off = cell
        .get(4..8)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .ok_or_else(|| Error::corrupt(WHAT, file_off, "cell too small"))?;
    if count.saturating_mul(BIG_DATA_THRESHOLD) < len {
        return Err(Error::corrupt(
            WHAT,
            file_off,
            format!("{count} segments cannot hold {len} bytes"),
        ));
    }
    let list = hive.cell(list_off, "db segments list")?;
    let offsets = list.get(..count * 4).ok_or_else(|| {
        Error::corrupt(
            "db segments list",
            hive.file_offset(list_off),
            format!("{count} segments do not fit a {}-byte cell", list.len()),
        )
    })?;
    let mut out = Vec::with_capacity(len);
    for c in offsets.chunks_exact(4) {
        let remaining = len - out.len();
        if remaining == 0 {
            break;
        }
        let seg_off = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let seg = hive.cell(seg_off, "db segment")?;
        let take = remaining.min(BIG_DATA_THRESHOLD);
        let bytes = seg.get(..take).ok_or_else(|| {
            Error::corrupt(
                "db segment",
                hive.file_offset(seg_off),
                format!("segment holds {} bytes, {take} needed", seg.len()),
            )
        })?;
        out.extend_from_slice(bytes);
    }
    if out.len() != len {
        return Err(Error::corrupt(
            WHAT,
            file_off,
            format!("segments hold {} of {len} bytes", out.len()),
        ));
    }
    Ok(out)
}
