//! Grain directory and grain tables (VMware "Virtual Disk Format 1.1", "Grain
//! Directory and Grain Table"): little-endian sector numbers, two levels, as qemu's
//! `get_cluster_offset` reads them (the redundant directory is ignored).

use super::sparse_header::SparseHeader;
use super::FMT;
use crate::source::{ReadAt, ReadAtExt};
use crate::{Error, Result};

/// Grain table entry meaning "zeroed grain" when the header's zero-grain flag is set.
pub const GTE_ZEROED: u32 = 1;
/// At most this many grain directory entries are kept in memory (64 MiB); 2 TiB with
/// the default 64 KiB grains and 512-entry tables needs 64 Ki.
pub const MAX_GD_ENTRIES: u64 = 16 << 20;

/// What one grain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrainKind {
    /// Not allocated: reads as zeros.
    Unallocated,
    /// Zeroed grain (GTE 1 with the zero-grain flag).
    Zero,
    /// Uncompressed grain at this file offset.
    Normal(u64),
    /// Compressed grain (its grain marker first when markers are on) at this offset.
    Compressed(u64),
}

/// Decode a grain table entry (qemu `get_cluster_offset`).
pub fn decode(gte: u32, hdr: &SparseHeader) -> GrainKind {
    match gte {
        0 => GrainKind::Unallocated,
        GTE_ZEROED if hdr.has_zero_grain() => GrainKind::Zero,
        s if hdr.compressed() => GrainKind::Compressed(u64::from(s) * 512),
        s => GrainKind::Normal(u64::from(s) * 512),
    }
}

/// The grain directory: for each grain table, its sector (0 = not allocated).
#[derive(Debug)]
pub struct GrainDirectory {
    /// File offset of the directory.
    pub offset: u64,
    pub entries: Vec<u32>,
    /// Bytes of one grain table.
    pub gt_bytes: u64,
}

impl GrainDirectory {
    /// Read the directory of `hdr`, checking that it and every grain table it names lie
    /// inside the file.
    pub fn read(src: &dyn ReadAt, hdr: &SparseHeader) -> Result<GrainDirectory> {
        let file_size = src.size();
        let count = hdr.gd_entries();
        let offset = hdr.gd_offset * 512;
        if count > MAX_GD_ENTRIES {
            return Err(Error::limit(
                "VMDK grain directory entries",
                count,
                MAX_GD_ENTRIES,
            ));
        }
        let bytes = count * 4;
        if offset.checked_add(bytes).is_none_or(|e| e > file_size) {
            return Err(Error::corrupt(
                FMT,
                "grain directory",
                offset,
                format!("{count} entries at {offset:#x} extend past the end of the file ({file_size} bytes): the file is truncated"),
            ));
        }
        let raw = src.read_vec(offset, bytes as usize)?;
        let entries: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
            .collect();
        let gt_bytes = u64::from(hdr.num_gtes_per_gt) * 4;
        for (i, &e) in entries.iter().enumerate() {
            let gt = u64::from(e) * 512;
            if e != 0 && gt + gt_bytes > file_size {
                return Err(Error::corrupt(
                    FMT,
                    "grain directory entry",
                    offset + 4 * i as u64,
                    format!("grain table {i} at {gt:#x} lies past the end of the file ({file_size} bytes): the file is truncated"),
                ));
            }
        }
        Ok(GrainDirectory {
            offset,
            entries,
            gt_bytes,
        })
    }

    /// The file offset of grain table `i`, or `None` when it is not allocated.
    pub fn table_offset(&self, i: usize) -> Option<u64> {
        match self.entries.get(i).copied() {
            None | Some(0) => None,
            Some(e) => Some(u64::from(e) * 512),
        }
    }

    /// Read the grain table at `offset` (checked against the file at open).
    pub fn read_table(&self, src: &dyn ReadAt, offset: u64) -> Result<Vec<u32>> {
        let raw = src.read_vec(offset, self.gt_bytes as usize)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(flags: u32, compress: u16) -> SparseHeader {
        SparseHeader {
            version: 1,
            flags,
            capacity: 2048,
            grain_sectors: 128,
            desc_offset: 1,
            desc_size: 20,
            num_gtes_per_gt: 512,
            rgd_offset: 0,
            gd_offset: 21,
            grain_offset: 128,
            unclean_shutdown: false,
            compress_algorithm: compress,
        }
    }

    #[test]
    fn decodes_entries_like_qemu() {
        let plain = hdr(0, 0);
        assert_eq!(decode(0, &plain), GrainKind::Unallocated);
        // Without the zero-grain flag, 1 is an ordinary sector number.
        assert_eq!(decode(1, &plain), GrainKind::Normal(512));
        let zg = hdr(super::super::sparse_header::FLAG_ZERO_GRAIN, 0);
        assert_eq!(decode(1, &zg), GrainKind::Zero);
        assert_eq!(decode(0x80, &zg), GrainKind::Normal(0x80 * 512));
        let comp = hdr(0, 1);
        assert_eq!(decode(0x80, &comp), GrainKind::Compressed(0x80 * 512));
    }
}
