//! The size an image would have once converted to qcow2 (R-SIZE-ACTUAL: the seed
//! measures the 50 GB limit "after conversion to QCOW2").
//!
//! This follows qemu's `qcow2_measure()` (block/qcow2.c) with its defaults (64 KiB
//! clusters, 16-bit refcounts, no extended L2, no preallocation), so `required` and
//! `fully_allocated` equal `qemu-img measure -O qcow2` on the same file:
//! - a guest range counts as data when the format stores it (qemu `DATA|ALLOCATED`)
//!   and, where qemu asks the protocol layer too (raw and fixed VHD always, qcow2 with
//!   metadata preallocation: [`VirtualDisk::data_recurses_to_host`]), the host file
//!   has data there (SEEK_DATA/SEEK_HOLE; a hole is `BDRV_BLOCK_ZERO`);
//! - zero and unallocated ranges never count (no backing files exist here);
//! - each data run is rounded out to whole clusters.

use crate::image::{ExtentKind, VirtualDisk};
use crate::Result;
use serde::Serialize;

/// qemu's default qcow2 cluster size.
pub const DEFAULT_CLUSTER_SIZE: u64 = 65536;
const REFCOUNT_ORDER: u32 = 4;
/// How much of the guest is asked for in one `extents()` call.
const WINDOW: u64 = 1 << 30;

/// Output of [`measure`], named as in `qemu-img measure --output=json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Measure {
    /// Bytes needed for the qcow2 file with the image's data.
    pub required: u64,
    /// Bytes the qcow2 file would take with every cluster allocated.
    pub fully_allocated: u64,
    /// Of `required`, the guest bytes counted as data (whole output clusters). Zero
    /// when every guest byte reads as zero. Not part of qemu's output.
    #[serde(skip)]
    pub data: u64,
}

/// Measure `disk` as qcow2 with `cluster_size` (use [`DEFAULT_CLUSTER_SIZE`]).
pub fn measure(disk: &dyn VirtualDisk, cluster_size: u64) -> Result<Measure> {
    let mut required = 0u64;
    // qemu: a data run is rounded out to whole clusters and the scan resumes at the
    // end of its last cluster, so each cluster counts once.
    let mut resume = 0u64;
    for_each_data_run(disk, |start, end| {
        let start = start.max(resume);
        if start < end {
            let lo = start / cluster_size * cluster_size;
            let hi = end.div_ceil(cluster_size) * cluster_size;
            required += hi - lo;
            resume = hi;
        }
        Ok(())
    })?;
    // qemu rounds the source length up to the cluster size (block/qcow2.c).
    let virtual_size = disk.size().div_ceil(cluster_size) * cluster_size;
    let fully_allocated = calc_prealloc_size(virtual_size, cluster_size, REFCOUNT_ORDER);
    Ok(Measure {
        required: fully_allocated - virtual_size + required,
        fully_allocated,
        data: required,
    })
}

/// Calls `f(start, end)` for each guest range, in order, that holds data as qemu's
/// block status sees it: stored by the format and, when the disk's data extents
/// recurse to the host file ([`VirtualDisk::data_recurses_to_host`]: raw, fixed VHD,
/// metadata-preallocated qcow2), not a hole of the host file. Zero and unallocated
/// ranges are skipped.
pub fn for_each_data_run(
    disk: &dyn VirtualDisk,
    mut f: impl FnMut(u64, u64) -> Result<()>,
) -> Result<()> {
    let size = disk.size();
    let mut pos = 0u64;
    while pos < size {
        let window_end = pos.saturating_add(WINDOW).min(size);
        for e in disk.extents(pos, window_end - pos)? {
            if e.kind != ExtentKind::Data {
                continue;
            }
            let end = e.offset + e.length;
            let host = e.host_offset.filter(|_| disk.data_recurses_to_host());
            match host.and_then(|h| disk.source().host_extents(h, e.length).map(|hx| (h, hx))) {
                Some((h, hx)) => {
                    for x in hx.into_iter().filter(|x| x.data) {
                        let s = e.offset + (x.offset - h);
                        f(s, (s + x.length).min(end))?;
                    }
                }
                None => f(e.offset, end)?,
            }
        }
        pos = window_end;
    }
    Ok(())
}

/// How the guest disk is allocated, from a walk of all the image's mapping metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Allocation {
    /// Bytes stored as data (compressed or not).
    pub data: u64,
    /// Bytes explicitly marked zero.
    pub zero: u64,
    /// Bytes not allocated (read as zeros).
    pub unallocated: u64,
}

