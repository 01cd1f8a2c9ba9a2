//! The active mapping against the refcounts (issue 18 item 8; R-FMT): run once at
//! open, reading metadata only.
//!
//! A qcow2 whose L1 entries all name one L2 table, whose entries all name one data
//! cluster, maps terabytes of "data" from a file of a few MiB: every reader of it
//! (measure, convert, the import) does work out of all proportion to the upload.
//! qemu never writes such a file, and `qemu-img check` calls it corrupt: each host
//! cluster's refcount counts the references to it, and here the references outnumber
//! it. So, as `qemu-img check` counts them (block/qcow2-refcount.c
//! `check_refcounts_l1`/`_l2`), for the active L1 table:
//!
//! - an L2 table named by more L1 entries than its refcount allows is refused before
//!   it is read (so a shared table is never read more than once);
//! - every host cluster's references — data clusters, the clusters a compressed
//!   cluster's bytes span, L2 tables, the header, L1 table, refcount table and
//!   blocks — are counted (one byte per host cluster, saturating: bounded by the file
//!   size), and a cluster referenced more than once but more often than its refcount
//!   says is refused. Single references are not compared: a dirty image with lazy
//!   refcounts may legitimately count a cluster as 0, and internal snapshots share
//!   clusters with refcounts above 1 that the active table uses once;
//! - whatever the refcounts say, the data the reader can produce is bounded by the
//!   file: uncompressed data clusters map at most the file's size, compressed ones at
//!   most the file's size times the codec's largest possible ratio for one cluster.

use super::header::{Compression, Header, FMT};
use super::l2_entry::ClusterKind;
use super::refcount::Refcounts;
use super::Qcow2Disk;
use crate::{Error, Result};

/// Most host clusters tracked (one byte each): a 64 GiB file of 512-byte clusters,
/// 8 TiB of 64 KiB ones. `qemu-img check` keeps a refcount per host cluster as well.
const MAX_TRACKED_CLUSTERS: u64 = 128 << 20;

/// Deflate's largest ratio: a 258-byte match coded in 2 bits (RFC 1951), ~1032:1.
const DEFLATE_MAX_RATIO: u64 = 1032;

/// The most guest bytes one compressed byte can stand for in a cluster of `cs` bytes.
/// zstd: the smallest frame of `cs` bytes is the 6-byte frame header plus one 4-byte
/// RLE block per 128 KiB (RFC 8878).
fn max_ratio(c: Compression, cs: u64) -> u64 {
    match c {
        Compression::Zlib => DEFLATE_MAX_RATIO,
        Compression::Zstd => cs / (6 + 4 * cs.div_ceil(128 << 10)),
    }
}

/// References to each host cluster, one saturating byte per cluster.
struct Refs {
    counts: Vec<u8>,
    cs: u64,
}

impl Refs {
    /// No references yet to the host clusters of a `file_size`-byte file, refused
    /// above `MAX_TRACKED_CLUSTERS`.
    fn for_file(file_size: u64, cs: u64) -> Result<Refs> {
        let file_clusters = file_size.div_ceil(cs);
        if file_clusters > MAX_TRACKED_CLUSTERS {
            return Err(Error::limit(
                format!("qcow2 host clusters of {cs} bytes to check against their refcounts (convert the image with `qemu-img convert -O qcow2`, whose 64 KiB clusters are fewer)"),
                file_clusters,
                MAX_TRACKED_CLUSTERS,
            ));
        }
        Ok(Refs {
            counts: vec![0u8; file_clusters as usize],
            cs,
        })
    }

    fn add(&mut self, cluster: u64, n: u64) {
        if let Some(c) = usize::try_from(cluster)
            .ok()
            .and_then(|i| self.counts.get_mut(i))
        {
            *c = u64::from(*c).saturating_add(n).min(u64::from(u8::MAX)) as u8;
        }
    }

    /// Count `n` references to every cluster of `[offset, offset + len)` inside the file.
    fn add_range(&mut self, offset: u64, len: u64, n: u64) {
        if len == 0 {
            return;
        }
        let last = offset.saturating_add(len - 1) / self.cs;
        let last = last.min(self.counts.len() as u64);
        for c in offset / self.cs..=last {
            self.add(c, n);
        }
    }
}

