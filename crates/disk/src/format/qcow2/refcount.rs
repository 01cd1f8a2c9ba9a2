//! qcow2 refcounts (qcow2 spec, "Host cluster management"), read for two purposes:
//! qemu's detection of metadata preallocation, which decides whether the block status
//! of data clusters is refined by the host file's holes, and the check that no host
//! cluster is mapped more often than its refcount allows (`mapping.rs`).

use super::header::Header;
use crate::bytes::be64;
use crate::source::ReadAt;
use crate::Result;

/// qemu's `REFT_OFFSET_MASK`: bits 9-63 of a refcount table entry.
const REFT_OFFSET_MASK: u64 = 0xffff_ffff_ffff_fe00;

/// qemu's `qcow2_detect_metadata_preallocation` (block/qcow2-refcount.c, qemu 4.2 to
/// 10.x), run by `qcow2_co_block_status` on the first block-status query:
///
/// ```text
/// real_clusters = bdrv_get_allocated_file_size(file) / cluster_size
/// threshold     = MAX(real_clusters * 10 / 9, real_clusters + 2)
/// for (i = 0; i < size_to_clusters(file_length) && count < threshold; i++)
///     count += !!refcount(i)
/// return count >= threshold
/// ```
///
/// That is: many more clusters are in use than the host file has blocks for, so most
/// of them must be preallocated holes. When it says yes, qemu sets
/// `BDRV_BLOCK_RECURSE` on data clusters and holes of the host file count as zero.
///
/// `Ok(false)` when the source cannot say how much it has allocated (qemu: the
/// protocol driver answers `-ENOTSUP`, as curl does for HTTP), and where qemu's
/// `qcow2_get_refcount` fails (a refcount block offset not cluster aligned). As in
/// qemu, refcount table entries past the table and tables or blocks past the end of
/// the file read as zero (the block layer zero-fills reads past EOF).
///
/// Bounded: the loop stops at `threshold` and at the file's length in clusters; it
/// reads at most one refcount block per `cluster_size * 8 / refcount_bits` clusters
/// of the file, and the part of the refcount table that covers them.
pub fn detect_metadata_preallocation(src: &dyn ReadAt, hdr: &Header) -> Result<bool> {
    let Some(allocated) = src.allocated_bytes() else {
        return Ok(false);
    };
    let cs = hdr.cluster_size();
    let real_clusters = allocated / cs;
    let threshold = (real_clusters.saturating_mul(10) / 9).max(real_clusters.saturating_add(2));
    let end_cluster = src.size().div_ceil(cs);
    let bits = 1u64 << hdr.refcount_order;
    let per_block = cs * 8 / bits;
    let table_entries = u64::from(hdr.refcount_table_clusters) * (cs / 8);
    let blocks = end_cluster.div_ceil(per_block).min(table_entries);
    // At most qemu's QCOW_MAX_REFTABLE_SIZE (8 MiB, checked at open), and no more
    // than the file's clusters need.
    let table = read_zero_padded(src, hdr.refcount_table_offset, blocks * 8)?;
    let mut block = vec![0u8; cs as usize];
    let mut count = 0u64;
    for (ti, raw) in table.chunks_exact(8).enumerate() {
        if count >= threshold {
            break;
        }
        let off = be64(raw, 0) & REFT_OFFSET_MASK;
        if off == 0 {
            continue;
        }
        if !off.is_multiple_of(cs) {
            // qemu: "Refblock offset … unaligned" → -EIO → no preallocation.
            return Ok(false);
        }
        fill_zero_padded(src, off, &mut block)?;
        let first = ti as u64 * per_block;
        let n = per_block.min(end_cluster - first);
        count += count_nonzero(&block, bits, n);
    }
    Ok(count >= threshold)
}

/// How many of the first `n` refcounts of `block` (each `bits` wide, qemu's
/// `get_refcount_ro0..6`: sub-byte widths packed from the least significant bit,
/// wider ones big-endian) are not zero.
fn count_nonzero(block: &[u8], bits: u64, n: u64) -> u64 {
    let n = n as usize;
    if bits >= 8 {
        let w = (bits / 8) as usize;
        block
            .chunks_exact(w)
            .take(n)
            .filter(|e| e.iter().any(|&b| b != 0))
            .count() as u64
    } else {
        let per_byte = (8 / bits) as usize;
        let mask = (1u8 << bits) - 1;
        (0..n)
            .filter(|&i| (block[i / per_byte] >> ((i % per_byte) as u64 * bits)) & mask != 0)
            .count() as u64
    }
}

/// Refcount lookups (qemu's `qcow2_get_refcount`), for the mapping check
/// (`mapping.rs`): the part of the refcount table that covers the file, and one
/// refcount block at a time (lookups in cluster order read each block once).
pub struct Refcounts<'a> {
    src: &'a dyn ReadAt,
    cs: u64,
    bits: u64,
    per_block: u64,
    table: Vec<u8>,
    /// The block in `block` (its table index), if any.
    cached: Option<usize>,
    block: Vec<u8>,
}

