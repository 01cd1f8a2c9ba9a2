//! The XFS superblock (`struct xfs_dsb`, big-endian, sector 0 of AG 0): geometry
//! and feature bits. XFS Algorithms & Data Structures, "Superblocks".

use crate::{Error, Result};
use imgport_disk::bytes::{be16, be32, be64};

/// `XFSB`.
const MAGIC: u32 = 0x5846_5342;
/// Bytes of the on-disk superblock that we read.
pub(super) const SB_LEN: usize = 264;

const VERSION_NUM_MASK: u16 = 0x000f;
const VERSION_MOREBITS: u16 = 0x8000;
const VERSION2_FTYPE: u32 = 0x0000_0200;

const INCOMPAT_FTYPE: u32 = 1 << 0;
const INCOMPAT_SPINODES: u32 = 1 << 1;
const INCOMPAT_META_UUID: u32 = 1 << 2;
const INCOMPAT_BIGTIME: u32 = 1 << 3;
const INCOMPAT_NEEDSREPAIR: u32 = 1 << 4;
const INCOMPAT_NREXT64: u32 = 1 << 5;
const INCOMPAT_EXCHRANGE: u32 = 1 << 6;
const INCOMPAT_PARENT: u32 = 1 << 7;
/// Incompatible features that do not change what a reader of directories,
/// inodes and data forks sees.
const INCOMPAT_KNOWN: u32 = INCOMPAT_FTYPE
    | INCOMPAT_SPINODES
    | INCOMPAT_META_UUID
    | INCOMPAT_BIGTIME
    | INCOMPAT_NREXT64
    | INCOMPAT_EXCHRANGE
    | INCOMPAT_PARENT;

/// The geometry a reader needs, validated.
#[derive(Debug, Clone)]
pub(super) struct Superblock {
    pub block_size: u32,
    pub block_log: u8,
    pub dblocks: u64,
    pub agblocks: u32,
    pub agcount: u32,
    pub agblklog: u8,
    pub rootino: u64,
    pub inode_size: u16,
    pub inopblog: u8,
    /// Directory block size in bytes (`blocksize << dirblklog`).
    pub dir_block_size: u32,
    /// v5 (CRC-enabled) filesystem: self-describing metadata headers.
    pub v5: bool,
    /// Directory entries carry a file type byte.
    pub ftype: bool,
}

fn corrupt(detail: impl Into<String>) -> Error {
    Error::corrupt("xfs superblock", 0, detail)
}