/// Check the active mapping of `disk` (see the module documentation).
pub(super) fn check(disk: &Qcow2Disk) -> Result<()> {
    let src = &*disk.src;
    let hdr = &disk.hdr;
    let cs = hdr.cluster_size();
    let file_size = src.size();
    let mut refs = Refs::for_file(file_size, cs)?;
    let mut refcounts = Refcounts::new(src, hdr)?;
    count_metadata(&mut refs, hdr, &refcounts);

    let distinct = distinct_l2_tables(disk);
    // Everything below reads every L2 table once: ask for them all now, so that a
    // remote source fetches them in a few concurrent, coalesced requests instead of one
    // round trip each (issue 16). Bounded by the tables' own size (of the virtual
    // size) and by the cache. Refcount blocks are only read for shared clusters: not
    // asked for (no more bytes than before).
    let metadata: Vec<(u64, u64)> = distinct.iter().map(|&(off, _, _)| (off, cs)).collect();
    src.prefetch(&metadata)?;
    check_shared_l2_tables(&distinct, &mut refcounts, hdr)?;

    let (uncompressed, compressed) = count_l2_tables(disk, &distinct, &mut refs)?;
    check_shared_clusters(&refs, &mut refcounts)?;
    check_data_bounds(hdr, file_size, uncompressed, compressed)
}

/// Count the metadata's references: header, L1 table, refcount table and blocks.
fn count_metadata(refs: &mut Refs, hdr: &Header, refcounts: &Refcounts) {
    let cs = hdr.cluster_size();
    refs.add(0, 1);
    refs.add_range(hdr.l1_table_offset, u64::from(hdr.l1_size) * 8, 1);
    refs.add_range(
        hdr.refcount_table_offset,
        u64::from(hdr.refcount_table_clusters) * cs,
        1,
    );
    for b in refcounts.block_offsets() {
        refs.add(b / cs, 1);
    }
}

/// L2 tables: each distinct one once, as (offset, first L1 index naming it, number of
/// L1 entries naming it), by offset. Only the L1 entries that map the virtual disk are
/// read by the reader, so only they count.
fn distinct_l2_tables(disk: &Qcow2Disk) -> Vec<(u64, usize, u64)> {
    let hdr = &disk.hdr;
    let per_l1 = hdr.cluster_size() * hdr.l2_entries();
    let used_l1 = hdr.size.div_ceil(per_l1).min(disk.l1.len() as u64) as usize;
    let mut tables: Vec<(u64, usize)> = disk
        .l1
        .iter()
        .take(used_l1)
        .enumerate()
        .map(|(i, e)| (e & 0x00ff_ffff_ffff_fe00, i))
        .filter(|(off, _)| *off != 0)
        .collect();
    tables.sort_unstable();
    let mut distinct: Vec<(u64, usize, u64)> = Vec::with_capacity(tables.len());
    for (off, l1i) in tables {
        match distinct.last_mut() {
            Some((o, _, n)) if *o == off => *n += 1,
            _ => distinct.push((off, l1i, 1)),
        }
    }
    distinct
}

/// Refuse an L2 table named by more L1 entries than its refcount allows, before it
/// is read.
fn check_shared_l2_tables(
    distinct: &[(u64, usize, u64)],
    refcounts: &mut Refcounts,
    hdr: &Header,
) -> Result<()> {
    let cs = hdr.cluster_size();
    for &(off, _, n) in distinct.iter().filter(|(_, _, n)| *n > 1) {
        let rc = refcounts.get(off / cs)?;
        if n > rc {
            return Err(Error::corrupt(
                FMT,
                "L1 table",
                hdr.l1_table_offset,
                format!("the L2 table at offset {off:#x} is referenced by {n} L1 entries; its refcount says {rc}: the mapping is inconsistent with the refcounts (`qemu-img check` reports it as corrupt), and would read the same clusters over and over"),
            ));
        }
    }
    Ok(())
}

