//! The hosted sparse extent header (`KDMV`; VMware "Virtual Disk Format 1.1",
//! "Hosted Sparse Extent Header"), validated as qemu's `vmdk_open_vmdk4` does.

use super::FMT;
use crate::bytes::{le16, le32, le64};
use crate::{Error, Result};

/// Magic of a hosted sparse extent (`KDMV` read big-endian).
pub const MAGIC: &[u8; 4] = b"KDMV";
/// Magic of an ESX sparse extent (`COWD`), not supported.
pub const COWD_MAGIC: &[u8; 4] = b"COWD";
/// Bytes of the header structure.
pub const HEADER_SIZE: usize = 512;
/// `gdOffset` value saying the grain directory is found through the footer.
pub const GD_AT_END: u64 = 0xffff_ffff_ffff_ffff;

/// Header flags.
pub const FLAG_VALID_NEWLINE_TEST: u32 = 1 << 0;
pub const FLAG_REDUNDANT_GT: u32 = 1 << 1;
pub const FLAG_ZERO_GRAIN: u32 = 1 << 2;
pub const FLAG_COMPRESSED: u32 = 1 << 16;
pub const FLAG_MARKERS: u32 = 1 << 17;

/// `compressAlgorithm` values.
pub const COMPRESSION_NONE: u16 = 0;
pub const COMPRESSION_DEFLATE: u16 = 1;

/// qemu: "0x200000 * 512Bytes = 1GB for one cluster is unrealistic".
pub const MAX_GRAIN_SECTORS: u64 = 0x20_0000;
/// qemu: "L2 table size too big".
pub const MAX_GTES_PER_GT: u32 = 512;

/// The parsed header (all sizes in 512-byte sectors, as stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseHeader {
    pub version: u32,
    pub flags: u32,
    /// Guest size in sectors.
    pub capacity: u64,
    /// Grain size in sectors.
    pub grain_sectors: u64,
    pub desc_offset: u64,
    pub desc_size: u64,
    pub num_gtes_per_gt: u32,
    pub rgd_offset: u64,
    pub gd_offset: u64,
    /// `overHead`: sectors before the first grain.
    pub grain_offset: u64,
    pub unclean_shutdown: bool,
    pub compress_algorithm: u16,
}

impl SparseHeader {
    /// Parse the header in `b` (which starts with the magic), read at file `offset`.
    pub fn parse(b: &[u8], offset: u64) -> Result<SparseHeader> {
        if b.len() < 79 || !b.starts_with(MAGIC) {
            return Err(Error::corrupt(
                FMT,
                "sparse extent header",
                offset,
                "no KDMV magic",
            ));
        }
        Ok(SparseHeader {
            version: le32(b, 4),
            flags: le32(b, 8),
            capacity: le64(b, 12),
            grain_sectors: le64(b, 20),
            desc_offset: le64(b, 28),
            desc_size: le64(b, 36),
            num_gtes_per_gt: le32(b, 44),
            rgd_offset: le64(b, 48),
            gd_offset: le64(b, 56),
            grain_offset: le64(b, 64),
            unclean_shutdown: b.get(72).copied().unwrap_or(0) != 0,
            compress_algorithm: le16(b, 77),
        })
    }

    /// Check the fields the reader relies on (qemu `vmdk_open_vmdk4` and
    /// `vmdk_add_extent`), against a file of `file_size` bytes.
    pub fn validate(&self, offset: u64, file_size: u64) -> Result<()> {
        let bad = |field_at: u64, detail: String| {
            Err(Error::corrupt(
                FMT,
                "sparse extent header",
                offset + field_at,
                detail,
            ))
        };
        if self.version > 3 {
            return Err(Error::unsupported(
                FMT,
                format!("sparse extent version {}", self.version),
            ));
        }
        match self.compress_algorithm {
            COMPRESSION_NONE | COMPRESSION_DEFLATE => {}
            c => {
                return Err(Error::unsupported(
                    FMT,
                    format!("compression algorithm {c}"),
                ))
            }
        }
        if self.num_gtes_per_gt == 0 || self.num_gtes_per_gt > MAX_GTES_PER_GT {
            return bad(
                44,
                format!(
                    "{} grain table entries per grain table (must be 1..={MAX_GTES_PER_GT})",
                    self.num_gtes_per_gt
                ),
            );
        }
        if self.grain_sectors == 0 || self.grain_sectors > MAX_GRAIN_SECTORS {
            return bad(
                20,
                format!(
                    "grain size of {} sectors (must be 1..={MAX_GRAIN_SECTORS})",
                    self.grain_sectors
                ),
            );
        }
        if self.capacity.checked_mul(512).is_none() {
            return bad(
                12,
                format!("capacity of {} sectors overflows", self.capacity),
            );
        }
        if self.gd_offset == GD_AT_END {
            return bad(56, "the grain directory offset is still 'at end'".into());
        }
        if self.gd_offset.checked_mul(512).is_none() || (self.gd_offset == 0 && self.capacity > 0) {
            return bad(
                56,
                format!("grain directory offset {:#x} is invalid", self.gd_offset),
            );
        }
        // qemu: "File truncated, expecting at least N bytes".
        let file_sectors = file_size.div_ceil(512);
        if self.grain_offset > file_sectors {
            return Err(Error::corrupt(
                FMT,
                "sparse extent header",
                offset + 64,
                format!(
                    "the first grain is at sector {}, past the end of the file ({file_size} bytes): the file is truncated",
                    self.grain_offset
                ),
            ));
        }
        Ok(())
    }

    /// Grain size in bytes.
    pub fn grain_size(&self) -> u64 {
        self.grain_sectors * 512
    }

    /// Guest bytes covered by one grain table.
    pub fn gt_coverage(&self) -> u64 {
        self.grain_size() * u64::from(self.num_gtes_per_gt)
    }

    /// Entries of the grain directory needed for the capacity.
    pub fn gd_entries(&self) -> u64 {
        (self.capacity * 512).div_ceil(self.gt_coverage())
    }

    /// Whether grains are deflate-compressed (qemu decides by `compressAlgorithm`).
    pub fn compressed(&self) -> bool {
        self.compress_algorithm == COMPRESSION_DEFLATE
    }

    /// Whether compressed grains start with a grain marker.
    pub fn has_markers(&self) -> bool {
        self.flags & FLAG_MARKERS != 0
    }

    /// Whether grain table entry 1 means a zeroed grain.
    pub fn has_zero_grain(&self) -> bool {
        self.flags & FLAG_ZERO_GRAIN != 0
    }
}