impl Superblock {
    /// Parse and validate the first [`SB_LEN`] bytes of the device.
    pub fn parse(b: &[u8]) -> Result<Self> {
        if b.len() < SB_LEN {
            return Err(corrupt("short read"));
        }
        if be32(b, 0) != MAGIC {
            return Err(corrupt("bad magic (not XFSB)"));
        }
        let block_size = be32(b, 4);
        let dblocks = be64(b, 8);
        let rootino = be64(b, 56);
        let agblocks = be32(b, 84);
        let agcount = be32(b, 88);
        let versionnum = be16(b, 100);
        let inode_size = be16(b, 104);
        let inopblock = be16(b, 106);
        let block_log = b[120];
        let inode_log = b[122];
        let inopblog = b[123];
        let agblklog = b[124];
        let dirblklog = b[192];
        let features2 = be32(b, 200);
        let incompat = be32(b, 216);

        let version = versionnum & VERSION_NUM_MASK;
        if version != 4 && version != 5 {
            return Err(Error::Unsupported(format!(
                "xfs superblock version {version}"
            )));
        }
        let v5 = version == 5;
        if !(9..=16).contains(&block_log) || block_size != 1u32 << block_log {
            return Err(corrupt(format!(
                "block size {block_size} / log {block_log}"
            )));
        }
        if !(8..=11).contains(&inode_log) || u32::from(inode_size) != 1u32 << inode_log {
            return Err(corrupt(format!(
                "inode size {inode_size} / log {inode_log}"
            )));
        }
        if v5 && inode_size < 512 {
            return Err(corrupt(format!("v5 inode size {inode_size} < 512")));
        }
        if inode_log > block_log
            || u32::from(inopblock) != block_size >> inode_log
            || u32::from(inopblog) != u32::from(block_log - inode_log)
        {
            return Err(corrupt(format!(
                "{inopblock} inodes per block (log {inopblog})"
            )));
        }
        if agblocks < 2 || agcount == 0 {
            return Err(corrupt(format!("{agcount} AGs of {agblocks} blocks")));
        }
        // agblklog is log2 of agblocks rounded up.
        let want_log = 32 - (agblocks - 1).leading_zeros();
        if u32::from(agblklog) != want_log {
            return Err(corrupt(format!(
                "agblklog {agblklog} for {agblocks} blocks per AG"
            )));
        }
        if u32::from(agblklog) + u32::from(inopblog) > 32 {
            return Err(corrupt("inode number layout over 32 bits per AG"));
        }
        if dblocks == 0 || dblocks > u64::from(agcount) * u64::from(agblocks) {
            return Err(corrupt(format!("{dblocks} data blocks for {agcount} AGs")));
        }
        if u32::from(block_log) + u32::from(dirblklog) > 16 {
            return Err(corrupt(format!("directory block log {dirblklog}")));
        }
        let ftype = if v5 {
            if incompat & INCOMPAT_NEEDSREPAIR != 0 {
                return Err(Error::Unsupported(
                    "xfs marked as needing repair (xfs_repair)".into(),
                ));
            }
            if incompat & !INCOMPAT_KNOWN != 0 {
                return Err(Error::Unsupported(format!(
                    "xfs incompatible features {:#x}",
                    incompat & !INCOMPAT_KNOWN
                )));
            }
            incompat & INCOMPAT_FTYPE != 0
        } else {
            versionnum & VERSION_MOREBITS != 0 && features2 & VERSION2_FTYPE != 0
        };
        Ok(Superblock {
            block_size,
            block_log,
            dblocks,
            agblocks,
            agcount,
            agblklog,
            rootino,
            inode_size,
            inopblog,
            dir_block_size: block_size << dirblklog,
            v5,
            ftype,
        })
    }

    /// Byte offset of filesystem block `fsb` (`agno << agblklog | agbno`).
    pub fn fsb_to_byte(&self, fsb: u64) -> Result<u64> {
        let agno = fsb >> self.agblklog;
        let agbno = fsb & ((1u64 << self.agblklog) - 1);
        if agno >= u64::from(self.agcount) || agbno >= u64::from(self.agblocks) {
            return Err(Error::corrupt(
                "xfs block number",
                0,
                format!("{fsb:#x} (AG {agno} block {agbno}) outside the filesystem"),
            ));
        }
        let block = agno * u64::from(self.agblocks) + agbno;
        if block >= self.dblocks {
            return Err(Error::corrupt(
                "xfs block number",
                0,
                format!(
                    "{fsb:#x} past the {} blocks of the filesystem",
                    self.dblocks
                ),
            ));
        }
        Ok(block << self.block_log)
    }

    /// Byte offset of inode `ino` (AG number, AG block, index in the block).
    pub fn ino_to_byte(&self, ino: u64) -> Result<u64> {
        let agino_log = u32::from(self.agblklog) + u32::from(self.inopblog);
        let agno = ino >> agino_log;
        let agino = ino & ((1u64 << agino_log) - 1);
        let agbno = agino >> self.inopblog;
        let index = agino & ((1u64 << self.inopblog) - 1);
        if agno >= u64::from(self.agcount) || agbno >= u64::from(self.agblocks) {
            return Err(Error::corrupt(
                "xfs inode number",
                0,
                format!("{ino} (AG {agno} block {agbno}) outside the filesystem"),
            ));
        }
        Ok(
            ((agno * u64::from(self.agblocks) + agbno) << self.block_log)
                + index * u64::from(self.inode_size),
        )
    }
}
