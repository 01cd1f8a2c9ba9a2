//! Chunk items (`struct btrfs_chunk` + stripes): the logical→physical map, from
//! the superblock's `sys_chunk_array` first and then from the chunk tree.
//! SINGLE and DUP chunks, and mirrored (RAID1*) chunks whose copy is on this
//! device, are read from their first stripe on this device; striped and parity
//! profiles are refused. btrfs on-disk format, "Chunk tree".

use super::key::Key;
use crate::{Error, Result};
use imgport_disk::bytes::{le16, le64};

const CHUNK_HDR: usize = 48;
const STRIPE_LEN: usize = 32;
const BG_RAID0: u64 = 1 << 3;
const BG_RAID1: u64 = 1 << 4;
const BG_DUP: u64 = 1 << 5;
const BG_RAID10: u64 = 1 << 6;
const BG_RAID5: u64 = 1 << 7;
const BG_RAID6: u64 = 1 << 8;
const BG_RAID1C3: u64 = 1 << 9;
const BG_RAID1C4: u64 = 1 << 10;
/// Most chunks we map.
const MAX_CHUNKS: usize = 1 << 16;

/// One mapped chunk: `[logical, logical+length)` at `physical` on this device.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chunk {
    pub logical: u64,
    pub length: u64,
    pub physical: u64,
}

/// Logical→physical map, sorted by logical address, non-overlapping.
#[derive(Debug, Default, Clone)]
pub(super) struct ChunkMap {
    chunks: Vec<Chunk>,
}

/// Size in bytes of the chunk item starting at `b` (header + stripes), if it fits.
pub(super) fn chunk_item_len(b: &[u8]) -> Option<usize> {
    if b.len() < CHUNK_HDR {
        return None;
    }
    let n = usize::from(le16(b, 44));
    let len = CHUNK_HDR + n * STRIPE_LEN;
    (n > 0 && len <= b.len()).then_some(len)
}

impl ChunkMap {
    /// Add the chunk item `b` whose key is `key` (offset = logical start).
    pub fn add(&mut self, key: &Key, b: &[u8], devid: u64) -> Result<()> {
        let bad = |d: String| Error::corrupt("btrfs chunk item", key.offset, d);
        let len = chunk_item_len(b).ok_or_else(|| bad("truncated".into()))?;
        let length = le64(b, 0);
        let ty = le64(b, 24);
        let num_stripes = usize::from(le16(b, 44));
        if length == 0 || key.offset.checked_add(length).is_none() {
            return Err(bad(format!("length {length}")));
        }
        let striped = ty & (BG_RAID0 | BG_RAID10 | BG_RAID5 | BG_RAID6) != 0;
        let mirrored = ty & (BG_RAID1 | BG_RAID1C3 | BG_RAID1C4 | BG_DUP) != 0;
        if striped && num_stripes > 1 {
            return Err(Error::Unsupported(format!(
                "btrfs chunk at {:#x}: striped/parity profile {ty:#x} over {num_stripes} stripes",
                key.offset
            )));
        }
        if !mirrored && !striped && num_stripes != 1 {
            return Err(bad(format!("single chunk with {num_stripes} stripes")));
        }
        let stripe = (0..num_stripes)
            .map(|i| CHUNK_HDR + i * STRIPE_LEN)
            .find(|&at| at + STRIPE_LEN <= len && le64(b, at) == devid)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "btrfs chunk at {:#x} has no copy on this device ({devid})",
                    key.offset
                ))
            })?;
        let physical = le64(b, stripe + 8);
        if physical.checked_add(length).is_none() {
            return Err(bad(format!("physical offset {physical:#x}")));
        }
        let c = Chunk {
            logical: key.offset,
            length,
            physical,
        };
        if self.chunks.len() >= MAX_CHUNKS {
            return Err(Error::Limit {
                what: "btrfs chunks".into(),
                limit: MAX_CHUNKS as u64,
            });
        }
        let at = self.chunks.partition_point(|x| x.logical < c.logical);
        if let Some(same) = self.chunks.get(at).filter(|x| x.logical == c.logical) {
            // The chunk tree repeats the bootstrap chunks.
            if same.length == c.length && same.physical == c.physical {
                return Ok(());
            }
        }
        let overlaps_prev = at
            .checked_sub(1)
            .and_then(|i| self.chunks.get(i))
            .is_some_and(|p| p.logical + p.length > c.logical);
        let overlaps_next = self
            .chunks
            .get(at)
            .is_some_and(|n| c.logical + c.length > n.logical);
        if overlaps_prev || overlaps_next {
            return Err(bad("overlaps another chunk".into()));
        }
        self.chunks.insert(at, c);
        Ok(())
    }

    /// The physical offset of `logical` and how many bytes from there stay in the same chunk.
    pub fn map(&self, logical: u64) -> Result<(u64, u64)> {
        let i = self.chunks.partition_point(|c| c.logical <= logical);
        let c = i
            .checked_sub(1)
            .and_then(|i| self.chunks.get(i))
            .filter(|c| logical - c.logical < c.length)
            .ok_or_else(|| Error::corrupt("btrfs logical address", logical, "not in any chunk"))?;
        let within = logical - c.logical;
        Ok((c.physical + within, c.length - within))
    }
}
