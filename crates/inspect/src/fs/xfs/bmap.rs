//! Block maps of a data fork: the packed 128-bit extent records
//! (`xfs_bmbt_rec`) kept in the inode (extents format) or in the leaves of a
//! B+tree rooted in the inode (btree format, `xfs_bmdr_block` + `BMAP`/`BMA3`
//! blocks). XFS Algorithms & Data Structures, "Data Extents" and "B+tree Extent List".

use super::inode::{Inode, FMT_BTREE, FMT_EXTENTS};
use super::superblock::Superblock;
use crate::{Error, Result};
use imgport_disk::bytes::{be16, be32, be64};
use imgport_disk::{ReadAt, ReadAtExt};

/// `BMAP` (v4) and `BMA3` (v5) long-format btree block magics.
const BMAP_MAGIC: u32 = 0x424d_4150;
const BMA3_MAGIC: u32 = 0x424d_4133;
/// Long-format btree block header sizes (v4, v5 with CRC fields).
const LBLOCK_LEN: usize = 24;
const LBLOCK_CRC_LEN: usize = 72;
/// Deeper than any real bmbt (the kernel's limit is 9 levels with 64-bit counts).
const MAX_LEVELS: u16 = 12;
/// Most extents we map for one inode.
pub(super) const MAX_EXTENTS: usize = 1 << 20;
/// Most btree blocks read for one inode.
const MAX_BTREE_BLOCKS: usize = 1 << 16;

/// One mapping of file blocks to filesystem blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Extent {
    /// First file block.
    pub logical: u64,
    /// First filesystem block (`agno << agblklog | agbno`).
    pub start: u64,
    /// Number of blocks.
    pub count: u64,
    /// Allocated but never written: reads as zeros.
    pub unwritten: bool,
}

impl Extent {
    /// Decode one big-endian packed record: flag:1, startoff:54, startblock:52, blockcount:21.
    fn decode(rec: &[u8]) -> Self {
        let l0 = be64(rec, 0);
        let l1 = be64(rec, 8);
        Extent {
            unwritten: l0 >> 63 != 0,
            logical: (l0 >> 9) & ((1u64 << 54) - 1),
            start: ((l0 & 0x1ff) << 43) | (l1 >> 21),
            count: l1 & ((1u64 << 21) - 1),
        }
    }
}

/// The extents of `inode`'s data fork, sorted by file block and checked not to overlap.
pub(super) fn extents(dev: &dyn ReadAt, sb: &Superblock, inode: &Inode) -> Result<Vec<Extent>> {
    let mut out = Vec::new();
    match inode.format {
        FMT_EXTENTS => {
            let n = usize::try_from(inode.nextents).unwrap_or(usize::MAX);
            if n > inode.fork.len() / 16 {
                return Err(Error::corrupt(
                    "xfs inode",
                    inode.offset,
                    format!("inode {}: {n} extents do not fit the fork", inode.ino),
                ));
            }
            for rec in inode.fork.chunks_exact(16).take(n) {
                out.push(Extent::decode(rec));
            }
        }
        FMT_BTREE => walk_root(dev, sb, inode, &mut out)?,
        f => {
            return Err(Error::corrupt(
                "xfs inode",
                inode.offset,
                format!("inode {}: data fork format {f} has no block map", inode.ino),
            ))
        }
    }
    out.retain(|e| e.count > 0);
    out.sort_by_key(|e| e.logical);
    let mut end = 0u64;
    for e in &out {
        if e.logical < end {
            return Err(Error::corrupt(
                "xfs extent list",
                inode.offset,
                format!(
                    "inode {}: overlapping extents at block {}",
                    inode.ino, e.logical
                ),
            ));
        }
        end = e.logical + e.count;
    }
    Ok(out)
}

/// The btree root in the inode: `bb_level`, `bb_numrecs`, keys, then pointers at
/// an offset set by how many records the fork could hold.
fn walk_root(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    out: &mut Vec<Extent>,
) -> Result<()> {
    let bad = |d: String| {
        Error::corrupt(
            "xfs bmbt root",
            inode.offset,
            format!("inode {}: {d}", inode.ino),
        )
    };
    let f = &inode.fork;
    if f.len() < 4 + 16 {
        return Err(bad("fork too small".into()));
    }
    let level = be16(f, 0);
    let numrecs = usize::from(be16(f, 2));
    let maxrecs = (f.len() - 4) / 16;
    if level == 0 || level > MAX_LEVELS || numrecs == 0 || numrecs > maxrecs {
        return Err(bad(format!(
            "level {level}, {numrecs} records (max {maxrecs})"
        )));
    }
    let ptrs = 4 + maxrecs * 8;
    let mut budget = MAX_BTREE_BLOCKS;
    for i in 0..numrecs {
        let ptr = be64(f, ptrs + i * 8);
        walk_block(dev, sb, inode, ptr, level - 1, out, &mut budget)?;
    }
    Ok(())
}

