//! qcow2 L2 table entries (qcow2 spec, "Cluster mapping": standard cluster descriptor
//! and compressed cluster descriptor).

const COMPRESSED: u64 = 1 << 62;
const ZERO: u64 = 1;
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Bits 1-8 and 56-61 of a standard descriptor are reserved.
const RESERVED: u64 = 0x3f00_0000_0000_01fe;

/// What one guest cluster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterKind {
    Unallocated,
    Zero,
    /// Uncompressed data at this host offset (cluster aligned).
    Normal(u64),
    /// Compressed data: host byte offset and the number of bytes to read.
    Compressed {
        offset: u64,
        size: u64,
    },
}

/// Decode an L2 entry, following qemu's `qcow2_get_cluster_type`.
pub fn decode(entry: u64, cluster_bits: u32) -> Result<ClusterKind, String> {
    if entry & COMPRESSED != 0 {
        let csize_shift = 62 - (cluster_bits - 8);
        let csize_mask = (1u64 << (cluster_bits - 8)) - 1;
        let offset = entry & ((1u64 << csize_shift) - 1);
        let sectors = ((entry >> csize_shift) & csize_mask) + 1;
        let size = sectors * 512 - (offset & 511);
        return Ok(ClusterKind::Compressed { offset, size });
    }
    if entry & RESERVED != 0 {
        return Err(format!("reserved bits set in L2 entry {entry:#x}"));
    }
    let host = entry & OFFSET_MASK;
    if entry & ZERO != 0 {
        return Ok(ClusterKind::Zero);
    }
    if host == 0 {
        return Ok(ClusterKind::Unallocated);
    }
    if host & ((1u64 << cluster_bits) - 1) != 0 {
        return Err(format!(
            "data cluster offset {host:#x} is not cluster aligned"
        ));
    }
    Ok(ClusterKind::Normal(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_standard_entries() {
        assert_eq!(decode(0, 16), Ok(ClusterKind::Unallocated));
        assert_eq!(decode(1, 16), Ok(ClusterKind::Zero));
        assert_eq!(decode(0x5_0000 | 1, 16), Ok(ClusterKind::Zero));
        assert_eq!(
            decode((1 << 63) | 0x5_0000, 16),
            Ok(ClusterKind::Normal(0x5_0000))
        );
        assert!(decode(0x5_0100, 16).is_err(), "reserved bit 8");
        assert!(
            decode(0x5_1000, 16).is_err(),
            "unaligned for 64 KiB clusters"
        );
    }

    #[test]
    fn decodes_compressed_entries() {
        // 64 KiB clusters: csize_shift = 54; 3 extra sectors; offset 0x12345.
        let e = COMPRESSED | (3u64 << 54) | 0x12345;
        assert_eq!(
            decode(e, 16),
            Ok(ClusterKind::Compressed {
                offset: 0x12345,
                size: 4 * 512 - 0x145
            })
        );
    }
}
