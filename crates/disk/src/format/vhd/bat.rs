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

/// Each allocated block (bitmap and data, `span` bytes from its sector) must have
/// the file to itself (issue 18 item 8; R-FMT): two BAT entries naming one block, or
/// blocks that overlap each other, the footer copy at 0, the dynamic header or the BAT,
/// would let a small file present a large disk of repeated data, which no VHD writer
/// produces. Sorting the sectors (4 bytes per block, as the BAT itself) finds them.
fn check_no_overlap(entries: &[u32], span: u64, hdr: &DynamicHeader, table_end: u64) -> Result<()> {
    let mut starts: Vec<u32> = entries
        .iter()
        .copied()
        .filter(|&e| e != UNALLOCATED)
        .collect();
    starts.sort_unstable();
    let index_of = |s: u32| entries.iter().position(|&e| e == s).unwrap_or(0);
    let metadata = [
        (0u64, 512u64, "the footer copy"),
        (hdr.offset, hdr.offset + 1024, "the dynamic disk header"),
        (hdr.table_offset, table_end, "the BAT"),
    ];
    let mut prev: Option<(u64, u32)> = None;
    for &s in &starts {
        let start = u64::from(s) * 512;
        let end = start + span;
        if let Some((prev_end, p)) = prev {
            if start < prev_end {
                let (i, j) = (index_of(p), index_of(s));
                let what = if p == s {
                    format!(
                        "BAT entries {i} and {} both name the block at {start:#x}",
                        entries
                            .iter()
                            .enumerate()
                            .filter(|(_, &e)| e == s)
                            .nth(1)
                            .map_or(j, |(k, _)| k)
                    )
                } else {
                    format!(
                        "the blocks of BAT entries {i} (at {:#x}) and {j} (at {start:#x}) overlap",
                        u64::from(p) * 512
                    )
                };
                return Err(Error::corrupt(FMT, "BAT", hdr.table_offset, format!("{what}: each block must have its own place in the file (a disk of repeated blocks from a small file)")));
            }
        }
        if let Some((_, _, name)) = metadata.iter().find(|(a, b, _)| start < *b && *a < end) {
            return Err(Error::corrupt(
                FMT,
                "BAT entry",
                hdr.table_offset + 4 * index_of(s) as u64,
                format!("the block at {start:#x} overlaps {name}"),
            ));
        }
        prev = Some((end, s));
    }
    Ok(())
}

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
        let table_end = table_end.unwrap_or(file_size);
        check_no_overlap(&entries, bitmap_size + block_size, hdr, table_end)?;
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
