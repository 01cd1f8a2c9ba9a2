//! Tree blocks (`struct btrfs_header` + leaf items or key pointers) and ordered
//! range searches over a B-tree: bounded depth (levels must descend one by one
//! from at most [`MAX_LEVEL`]), a budget of blocks per search, header checks
//! (logical address, filesystem UUID, level), keys in order and item data
//! inside the block. Block checksums are not verified. btrfs on-disk format, "Tree".

use super::chunk::ChunkMap;
use super::key::{Key, KEY_LEN};
use super::superblock::Superblock;
use crate::{Error, Result};
use imgport_disk::bytes::{le32, le64};
use imgport_disk::ReadAt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const HEADER_LEN: usize = 0x65;
const ITEM_LEN: usize = KEY_LEN + 8;
const KEY_PTR_LEN: usize = KEY_LEN + 16;
/// `BTRFS_MAX_LEVEL` is 8: levels 0..=7.
pub(super) const MAX_LEVEL: u8 = 7;
/// Most tree blocks read by one search.
const SEARCH_BUDGET: usize = 1 << 14;
/// Tree blocks kept in memory.
const CACHE_BLOCKS: usize = 512;

/// Where a tree starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TreeRoot {
    pub bytenr: u64,
    pub level: u8,
}

/// One validated tree block.
pub(super) struct Node {
    logical: u64,
    level: u8,
    nritems: usize,
    data: Vec<u8>,
}

impl Node {
    fn parse(sb: &Superblock, logical: u64, level: u8, data: Vec<u8>) -> Result<Self> {
        let bad = |d: String| Error::corrupt("btrfs tree block", logical, d);
        if le64(&data, 0x30) != logical {
            return Err(bad(format!(
                "records its address as {:#x}",
                le64(&data, 0x30)
            )));
        }
        if data.get(0x20..0x30) != Some(&sb.tree_fsid[..]) {
            return Err(bad("belongs to another filesystem (fsid)".into()));
        }
        let got_level = data[0x64];
        if got_level != level {
            return Err(bad(format!("level {got_level}, expected {level}")));
        }
        let nritems = le32(&data, 0x60) as usize;
        let room = data.len() - HEADER_LEN;
        let per = if level == 0 { ITEM_LEN } else { KEY_PTR_LEN };
        if nritems > room / per || (level > 0 && nritems == 0) {
            return Err(bad(format!("{nritems} items at level {level}")));
        }
        let node = Node {
            logical,
            level,
            nritems,
            data,
        };
        let mut prev: Option<Key> = None;
        for i in 0..nritems {
            let k = node.key(i);
            if prev.is_some_and(|p| p >= k) {
                return Err(bad(format!("keys out of order at slot {i}")));
            }
            prev = Some(k);
            if level == 0 {
                let at = HEADER_LEN + i * ITEM_LEN + KEY_LEN;
                let off = le32(&node.data, at) as usize;
                let size = le32(&node.data, at + 4) as usize;
                let items_end = nritems * ITEM_LEN;
                if off < items_end || off + size > room {
                    return Err(bad(format!(
                        "item {i} data at {off}+{size} outside the block"
                    )));
                }
            }
        }
        Ok(node)
    }

    pub fn key(&self, i: usize) -> Key {
        let per = if self.level == 0 {
            ITEM_LEN
        } else {
            KEY_PTR_LEN
        };
        Key::parse(&self.data, HEADER_LEN + i * per)
    }

    /// Data of leaf item `i` (checked in [`Node::parse`]).
    fn item(&self, i: usize) -> &[u8] {
        let at = HEADER_LEN + i * ITEM_LEN + KEY_LEN;
        let off = le32(&self.data, at) as usize;
        let size = le32(&self.data, at + 4) as usize;
        self.data
            .get(HEADER_LEN + off..HEADER_LEN + off + size)
            .unwrap_or_default()
    }

