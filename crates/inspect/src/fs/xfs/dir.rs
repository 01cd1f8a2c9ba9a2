//! XFS version 2 directories: short-form directories in the inode
//! (`xfs_dir2_sf_hdr` + entries) and the data blocks of block, leaf and node
//! directories (`XD2B`/`XDB3` single block, `XD2D`/`XDD3` data blocks).
//! Entries live only in the data blocks, which occupy the first 32 GiB of the
//! directory's logical space; the leaf/node hash index after them is not needed
//! to enumerate or to look up by a linear scan. CRCs are not verified (the magic,
//! sizes and bounds of every entry are). XFS Algorithms & Data Structures, "Directories".

use super::bmap::{self, Extent};
use super::inode::{Inode, FMT_BTREE, FMT_EXTENTS, FMT_LOCAL};
use super::superblock::Superblock;
use crate::fs::{FileType, MAX_DIR_ENTRIES};
use crate::{Error, Result};
use imgport_disk::bytes::{be16, be32, be64};
use imgport_disk::ReadAt;

const XD2B: u32 = 0x5844_3242;
const XDB3: u32 = 0x5844_4233;
const XD2D: u32 = 0x5844_3244;
const XDD3: u32 = 0x5844_4433;
/// Start of the leaf section: data blocks live below it.
const LEAF_OFFSET: u64 = 32 << 30;
/// Most directory data read for one directory.
const MAX_DIR_BYTES: u64 = 512 << 20;

/// One raw directory entry.
#[derive(Debug, Clone)]
pub(super) struct RawEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    /// From the entry's file type byte when the filesystem has one.
    pub ftype: Option<FileType>,
}

fn ftype_of(b: u8) -> FileType {
    match b {
        1 => FileType::File,
        2 => FileType::Dir,
        7 => FileType::Symlink,
        _ => FileType::Other,
    }
}

/// Called with each entry (name, inode number, type byte when present);
/// returns `false` to stop.
pub(super) type Visit<'a> = dyn FnMut(&[u8], u64, Option<FileType>) -> Result<bool> + 'a;

/// All entries of directory `inode` except `.` and `..`, at most [`MAX_DIR_ENTRIES`].
pub(super) fn entries(dev: &dyn ReadAt, sb: &Superblock, inode: &Inode) -> Result<Vec<RawEntry>> {
    let mut out = Vec::new();
    visit(dev, sb, inode, &mut |name, ino, ftype| {
        if out.len() >= MAX_DIR_ENTRIES {
            return Err(Error::Limit {
                what: "xfs directory entries".into(),
                limit: MAX_DIR_ENTRIES as u64,
            });
        }
        out.push(RawEntry {
            name: name.to_vec(),
            ino,
            ftype,
        });
        Ok(true)
    })?;
    Ok(out)
}

/// The inode number of entry `name` of directory `inode`.
pub(super) fn lookup(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    name: &[u8],
) -> Result<Option<u64>> {
    let mut hit = None;
    visit(dev, sb, inode, &mut |n, ino, _| {
        if n == name {
            hit = Some(ino);
        }
        Ok(hit.is_none())
    })?;
    Ok(hit)
}

/// Visit the entries of directory `inode` in on-disk order, except `.` and `..`.
pub(super) fn visit(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    f: &mut Visit<'_>,
) -> Result<()> {
    let mut f = |name: &[u8], ino: u64, ft: Option<FileType>| -> Result<bool> {
        if name == b"." || name == b".." {
            return Ok(true);
        }
        f(name, ino, ft)
    };
    match inode.format {
        FMT_LOCAL => short_form(sb, inode, &mut f),
        FMT_EXTENTS | FMT_BTREE => {
            let map = bmap::extents(dev, sb, inode)?;
            data_blocks(dev, sb, inode, &map, &mut f)
        }
        f => Err(Error::corrupt(
            "xfs directory",
            inode.offset,
            format!("inode {}: directory in fork format {f}", inode.ino),
        )),
    }
}

