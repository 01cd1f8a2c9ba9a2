//! XFS symlink targets: in the inode (local format) or in remote blocks, each
//! starting with an `XSLM` header on v5 filesystems (`struct xfs_dsymlink_hdr`).
//! XFS Algorithms & Data Structures, "Symbolic Links".

use super::bmap;
use super::inode::{Inode, FMT_BTREE, FMT_EXTENTS, FMT_LOCAL};
use super::superblock::Superblock;
use crate::{Error, Result};
use imgport_disk::bytes::be32;
use imgport_disk::ReadAt;

/// `XSLM`.
const XSLM: u32 = 0x5853_4c4d;
const REMOTE_HDR: usize = 56;
/// `XFS_SYMLINK_MAXLEN`.
const MAX_LEN: u64 = 1024;

/// The target bytes of symlink `inode`.
pub(super) fn target(dev: &dyn ReadAt, sb: &Superblock, inode: &Inode) -> Result<Vec<u8>> {
    let bad = |d: String| {
        Error::corrupt(
            "xfs symlink",
            inode.offset,
            format!("inode {}: {d}", inode.ino),
        )
    };
    if inode.size == 0 || inode.size > MAX_LEN {
        return Err(bad(format!("length {}", inode.size)));
    }
    let len = inode.size as usize;
    match inode.format {
        FMT_LOCAL => inode
            .fork
            .get(..len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| bad(format!("length {len} over the fork"))),
        FMT_EXTENTS | FMT_BTREE => {
            let map = bmap::extents(dev, sb, inode)?;
            let bs = sb.block_size as usize;
            if !sb.v5 {
                let mut out = vec![0u8; len];
                bmap::read_mapped(dev, sb, &map, 0, &mut out)?;
                return Ok(out);
            }
            let per_block = bs - REMOTE_HDR;
            let blocks = len.div_ceil(per_block);
            let mut out = Vec::with_capacity(len);
            let mut blk = vec![0u8; bs];
            for i in 0..blocks {
                bmap::read_mapped(dev, sb, &map, (i * bs) as u64, &mut blk)?;
                if be32(&blk, 0) != XSLM {
                    return Err(bad(format!("remote block {i}: bad magic")));
                }
                let offset = be32(&blk, 4) as usize;
                let bytes = be32(&blk, 8) as usize;
                if offset != out.len() || bytes == 0 || bytes > per_block || offset + bytes > len {
                    return Err(bad(format!("remote block {i}: {bytes} bytes at {offset}")));
                }
                out.extend_from_slice(&blk[REMOTE_HDR..REMOTE_HDR + bytes]);
            }
            if out.len() != len {
                return Err(bad(format!(
                    "{} of {len} bytes in remote blocks",
                    out.len()
                )));
            }
            Ok(out)
        }
        f => Err(bad(format!("fork format {f}"))),
    }
}
