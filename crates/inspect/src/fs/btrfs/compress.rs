//! Decompression of btrfs extents: zlib (one zlib stream), zstd (one frame) and
//! LZO (btrfs's framing: a 4-byte total length, then per-sector segments of a
//! 4-byte length and an LZO1X block, a segment header never straddling a
//! sector boundary). Output is capped at the extent's `ram_bytes`, itself
//! capped at 128 KiB as the kernel writes them (inline extents: one node).

use super::items::{COMPRESS_LZO, COMPRESS_ZLIB, COMPRESS_ZSTD};
use crate::{Error, Result};
use imgport_disk::bytes::le32;
use std::io::Read;

/// `BTRFS_MAX_UNCOMPRESSED`.
pub(super) const MAX_RAM_BYTES: u64 = 128 * 1024;

fn bad(what: &str, d: impl std::fmt::Display) -> Error {
    Error::corrupt("btrfs compressed extent", 0, format!("{what}: {d}"))
}

/// Decompress `data` into at most `ram_bytes` bytes (zero-padded to `ram_bytes`).
pub(super) fn decompress(
    compression: u8,
    data: &[u8],
    ram_bytes: u64,
    sector: u32,
) -> Result<Vec<u8>> {
    if ram_bytes > MAX_RAM_BYTES {
        return Err(bad("size", format!("{ram_bytes} uncompressed bytes")));
    }
    let ram = ram_bytes as usize;
    let mut out = Vec::with_capacity(ram);
    match compression {
        COMPRESS_ZLIB => {
            flate2::read::ZlibDecoder::new(data)
                .take(ram_bytes)
                .read_to_end(&mut out)
                .map_err(|e| bad("zlib", e))?;
        }
        COMPRESS_ZSTD => {
            imgport_disk::codec::zstd_frame(data)
                .map_err(|e| bad("zstd", e))?
                .take(ram_bytes)
                .read_to_end(&mut out)
                .map_err(|e| bad("zstd", e))?;
        }
        COMPRESS_LZO => lzo(data, ram, sector as usize, &mut out)?,
        c => return Err(bad("compression", c)),
    }
    out.resize(ram, 0);
    Ok(out)
}

fn lzo(data: &[u8], ram: usize, sector: usize, out: &mut Vec<u8>) -> Result<()> {
    if data.len() < 4 {
        return Err(bad("lzo", "no header"));
    }
    let total = le32(data, 0) as usize;
    if total < 4 || total > data.len() {
        return Err(bad(
            "lzo",
            format!("total length {total} of {} bytes", data.len()),
        ));
    }
    let mut pos = 4usize;
    let mut seg = vec![0u8; sector];
    while pos < total && out.len() < ram {
        // A segment header does not straddle a sector boundary.
        let left_in_sector = sector - pos % sector;
        if left_in_sector < 4 {
            pos += left_in_sector;
            continue;
        }
        if pos + 4 > total {
            return Err(bad("lzo", format!("segment header at {pos} past the end")));
        }
        let len = le32(data, pos) as usize;
        pos += 4;
        let chunk = data
            .get(pos..pos.saturating_add(len))
            .filter(|_| pos + len <= total);
        let chunk = chunk.ok_or_else(|| bad("lzo", format!("segment of {len} bytes at {pos}")))?;
        let n =
            ::lzo::decompress_into(chunk, &mut seg).map_err(|e| bad("lzo", format!("{e:?}")))?;
        let take = n.min(ram - out.len());
        out.extend_from_slice(&seg[..take]);
        pos += len;
    }
    Ok(())
}