/// Walk every mapping table of `disk` (L1/L2, grain tables, BAT), validating each
/// entry, and sum the allocation. Reads metadata only.
pub fn allocation(disk: &dyn VirtualDisk) -> Result<Allocation> {
    let mut a = Allocation::default();
    let size = disk.size();
    let mut pos = 0u64;
    while pos < size {
        let window_end = pos.saturating_add(WINDOW).min(size);
        for e in disk.extents(pos, window_end - pos)? {
            match e.kind {
                ExtentKind::Data => a.data += e.length,
                ExtentKind::Zero => a.zero += e.length,
                ExtentKind::Unallocated => a.unallocated += e.length,
            }
        }
        pos = window_end;
    }
    Ok(a)
}

/// Whether any of `samples` clusters spread evenly over the data of `disk` (whose
/// allocation says `data_total` bytes of data) reads as all zeros: the sign of a
/// metadata-preallocated qcow2 when the source cannot show the file's holes (HTTP),
/// where qemu's own test (allocated file size against refcounted clusters) has
/// nothing to go on. Reads at most `samples` clusters of [`DEFAULT_CLUSTER_SIZE`].
pub fn data_samples_read_zero(
    disk: &dyn VirtualDisk,
    data_total: u64,
    samples: u64,
) -> Result<bool> {
    if data_total == 0 || samples == 0 {
        return Ok(false);
    }
    let target = |i: u64| (data_total as u128 * (2 * i as u128 + 1) / (2 * samples as u128)) as u64;
    let mut buf = vec![0u8; DEFAULT_CLUSTER_SIZE as usize];
    let size = disk.size();
    let (mut seen, mut next) = (0u64, 0u64);
    let mut pos = 0u64;
    while pos < size && next < samples {
        let window_end = pos.saturating_add(WINDOW).min(size);
        for e in disk.extents(pos, window_end - pos)? {
            if e.kind != ExtentKind::Data {
                continue;
            }
            while next < samples && target(next) < seen + e.length {
                let at = e.offset + (target(next) - seen);
                let n = (e.offset + e.length - at).min(DEFAULT_CLUSTER_SIZE) as usize;
                disk.read_exact_at(&mut buf[..n], at)?;
                if buf[..n].iter().all(|b| *b == 0) {
                    return Ok(true);
                }
                next += 1;
            }
            seen += e.length;
        }
        pos = window_end;
    }
    Ok(false)
}

/// qemu's `qcow2_calc_prealloc_size`: file size of a fully allocated qcow2.
pub fn calc_prealloc_size(total_size: u64, cluster_size: u64, refcount_order: u32) -> u64 {
    let aligned_total = total_size.div_ceil(cluster_size) * cluster_size;
    let l2e = 8u64;
    let mut meta = cluster_size; // header
    let mut nl2e = aligned_total / cluster_size;
    nl2e = nl2e.div_ceil(cluster_size / l2e) * (cluster_size / l2e);
    meta += nl2e * l2e;
    let mut nl1e = nl2e * l2e / cluster_size;
    nl1e = nl1e.div_ceil(cluster_size / 8) * (cluster_size / 8);
    meta += nl1e * 8;
    meta += refcount_metadata_size(
        (meta + aligned_total) / cluster_size,
        cluster_size,
        refcount_order,
    );
    meta + aligned_total
}

/// qemu's `qcow2_refcount_metadata_size` (without the generous increase): the fixed
/// point of refcount blocks + table clusters needed to count every cluster.
pub fn refcount_metadata_size(clusters: u64, cluster_size: u64, refcount_order: u32) -> u64 {
    let blocks_per_table_cluster = cluster_size / 8;
    let refcounts_per_block = cluster_size * 8 / (1u64 << refcount_order);
    let (mut table, mut blocks, mut n) = (0u64, 0u64, 0u64);
    // Converges in a handful of rounds; bounded for safety.
    for _ in 0..64 {
        let last = n;
        blocks = (clusters + table + blocks).div_ceil(refcounts_per_block);
        table = blocks.div_ceil(blocks_per_table_cluster);
        n = clusters + blocks + table;
        if n == last {
            break;
        }
    }
    (blocks + table) * cluster_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prealloc_size_matches_qemu_for_1g() {
        // `qemu-img measure -O qcow2 --size 1G` → fully-allocated 1074135040.
        assert_eq!(calc_prealloc_size(1 << 30, 65536, 4), 1_074_135_040);
    }
}
