//! XFS inodes (`struct xfs_dinode`, big-endian): the core fields we use and the
//! data fork. XFS Algorithms & Data Structures, "On-disk Inode".

use super::superblock::Superblock;
use crate::fs::FileType;
use crate::{Error, Result};
use imgport_disk::bytes::{be16, be32, be64};

/// `IN`.
const MAGIC: u16 = 0x494e;
/// Size of the v1/v2 inode core; the literal area (data fork) follows it.
const CORE_V2: usize = 100;
/// Size of the v3 (v5 filesystem) inode core.
const CORE_V3: usize = 176;
/// `di_flags`: data lives on the realtime device.
const DIFLAG_REALTIME: u16 = 0x1;
/// `di_flags2`: 64-bit extent counters (`di_big_nextents`).
const DIFLAG2_NREXT64: u64 = 1 << 4;

/// `di_format` values.
pub(super) const FMT_LOCAL: u8 = 1;
pub(super) const FMT_EXTENTS: u8 = 2;
pub(super) const FMT_BTREE: u8 = 3;

const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;
const S_IFREG: u16 = 0o100000;
const S_IFLNK: u16 = 0o120000;

/// One inode, with a copy of its data fork.
#[derive(Debug, Clone)]
pub(super) struct Inode {
    pub ino: u64,
    pub mode: u16,
    pub format: u8,
    pub size: u64,
    pub nextents: u64,
    /// The data fork's bytes (literal area up to the attribute fork).
    pub fork: Vec<u8>,
    /// Byte offset of the inode on the device, for error messages.
    pub offset: u64,
}

impl Inode {
    /// Parse the `inode_size` bytes `b` of inode `ino` read at `offset`.
    pub fn parse(sb: &Superblock, ino: u64, offset: u64, b: &[u8]) -> Result<Self> {
        let bad = |d: String| Error::corrupt("xfs inode", offset, format!("inode {ino}: {d}"));
        let core = if sb.v5 { CORE_V3 } else { CORE_V2 };
        if b.len() != usize::from(sb.inode_size) || b.len() <= core {
            return Err(bad(format!("{} bytes", b.len())));
        }
        if be16(b, 0) != MAGIC {
            return Err(bad("bad magic (not IN)".into()));
        }
        let version = b[4];
        match (sb.v5, version) {
            (true, 3) | (false, 1) | (false, 2) => {}
            _ => return Err(bad(format!("inode version {version}"))),
        }
        if sb.v5 && be64(b, 152) != ino {
            return Err(bad(format!("records inode number {}", be64(b, 152))));
        }
        let mode = be16(b, 2);
        let format = b[5];
        let size = be64(b, 56);
        let flags = be16(b, 90);
        let flags2 = if sb.v5 { be64(b, 120) } else { 0 };
        let nextents = if flags2 & DIFLAG2_NREXT64 != 0 {
            be64(b, 24)
        } else {
            u64::from(be32(b, 76))
        };
        let forkoff = usize::from(b[82]) * 8;
        let literal = b.len() - core;
        let fork_len = if forkoff == 0 { literal } else { forkoff };
        if fork_len > literal {
            return Err(bad(format!("fork offset {forkoff} past the literal area")));
        }
        if size > i64::MAX as u64 {
            return Err(bad(format!("size {size}")));
        }
        if flags & DIFLAG_REALTIME != 0 && mode & S_IFMT == S_IFREG {
            return Err(Error::Unsupported(format!(
                "xfs inode {ino}: data on the realtime device"
            )));
        }
        let fork = b.get(core..core + fork_len).unwrap_or_default().to_vec();
        Ok(Inode {
            ino,
            mode,
            format,
            size,
            nextents,
            fork,
            offset,
        })
    }

    pub fn file_type(&self) -> FileType {
        mode_file_type(self.mode)
    }
}

/// File type from a POSIX mode.
pub(super) fn mode_file_type(mode: u16) -> FileType {
    match mode & S_IFMT {
        S_IFREG => FileType::File,
        S_IFDIR => FileType::Dir,
        S_IFLNK => FileType::Symlink,
        _ => FileType::Other,
    }
}
