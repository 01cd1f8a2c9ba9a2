//! The VHD dynamic disk header (`cxsparse`; VHD spec "Dynamic Disk Header Format"),
//! validated as qemu's `vpc_open` does.

use super::footer::checksum;
use super::FMT;
use crate::bytes::{be32, be64};
use crate::source::{ReadAt, ReadAtExt};
use crate::{Error, Result};

/// Size of the dynamic disk header.
pub const HEADER_SIZE: usize = 1024;
const COOKIE: &[u8; 8] = b"cxsparse";

/// The parsed dynamic disk header.
#[derive(Debug, Clone)]
pub struct DynamicHeader {
    pub offset: u64,
    /// Offset of the Block Allocation Table.
    pub table_offset: u64,
    pub header_version: u32,
    pub max_table_entries: u32,
    /// Bytes of guest data per block (a power of two ≥ 512).
    pub block_size: u32,
    /// Whether the stored checksum matches (qemu does not check it).
    pub checksum_ok: bool,
    /// Whether any parent locator entry is filled in (differencing disks).
    pub has_parent_locator: bool,
}

impl DynamicHeader {
    /// Read and validate the header at `offset` (the footer's data offset).
    pub fn read(src: &dyn ReadAt, offset: u64) -> Result<DynamicHeader> {
        let file_size = src.size();
        if offset
            .checked_add(HEADER_SIZE as u64)
            .is_none_or(|e| e > file_size)
        {
            return Err(Error::corrupt(
                FMT,
                "dynamic disk header",
                offset,
                format!("{HEADER_SIZE} bytes at {offset:#x} lie past the end of the file ({file_size} bytes): the file is truncated or the footer's data offset is wrong"),
            ));
        }
        let b = src.read_vec(offset, HEADER_SIZE)?;
        if !b.starts_with(COOKIE) {
            return Err(Error::corrupt(
                FMT,
                "dynamic disk header",
                offset,
                "no 'cxsparse' cookie",
            ));
        }
        let block_size = be32(&b, 32);
        if !block_size.is_power_of_two() || block_size < 512 {
            return Err(Error::corrupt(
                FMT,
                "dynamic disk header",
                offset + 32,
                format!("block size {block_size} is not a power of two of at least 512"),
            ));
        }
        // Parent locators: 8 entries of 24 bytes at 576; a platform code marks one in use.
        let has_parent_locator = (0..8).any(|i| be32(&b, 576 + 24 * i) != 0);
        Ok(DynamicHeader {
            offset,
            table_offset: be64(&b, 16),
            header_version: be32(&b, 24),
            max_table_entries: be32(&b, 28),
            block_size,
            checksum_ok: checksum(&b, 36) == be32(&b, 36),
            has_parent_locator,
        })
    }

    /// Size of the sector bitmap stored before each block (qemu: `bitmap_size`).
    pub fn bitmap_size(&self) -> u64 {
        (u64::from(self.block_size) / (8 * 512)).div_ceil(512) * 512
    }
}