/// The part of the refcount table [`Refcounts::new`] reads for a file of `file_size`
/// bytes: the entries that cover its clusters, as (offset, length).
pub fn table_range(file_size: u64, hdr: &Header) -> (u64, u64) {
    let cs = hdr.cluster_size();
    let per_block = cs * 8 / (1u64 << hdr.refcount_order);
    let table_entries = u64::from(hdr.refcount_table_clusters) * (cs / 8);
    let blocks = file_size
        .div_ceil(cs)
        .div_ceil(per_block)
        .min(table_entries);
    (hdr.refcount_table_offset, blocks * 8)
}

impl<'a> Refcounts<'a> {
    /// Read the refcount table entries that cover the file's clusters (at most the
    /// table's own size, itself at most 8 MiB: checked at open).
    pub fn new(src: &'a dyn ReadAt, hdr: &Header) -> Result<Self> {
        let cs = hdr.cluster_size();
        let bits = 1u64 << hdr.refcount_order;
        let (offset, len) = table_range(src.size(), hdr);
        Ok(Refcounts {
            src,
            cs,
            bits,
            per_block: cs * 8 / bits,
            table: read_zero_padded(src, offset, len)?,
            cached: None,
            block: vec![0u8; cs as usize],
        })
    }

    /// The offsets of the refcount blocks in use (cluster aligned, inside the file).
    pub fn block_offsets(&self) -> impl Iterator<Item = u64> + '_ {
        let (cs, size) = (self.cs, self.src.size());
        self.table
            .chunks_exact(8)
            .map(|e| be64(e, 0) & REFT_OFFSET_MASK)
            .filter(move |&o| o != 0 && o.is_multiple_of(cs) && o < size)
    }

    /// The refcount of host cluster `cluster`; 0 where no block covers it or the
    /// block lies outside the file (as qemu reads it).
    pub fn get(&mut self, cluster: u64) -> Result<u64> {
        let Ok(ti) = usize::try_from(cluster / self.per_block) else {
            return Ok(0);
        };
        let Some(entry) = self.table.get(ti * 8..ti * 8 + 8) else {
            return Ok(0);
        };
        let off = be64(entry, 0) & REFT_OFFSET_MASK;
        if off == 0 || !off.is_multiple_of(self.cs) {
            return Ok(0);
        }
        if self.cached != Some(ti) {
            fill_zero_padded(self.src, off, &mut self.block)?;
            self.cached = Some(ti);
        }
        Ok(refcount_at(
            &self.block,
            self.bits,
            cluster % self.per_block,
        ))
    }
}

/// Refcount `i` of a block of `bits`-wide refcounts (qemu's `get_refcount_ro0..6`).
fn refcount_at(block: &[u8], bits: u64, i: u64) -> u64 {
    let i = i as usize;
    if bits >= 8 {
        let w = (bits / 8) as usize;
        block
            .get(i * w..i * w + w)
            .map_or(0, |b| b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    } else {
        let per_byte = (8 / bits) as usize;
        let mask = (1u8 << bits) - 1;
        block.get(i / per_byte).map_or(0, |b| {
            u64::from((b >> ((i % per_byte) as u64 * bits)) & mask)
        })
    }
}

/// Read `len` bytes at `offset`; what lies past the end of the source reads as zero.
fn read_zero_padded(src: &dyn ReadAt, offset: u64, len: u64) -> Result<Vec<u8>> {
    let mut v = vec![0u8; len as usize];
    fill_zero_padded(src, offset, &mut v)?;
    Ok(v)
}

fn fill_zero_padded(src: &dyn ReadAt, offset: u64, buf: &mut [u8]) -> Result<()> {
    let avail = src.size().saturating_sub(offset).min(buf.len() as u64) as usize;
    let (head, tail) = buf.split_at_mut(avail);
    if !head.is_empty() {
        src.read_exact_at(head, offset)?;
    }
    tail.fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_byte_refcounts_are_packed_from_the_low_bit() {
        // refcount_bits = 1: clusters 0 and 9 in use.
        let b = [0b0000_0001, 0b0000_0010];
        assert_eq!(count_nonzero(&b, 1, 16), 2);
        assert_eq!(count_nonzero(&b, 1, 9), 1, "only the first n count");
        // refcount_bits = 4: entry 1 (high nibble of byte 0) in use.
        assert_eq!(count_nonzero(&[0x10, 0x00], 4, 4), 1);
        // refcount_bits = 2: entry 3 is the top two bits of byte 0.
        assert_eq!(count_nonzero(&[0b1100_0000], 2, 3), 0);
        assert_eq!(count_nonzero(&[0b1100_0000], 2, 4), 1);
    }

    #[test]
    fn refcount_at_reads_every_width() {
        assert_eq!(refcount_at(&[0b0000_0010], 1, 1), 1);
        assert_eq!(refcount_at(&[0x10], 4, 1), 1);
        assert_eq!(refcount_at(&[0, 1, 0, 2], 16, 1), 2);
        assert_eq!(refcount_at(&[0, 0, 1, 0], 32, 0), 256);
        assert_eq!(refcount_at(&[0, 1], 16, 5), 0, "past the block");
    }

    #[test]
    fn wide_refcounts_are_big_endian() {
        assert_eq!(count_nonzero(&[0, 1, 0, 0, 1, 0], 16, 3), 2);
        let mut b = vec![0u8; 16];
        b[15] = 1;
        assert_eq!(count_nonzero(&b, 64, 2), 1);
        assert_eq!(count_nonzero(&b, 64, 1), 0);
    }
}