fn walk_block(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    fsb: u64,
    level: u16,
    out: &mut Vec<Extent>,
    budget: &mut usize,
) -> Result<()> {
    *budget = budget.checked_sub(1).ok_or_else(|| Error::Limit {
        what: format!("xfs inode {} btree blocks", inode.ino),
        limit: MAX_BTREE_BLOCKS as u64,
    })?;
    let off = sb.fsb_to_byte(fsb)?;
    let b = dev.read_vec(off, sb.block_size as usize)?;
    let bad =
        |d: String| Error::corrupt("xfs bmbt block", off, format!("inode {}: {d}", inode.ino));
    let (magic, hdr) = if sb.v5 {
        (BMA3_MAGIC, LBLOCK_CRC_LEN)
    } else {
        (BMAP_MAGIC, LBLOCK_LEN)
    };
    if be32(&b, 0) != magic {
        return Err(bad("bad magic".into()));
    }
    if sb.v5 && be64(&b, 56) != inode.ino {
        return Err(bad(format!("owner {} is another inode", be64(&b, 56))));
    }
    let blevel = be16(&b, 4);
    let numrecs = usize::from(be16(&b, 6));
    let maxrecs = (b.len() - hdr) / 16;
    if blevel != level || numrecs == 0 || numrecs > maxrecs {
        return Err(bad(format!(
            "level {blevel} (expected {level}), {numrecs} records"
        )));
    }
    if level == 0 {
        if out.len() + numrecs > MAX_EXTENTS {
            return Err(Error::Limit {
                what: format!("xfs inode {} extents", inode.ino),
                limit: MAX_EXTENTS as u64,
            });
        }
        for i in 0..numrecs {
            let rec = b.get(hdr + i * 16..hdr + i * 16 + 16).unwrap_or(&[0; 16]);
            out.push(Extent::decode(rec));
        }
        return Ok(());
    }
    let ptrs = hdr + maxrecs * 8;
    for i in 0..numrecs {
        let ptr = be64(&b, ptrs + i * 8);
        walk_block(dev, sb, inode, ptr, level - 1, out, budget)?;
    }
    Ok(())
}

/// Fill `buf` with the bytes at file offset `pos` of a file mapped by `map`
/// (sorted): holes and unwritten extents read as zeros.
pub(super) fn read_mapped(
    dev: &dyn ReadAt,
    sb: &Superblock,
    map: &[Extent],
    pos: u64,
    buf: &mut [u8],
) -> Result<()> {
    let bs = u64::from(sb.block_size);
    let mut done = 0usize;
    while done < buf.len() {
        let at = pos + done as u64;
        let block = at / bs;
        let rest = &mut buf[done..];
        // The last extent starting at or before `block`.
        let idx = map.partition_point(|e| e.logical <= block);
        let hit = idx
            .checked_sub(1)
            .and_then(|i| map.get(i))
            .filter(|e| block < e.logical + e.count);
        let n = match hit {
            Some(e) => {
                let ext_end = (e.logical + e.count).saturating_mul(bs);
                let n = rest
                    .len()
                    .min(usize::try_from(ext_end - at).unwrap_or(usize::MAX));
                if e.unwritten {
                    rest[..n].fill(0);
                } else {
                    let within = at - e.logical * bs;
                    let fsb = e.start + within / bs;
                    // Extents never cross an AG; check both ends anyway.
                    let phys = sb.fsb_to_byte(fsb)? + within % bs;
                    sb.fsb_to_byte(e.start + e.count - 1)?;
                    dev.read_exact_at(&mut rest[..n], phys)?;
                }
                n
            }
            None => {
                let next = map
                    .get(idx)
                    .map_or(u64::MAX, |e| e.logical.saturating_mul(bs));
                let n = rest
                    .len()
                    .min(usize::try_from(next - at).unwrap_or(usize::MAX));
                rest[..n].fill(0);
                n
            }
        };
        done += n;
    }
    Ok(())
}