/// Header: count, i8count, parent (4 or 8 bytes); entries: namelen, offset[2],
/// name, [ftype], inode number (4 or 8 bytes).
fn short_form(sb: &Superblock, inode: &Inode, f: &mut Visit<'_>) -> Result<()> {
    let bad = |d: String| {
        Error::corrupt(
            "xfs short-form directory",
            inode.offset,
            format!("inode {}: {d}", inode.ino),
        )
    };
    let len = usize::try_from(inode.size).unwrap_or(usize::MAX);
    let sf = inode
        .fork
        .get(..len)
        .ok_or_else(|| bad(format!("size {} over the fork", inode.size)))?;
    if sf.len() < 2 {
        return Err(bad("too short".into()));
    }
    let count = usize::from(sf[0]);
    let i8count = sf[1];
    let ino_len = if i8count > 0 { 8 } else { 4 };
    let mut off = 2 + ino_len;
    for i in 0..count {
        let namelen = usize::from(
            *sf.get(off)
                .ok_or_else(|| bad(format!("entry {i} past the end")))?,
        );
        let name_at = off + 3;
        let after = name_at + namelen + usize::from(sb.ftype);
        let end = after + ino_len;
        if namelen == 0 || end > sf.len() {
            return Err(bad(format!(
                "entry {i} (name length {namelen}) past the end"
            )));
        }
        let name = &sf[name_at..name_at + namelen];
        let ftype = sb.ftype.then(|| ftype_of(sf[name_at + namelen]));
        let ino = if ino_len == 8 {
            be64(sf, after)
        } else {
            u64::from(be32(sf, after))
        };
        if !f(name, ino, ftype)? {
            return Ok(());
        }
        off = end;
    }
    Ok(())
}

/// Scan every mapped directory block below [`LEAF_OFFSET`].
fn data_blocks(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    map: &[Extent],
    f: &mut Visit<'_>,
) -> Result<()> {
    let dbs = u64::from(sb.dir_block_size);
    let fsb_per_db = dbs / u64::from(sb.block_size);
    let limit_blocks = LEAF_OFFSET / u64::from(sb.block_size);
    // Directory block indices with at least one mapped filesystem block.
    let mut dblocks: Vec<u64> = Vec::new();
    for e in map {
        if e.logical >= limit_blocks {
            break;
        }
        let last = (e.logical + e.count).min(limit_blocks) - 1;
        for db in e.logical / fsb_per_db..=last / fsb_per_db {
            if dblocks.last() != Some(&db) {
                if (dblocks.len() as u64 + 1) * dbs > MAX_DIR_BYTES {
                    return Err(Error::Limit {
                        what: format!("xfs directory inode {} data", inode.ino),
                        limit: MAX_DIR_BYTES,
                    });
                }
                dblocks.push(db);
            }
        }
    }
    let mut buf = vec![0u8; sb.dir_block_size as usize];
    for db in dblocks {
        bmap::read_mapped(dev, sb, map, db * dbs, &mut buf)?;
        if !data_block(sb, inode, db, &buf, f)? {
            break;
        }
    }
    Ok(())
}

fn data_block(
    sb: &Superblock,
    inode: &Inode,
    db: u64,
    b: &[u8],
    f: &mut Visit<'_>,
) -> Result<bool> {
    let bad = |d: String| {
        Error::corrupt(
            "xfs directory block",
            inode.offset,
            format!("inode {} directory block {db}: {d}", inode.ino),
        )
    };
    let magic = be32(b, 0);
    let (hdr, single) = match (sb.v5, magic) {
        (true, XDB3) => (64, true),
        (true, XDD3) => (64, false),
        (false, XD2B) => (16, true),
        (false, XD2D) => (16, false),
        _ => return Err(bad(format!("bad magic {magic:#010x}"))),
    };
    let mut end = b.len();
    if single {
        // Block tail: leaf entry count and stale count; leaf entries (8 bytes) precede it.
        let count = u64::from(be32(b, b.len() - 8));
        let leaf = count * 8 + 8;
        if leaf > (b.len() - hdr) as u64 {
            return Err(bad(format!("{count} leaf entries")));
        }
        end = b.len() - leaf as usize;
    }
    let mut off = hdr;
    while off < end {
        if off + 4 > end {
            return Err(bad(format!("entry at {off} past the data area")));
        }
        if be16(b, off) == 0xffff {
            let len = usize::from(be16(b, off + 2));
            if len < 8 || len % 8 != 0 || off + len > end {
                return Err(bad(format!("free space of {len} bytes at {off}")));
            }
            off += len;
            continue;
        }
        if off + 12 > end {
            return Err(bad(format!("entry at {off} past the data area")));
        }
        let ino = be64(b, off);
        let namelen = usize::from(b[off + 8]);
        let ft = usize::from(sb.ftype);
        let size = (8 + 1 + namelen + ft + 2).div_ceil(8) * 8;
        if namelen == 0 || off + size > end {
            return Err(bad(format!(
                "entry at {off} (name length {namelen}) past the data area"
            )));
        }
        let name = &b[off + 9..off + 9 + namelen];
        let ftype = sb.ftype.then(|| ftype_of(b[off + 9 + namelen]));
        if !f(name, ino, ftype)? {
            return Ok(false);
        }
        off += size;
    }
    Ok(true)
}
