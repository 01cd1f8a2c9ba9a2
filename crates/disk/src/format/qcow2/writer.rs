//! A streaming qcow2 (version 3) writer (qcow2 spec, docs/interop/qcow2.txt).
//!
//! Layout, written front to back in one pass with bounded memory:
//! - cluster 0: the header (rewritten last, so a file without it is never a valid image);
//! - data clusters in guest order, each L2 table written as soon as its 512 MiB (at
//!   64 KiB clusters) of guest space is done; compressed clusters are packed
//!   byte-contiguously and may span host clusters, as qemu's `qcow2_alloc_bytes` does;
//! - the L1 table, then the refcount blocks and the refcount table.
//!
//! Memory: one L2 table, the L1 table, and a 16-bit refcount per host cluster
//! (2 bytes per 64 KiB of output).

use super::header::{Compression, INCOMPAT_COMPRESSION};
use crate::{Error, Result};
use std::io::{Seek, SeekFrom, Write};

const FMT: &str = "qcow2 writer";
const COPIED: u64 = 1 << 63;
const COMPRESSED: u64 = 1 << 62;
const HEADER_LENGTH: u32 = 112;
const REFCOUNT_ORDER: u32 = 4;

/// What to store for one guest cluster.
pub enum ClusterData<'a> {
    /// Uncompressed cluster bytes (exactly one cluster; the tail of the last cluster
    /// may be shorter and is zero-padded).
    Raw(&'a [u8]),
    /// A compressed stream (deflate raw / zstd frame) smaller than a cluster.
    Compressed(&'a [u8]),
}

/// Writes a qcow2 image to `W` cluster by cluster, in increasing guest order.
pub struct Qcow2Writer<W: Write + Seek> {
    out: W,
    cluster_bits: u32,
    virtual_size: u64,
    compression: Compression,
    /// Next free byte in the file (compressed data is packed, not aligned).
    end: u64,
    l1: Vec<u64>,
    l2: Vec<u64>,
    l2_index: Option<u64>,
    refcounts: Vec<u16>,
    last_guest_cluster: Option<u64>,
}

impl<W: Write + Seek> Qcow2Writer<W> {
    /// Start an image of `virtual_size` bytes with `1 << cluster_bits` clusters.
    pub fn new(
        mut out: W,
        virtual_size: u64,
        cluster_bits: u32,
        compression: Compression,
    ) -> Result<Self> {
        if !(9..=21).contains(&cluster_bits) {
            return Err(Error::unsupported(
                FMT,
                format!("cluster size 2^{cluster_bits}"),
            ));
        }
        let cs = 1u64 << cluster_bits;
        let per_l1 = cs * (cs / 8);
        let l1_size = virtual_size.div_ceil(per_l1);
        if l1_size > 32 * 1024 * 1024 / 8 {
            return Err(Error::limit(
                "qcow2 L1 table entries",
                l1_size,
                32 * 1024 * 1024 / 8,
            ));
        }
        // Reserve cluster 0 for the header; it is written by `finish`.
        out.seek(SeekFrom::Start(0)).map_err(io)?;
        out.write_all(&vec![0u8; cs as usize]).map_err(io)?;
        Ok(Qcow2Writer {
            out,
            cluster_bits,
            virtual_size,
            compression,
            end: cs,
            l1: vec![0; l1_size as usize],
            l2: vec![0; (cs / 8) as usize],
            l2_index: None,
            refcounts: vec![1],
            last_guest_cluster: None,
        })
    }

    fn cs(&self) -> u64 {
        1u64 << self.cluster_bits
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.end
    }

    /// Whether nothing but the header cluster is written yet.
    pub fn is_empty(&self) -> bool {
        self.end == self.cs()
    }

    fn bump_refcount(&mut self, host_cluster: u64) -> Result<()> {
        let i = host_cluster as usize;
        if self.refcounts.len() <= i {
            self.refcounts.resize(i + 1, 0);
        }
        self.refcounts[i] = self.refcounts[i].checked_add(1).ok_or_else(|| {
            Error::limit("refcount", u64::from(u16::MAX) + 1, u64::from(u16::MAX))
        })?;
        Ok(())
    }

    fn align_end(&mut self) -> Result<()> {
        let cs = self.cs();
        let aligned = self.end.div_ceil(cs) * cs;
        if aligned != self.end {
            self.out
                .write_all(&vec![0u8; (aligned - self.end) as usize])
                .map_err(io)?;
            self.end = aligned;
        }
        Ok(())
    }

    /// Write a cluster-aligned block (data or L2 table) at the end; returns its offset.
    fn append_clusters(&mut self, data: &[u8]) -> Result<u64> {
        self.align_end()?;
        let cs = self.cs();
        let off = self.end;
        self.out.write_all(data).map_err(io)?;
        let padded = (data.len() as u64).div_ceil(cs) * cs;
        if padded > data.len() as u64 {
            self.out
                .write_all(&vec![0u8; (padded - data.len() as u64) as usize])
                .map_err(io)?;
        }
        for c in off / cs..(off + padded) / cs {
            self.bump_refcount(c)?;
        }
        self.end = off + padded;
        Ok(off)
    }

    /// Store guest cluster `index`. Clusters must come in increasing order; clusters
    /// never given stay unallocated (read as zeros).
    pub fn write_cluster(&mut self, index: u64, data: ClusterData<'_>) -> Result<()> {
        let cs = self.cs();
        if index >= self.virtual_size.div_ceil(cs)
            || self.last_guest_cluster.is_some_and(|l| index <= l)
        {
            return Err(Error::unsupported(
                FMT,
                format!("guest cluster {index} out of order or past the end"),
            ));
        }
        self.last_guest_cluster = Some(index);
        let l2_entries = cs / 8;
        let l1i = index / l2_entries;
        if self.l2_index != Some(l1i) {
            self.flush_l2()?;
            self.l2_index = Some(l1i);
        }
        let entry = match data {
            ClusterData::Raw(bytes) => {
                let off = self.append_clusters(bytes)?;
                off | COPIED
            }
            ClusterData::Compressed(bytes) => {
                if bytes.is_empty() || bytes.len() as u64 >= cs {
                    return Err(Error::unsupported(
                        FMT,
                        "compressed cluster not smaller than a cluster",
                    ));
                }
                let off = self.end;
                self.out.write_all(bytes).map_err(io)?;
                self.end += bytes.len() as u64;
                for c in off / cs..=(self.end - 1) / cs {
                    self.bump_refcount(c)?;
                }
                let csize_shift = 62 - (self.cluster_bits - 8);
                let nb_csectors = (off + bytes.len() as u64 - 1) / 512 - off / 512;
                COMPRESSED | (nb_csectors << csize_shift) | off
            }
        };
        self.l2[(index % l2_entries) as usize] = entry;
        Ok(())
    }

    /// Store consecutive uncompressed guest clusters from `first`, written with as few
    /// writes as L2 table boundaries allow. The last cluster may be partial.
    pub fn write_raw_run(&mut self, first: u64, bytes: &[u8]) -> Result<()> {
        let cs = self.cs();
        let per_l2 = cs / 8;
        let mut index = first;
        let mut rest = bytes;
        while !rest.is_empty() {
            let until_l2_end = (per_l2 - index % per_l2) * cs;
            let take = (rest.len() as u64).min(until_l2_end) as usize;
            let (chunk, tail) = rest.split_at(take);
            let n = (take as u64).div_ceil(cs);
            if self.last_guest_cluster.is_some_and(|l| index <= l)
                || index + n > self.virtual_size.div_ceil(cs)
            {
                return Err(Error::unsupported(
                    FMT,
                    format!("guest cluster {index} out of order or past the end"),
                ));
            }
            let l1i = index / per_l2;
            if self.l2_index != Some(l1i) {
                self.flush_l2()?;
                self.l2_index = Some(l1i);
            }
            let off = self.append_clusters(chunk)?;
            for k in 0..n {
                self.l2[((index + k) % per_l2) as usize] = (off + k * cs) | COPIED;
            }
            self.last_guest_cluster = Some(index + n - 1);
            index += n;
            rest = tail;
        }
        Ok(())
    }

    /// Write the current L2 table (if any entry is set) and point L1 at it.
    fn flush_l2(&mut self) -> Result<()> {
        let Some(l1i) = self.l2_index.take() else {
            return Ok(());
        };
        if self.l2.iter().all(|&e| e == 0) {
            return Ok(());
        }
        let bytes: Vec<u8> = self.l2.iter().flat_map(|e| e.to_be_bytes()).collect();
        let off = self.append_clusters(&bytes)?;
        self.l1[l1i as usize] = off | COPIED;
        self.l2.iter_mut().for_each(|e| *e = 0);
        Ok(())
    }

    /// Write L1, refcounts and the header; returns the writer and the file size.
    pub fn finish(mut self) -> Result<(W, u64)> {
        self.flush_l2()?;
        let cs = self.cs();
        let l1_bytes: Vec<u8> = self.l1.iter().flat_map(|e| e.to_be_bytes()).collect();
        let l1_offset = if self.l1.is_empty() {
            0
        } else {
            self.append_clusters(&l1_bytes)?
        };
        self.align_end()?;
        // Refcount blocks and table follow; they must count themselves (fixed point).
        let refs_per_block = cs * 8 / (1 << REFCOUNT_ORDER);
        let first_meta = self.end / cs;
        let (mut blocks, mut table) = (0u64, 0u64);
        for _ in 0..64 {
            let total = first_meta + blocks + table;
            let nb = total.div_ceil(refs_per_block);
            let nt = (nb * 8).div_ceil(cs);
            if (nb, nt) == (blocks, table) {
                break;
            }
            (blocks, table) = (nb, nt);
        }
        let total_clusters = first_meta + blocks + table;
        self.refcounts.resize(total_clusters as usize, 0);
        for c in first_meta..total_clusters {
            self.refcounts[c as usize] = 1;
        }
        let mut reftable = Vec::with_capacity(blocks as usize);
        for b in 0..blocks {
            let start = (b * refs_per_block) as usize;
            let end = ((b + 1) * refs_per_block).min(total_clusters) as usize;
            let mut block = vec![0u8; cs as usize];
            for (i, rc) in self.refcounts[start..end].iter().enumerate() {
                block[i * 2..i * 2 + 2].copy_from_slice(&rc.to_be_bytes());
            }
            let off = self.end;
            self.out.write_all(&block).map_err(io)?;
            self.end += cs;
            reftable.push(off);
        }
        let reftable_offset = self.end;
        let mut rt = vec![0u8; (table * cs) as usize];
        for (i, off) in reftable.iter().enumerate() {
            rt[i * 8..i * 8 + 8].copy_from_slice(&off.to_be_bytes());
        }
        self.out.write_all(&rt).map_err(io)?;
        self.end += table * cs;
        // The header, last.
        let mut h = vec![0u8; HEADER_LENGTH as usize + 8];
        h[0..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&self.cluster_bits.to_be_bytes());
        h[24..32].copy_from_slice(&self.virtual_size.to_be_bytes());
        h[36..40].copy_from_slice(&(self.l1.len() as u32).to_be_bytes());
        h[40..48].copy_from_slice(&l1_offset.to_be_bytes());
        h[48..56].copy_from_slice(&reftable_offset.to_be_bytes());
        h[56..60].copy_from_slice(&(table as u32).to_be_bytes());
        let incompat = if self.compression == Compression::Zstd {
            INCOMPAT_COMPRESSION
        } else {
            0
        };
        h[72..80].copy_from_slice(&incompat.to_be_bytes());
        h[96..100].copy_from_slice(&REFCOUNT_ORDER.to_be_bytes());
        h[100..104].copy_from_slice(&HEADER_LENGTH.to_be_bytes());
        h[104] = match self.compression {
            Compression::Zlib => 0,
            Compression::Zstd => 1,
        };
        // h[112..120]: header extension end marker (zeros).
        self.out.seek(SeekFrom::Start(0)).map_err(io)?;
        self.out.write_all(&h).map_err(io)?;
        self.out.seek(SeekFrom::Start(self.end)).map_err(io)?;
        self.out.flush().map_err(io)?;
        Ok((self.out, self.end))
    }
}

fn io(source: std::io::Error) -> Error {
    Error::Io {
        what: "qcow2 output".into(),
        source,
    }
}
