//! The VHD Block Allocation Table (VHD spec "Block Allocation Table and Data Blocks"):
//! one big-endian sector number per block, `0xFFFFFFFF` for an unallocated block. Each
//! allocated block is a sector bitmap followed by the block's data.

use super::dynamic_header::DynamicHeader;
use super::FMT;
use crate::source::{ReadAt, ReadAtExt};
use crate::{Error, Result};

/// Marks an unallocated block.
pub const UNALLOCATED: u32 = 0xffff_ffff;
/// At most this many BAT entries are kept in memory (64 MiB); 2040 GiB at the default
/// 2 MiB block size needs about 1 M.
pub const MAX_ENTRIES: u64 = 16 << 20;

/// The BAT entries that cover the guest disk, each checked to lie inside the file.
#[derive(Debug)]
pub struct Bat {
    entries: Vec<u32>,
    /// Where each allocated block's data starts: entry × 512 + bitmap size.
    bitmap_size: u64,
    block_size: u64,
}

impl Bat {
    /// Read the BAT of `hdr` for a guest of `virtual_size` bytes, validating it as
    /// qemu's `vpc_open` does (table large enough, inside the file, no block past EOF).
    pub fn read(src: &dyn ReadAt, hdr: &DynamicHeader, virtual_size: u64) -> Result<Bat> {
        let file_size = src.size();
        let block_size = u64::from(hdr.block_size);
        let max = u64::from(hdr.max_table_entries);
        let needed = virtual_size.div_ceil(block_size);
        if needed > 0xffff_ffff {
            return Err(Error::corrupt(
                FMT,
                "dynamic disk header",
                hdr.offset + 28,
                format!("{needed} blocks needed for the virtual size: too many"),
            ));
        }
        if max * block_size < virtual_size {
            return Err(Error::corrupt(
                FMT,
                "dynamic disk header",
                hdr.offset + 28,
                format!(
                    "{max} BAT entries of {block_size} bytes cannot map the virtual size of {virtual_size} bytes"
                ),
            ));
        }
        if max > (i32::MAX as u64) / 4 {
            return Err(Error::corrupt(
                FMT,
                "dynamic disk header",
                hdr.offset + 28,
                format!("max table entries {max} is too large"),
            ));
        }
        // qemu: the table, rounded up to a sector, must lie inside the file.
        let table_end = hdr
            .table_offset
            .checked_add(max * 4)
            .map(|e| e.div_ceil(512) * 512);
        if table_end.is_none_or(|e| e > file_size) {
            return Err(Error::corrupt(
                FMT,
                "BAT",
                hdr.table_offset,
                format!("{max} entries at {:#x} extend past the end of the file ({file_size} bytes): the file is truncated", hdr.table_offset),
            ));
        }
        if needed > MAX_ENTRIES {
            return Err(Error::limit("VHD BAT entries", needed, MAX_ENTRIES));
        }
        // Validate every entry qemu validates (up to the cap), keep those that map the guest.
        let count = max.min(MAX_ENTRIES);
        let raw = src.read_vec(hdr.table_offset, count as usize * 4)?;
        let mut entries: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap_or([0xff; 4])))
            .collect();
        let bitmap_size = hdr.bitmap_size();
        for (i, &e) in entries.iter().enumerate() {
            if e == UNALLOCATED {
                continue;
            }
            let end = u64::from(e) * 512 + bitmap_size + block_size;
            if end > file_size {
                return Err(Error::corrupt(
                    FMT,
                    "BAT entry",
                    hdr.table_offset + 4 * i as u64,
                    format!("block {i} at {:#x} ends at {end:#x}, past the end of the file ({file_size} bytes): the file is truncated", u64::from(e) * 512),
                ));
            }
        }
        entries.truncate(needed as usize);
        Ok(Bat {
            entries,
            bitmap_size,
            block_size,
        })
    }

    /// The file offset of guest offset `guest`'s data, or `None` when its block is not
    /// allocated (reads as zeros).
    pub fn host_offset(&self, guest: u64) -> Option<u64> {
        let idx = usize::try_from(guest / self.block_size).ok()?;
        match self.entries.get(idx).copied() {
            None | Some(UNALLOCATED) => None,
            Some(e) => Some(u64::from(e) * 512 + self.bitmap_size + guest % self.block_size),
        }
    }

    /// Number of allocated blocks.
    pub fn allocated(&self) -> usize {
        self.entries.iter().filter(|&&e| e != UNALLOCATED).count()
    }
}