/// Count the references of the L2 tables and of the clusters they map; returns the
/// guest bytes mapped by (uncompressed, compressed) data clusters.
fn count_l2_tables(
    disk: &Qcow2Disk,
    distinct: &[(u64, usize, u64)],
    refs: &mut Refs,
) -> Result<(u64, u64)> {
    let hdr = &disk.hdr;
    let cs = hdr.cluster_size();
    let per_l1 = cs * hdr.l2_entries();
    let mut uncompressed = 0u64;
    let mut compressed = 0u64;
    for &(off, l1i, n) in distinct {
        refs.add(off / cs, n);
        // Validates the L1 entry and the table's place in the file, as any read would.
        let Some(table) = disk.l2_table(l1i)? else {
            continue;
        };
        let first_guest = l1i as u64 * per_l1;
        for (l2i, &entry) in table.iter().enumerate() {
            let guest = first_guest + l2i as u64 * cs;
            if guest >= hdr.size {
                break;
            }
            match disk.classify(entry, guest)? {
                ClusterKind::Normal(h) => {
                    refs.add(h / cs, n);
                    uncompressed = uncompressed.saturating_add(cs.saturating_mul(n));
                }
                ClusterKind::Compressed { offset, size } => {
                    refs.add_range(offset, size, n);
                    compressed = compressed.saturating_add(cs.saturating_mul(n));
                }
                ClusterKind::Zero | ClusterKind::Unallocated => {}
            }
        }
    }
    Ok((uncompressed, compressed))
}

/// Clusters referenced more than once: refused if more often than their refcounts allow.
fn check_shared_clusters(refs: &Refs, refcounts: &mut Refcounts) -> Result<()> {
    let cs = refs.cs;
    for (c, &count) in refs.counts.iter().enumerate() {
        if count < 2 {
            continue;
        }
        let rc = refcounts.get(c as u64)?;
        if u64::from(count) > rc {
            let at = c as u64 * cs;
            let times = if count == u8::MAX {
                "255 or more".to_string()
            } else {
                count.to_string()
            };
            return Err(Error::corrupt(
                FMT,
                "refcount",
                at,
                format!("the host cluster at offset {at:#x} is referenced {times} times by the image's tables (data, compressed data, L2 tables, metadata); its refcount says {rc}: clusters are shared where the refcounts say they are not (`qemu-img check` reports it as corrupt)"),
            ));
        }
    }
    Ok(())
}

/// Whatever the refcounts say, the data mapped is bounded by the file: uncompressed
/// at most its size, compressed at most its size times the codec's largest ratio.
fn check_data_bounds(
    hdr: &Header,
    file_size: u64,
    uncompressed: u64,
    compressed: u64,
) -> Result<()> {
    let cs = hdr.cluster_size();
    if uncompressed > file_size {
        return Err(Error::corrupt(
            FMT,
            "L2 tables",
            hdr.l1_table_offset,
            format!("the L2 tables map {uncompressed} bytes of uncompressed data, more than the {file_size}-byte file can hold: data clusters are shared"),
        ));
    }
    let ratio = max_ratio(hdr.compression, cs);
    if compressed > file_size.saturating_mul(ratio) {
        return Err(Error::corrupt(
            FMT,
            "L2 tables",
            hdr.l1_table_offset,
            format!("the L2 tables map {compressed} bytes of compressed clusters, more than the {file_size}-byte file can hold at {}'s largest ratio of {ratio}:1: compressed clusters are shared", hdr.compression.name()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_ratio_bound_follows_the_cluster_size() {
        assert_eq!(max_ratio(Compression::Zstd, 65536), 6553);
        assert_eq!(max_ratio(Compression::Zstd, 2 << 20), (2 << 20) / 70);
        assert_eq!(max_ratio(Compression::Zlib, 512), DEFLATE_MAX_RATIO);
    }

    #[test]
    fn references_saturate_and_stay_inside_the_file() {
        let mut r = Refs {
            counts: vec![0; 4],
            cs: 512,
        };
        r.add_range(100, 1000, 1);
        assert_eq!(r.counts, [1, 1, 1, 0]);
        r.add(3, 300);
        r.add(9, 1);
        r.add_range(2000, 10_000, 1);
        assert_eq!(r.counts, [1, 1, 1, 255]);
    }
}