    fn child(&self, i: usize) -> u64 {
        le64(&self.data, HEADER_LEN + i * KEY_PTR_LEN + KEY_LEN)
    }
}

/// The device, its superblock and chunk map, and a cache of tree blocks.
pub(super) struct Volume {
    pub dev: Arc<dyn ReadAt>,
    pub sb: Superblock,
    pub chunks: ChunkMap,
    cache: Mutex<HashMap<u64, Arc<Node>>>,
}

impl Volume {
    pub fn new(dev: Arc<dyn ReadAt>, sb: Superblock, chunks: ChunkMap) -> Self {
        Volume {
            dev,
            sb,
            chunks,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Read `buf.len()` bytes at logical address `logical`, across chunks.
    pub fn read_logical(&self, logical: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = logical
                .checked_add(done as u64)
                .ok_or_else(|| Error::corrupt("btrfs logical address", logical, "overflow"))?;
            let (phys, room) = self.chunks.map(at)?;
            let n = (buf.len() - done).min(usize::try_from(room).unwrap_or(usize::MAX));
            self.dev.read_exact_at(&mut buf[done..done + n], phys)?;
            done += n;
        }
        Ok(())
    }

    /// The tree block at `logical`, which must be at `level`.
    pub fn node(&self, logical: u64, level: u8) -> Result<Arc<Node>> {
        if let Some(n) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&logical).cloned())
        {
            if n.level == level {
                return Ok(n);
            }
        }
        if level > MAX_LEVEL {
            return Err(Error::corrupt(
                "btrfs tree block",
                logical,
                format!("level {level}"),
            ));
        }
        let mut data = vec![0u8; self.sb.node_size as usize];
        self.read_logical(logical, &mut data)?;
        let node = Arc::new(Node::parse(&self.sb, logical, level, data)?);
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_BLOCKS {
                c.clear();
            }
            c.insert(logical, node.clone());
        }
        Ok(node)
    }

    /// Visit, in key order, the leaf items of tree `root` with `min <= key <= max`;
    /// `visit` returns `false` to stop.
    pub fn search(
        &self,
        root: TreeRoot,
        min: Key,
        max: Key,
        visit: &mut dyn FnMut(Key, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut budget = SEARCH_BUDGET;
        self.search_in(root.bytenr, root.level, min, max, visit, &mut budget)
            .map(|_| ())
    }

    fn search_in(
        &self,
        logical: u64,
        level: u8,
        min: Key,
        max: Key,
        visit: &mut dyn FnMut(Key, &[u8]) -> Result<bool>,
        budget: &mut usize,
    ) -> Result<bool> {
        *budget = budget.checked_sub(1).ok_or_else(|| Error::Limit {
            what: "btrfs tree blocks read by one search".into(),
            limit: SEARCH_BUDGET as u64,
        })?;
        let node = self.node(logical, level)?;
        if level == 0 {
            let start = (0..node.nritems)
                .position(|i| node.key(i) >= min)
                .unwrap_or(node.nritems);
            for i in start..node.nritems {
                let k = node.key(i);
                if k > max {
                    return Ok(false);
                }
                if !visit(k, node.item(i))? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        // Child i covers [key(i), key(i+1)).
        let first = (1..node.nritems)
            .take_while(|&i| node.key(i) <= min)
            .last()
            .unwrap_or(0);
        for i in first..node.nritems {
            if node.key(i) > max {
                return Ok(false);
            }
            if !self.search_in(node.child(i), level - 1, min, max, visit, budget)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The data of the item with exactly `key`, if present.
    pub fn get(&self, root: TreeRoot, key: Key) -> Result<Option<Vec<u8>>> {
        let mut out = None;
        self.search(root, key, key, &mut |_, d| {
            out = Some(d.to_vec());
            Ok(false)
        })?;
        Ok(out)
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Node({:#x}, level {}, {} items)",
            self.logical, self.level, self.nritems
        )
    }
}
