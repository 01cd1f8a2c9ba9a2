//! Read-only XFS (v5 CRC-enabled filesystems as current `mkfs.xfs` makes them, and
//! v4): superblock, inodes by number, extent lists and bmbt B+trees, short-form,
//! block, leaf and node directories (through their data blocks), local and
//! remote symlinks, file data with holes and unwritten extents as zeros.
//! Metadata CRCs are not verified; magics, owners, levels and every size and
//! offset are. Realtime-device files are refused.
//!
//! Written here rather than taken from crates.io: the pure-Rust XFS readers there
//! (`xfs-core` 0.1.x, parts of `wxtla`/`fstool`) are young single-maintainer
//! crates without a track record, `xfs-core` reads through `Read + Seek` (one
//! mutable cursor) rather than a shared positioned-read source, and this reader
//! has to honour the [`FileSystem`] contract (literal lookups, lstat, bounded
//! listings) and the project's hostile-input bounds, which we test and fuzz here.
//! Format reference: "XFS Algorithms & Data Structures" (3rd ed.), kernel
//! `fs/xfs/libxfs/xfs_format.h`, `xfs_da_format.h`.

mod bmap;
mod dir;
mod inode;
mod superblock;
mod symlink;

use super::{DirEntry, FileSystem, FileType, FsProbe, Metadata};
use crate::{Error, Result};
use bmap::Extent;
use imgport_disk::{ReadAt, ReadAtExt};
use inode::Inode;
use std::io::Read;
use std::sync::Arc;
use superblock::Superblock;

/// Most path components followed in one lookup.
const MAX_COMPONENTS: usize = 256;

/// An open XFS filesystem.
pub struct Xfs {
    dev: Arc<dyn ReadAt>,
    sb: Superblock,
    probe: FsProbe,
}

/// Open `dev` as xfs.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    Ok(Arc::new(Xfs::open(dev, probe)?))
}

impl Xfs {
    /// Read and check the superblock and the root directory inode.
    pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Self> {
        let b = dev.read_vec(0, superblock::SB_LEN)?;
        let sb = Superblock::parse(&b)?;
        let fs = Xfs { dev, sb, probe };
        let root = fs.inode(fs.sb.rootino)?;
        if root.file_type() != FileType::Dir {
            return Err(Error::corrupt(
                "xfs superblock",
                0,
                "root inode is not a directory",
            ));
        }
        Ok(fs)
    }

    fn inode(&self, ino: u64) -> Result<Inode> {
        let off = self.sb.ino_to_byte(ino)?;
        let b = self.dev.read_vec(off, usize::from(self.sb.inode_size))?;
        Inode::parse(&self.sb, ino, off, &b)
    }

    /// The inode at `path`, literally (no symlink is followed).
    fn lookup(&self, path: &str) -> Result<Inode> {
        let mut cur = self.inode(self.sb.rootino)?;
        for (i, comp) in path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .enumerate()
        {
            if i >= MAX_COMPONENTS {
                return Err(Error::Limit {
                    what: format!("path components in {path}"),
                    limit: MAX_COMPONENTS as u64,
                });
            }
            if cur.file_type() != FileType::Dir {
                return Err(Error::NotADirectory(path.to_string()));
            }
            let ino = dir::lookup(&*self.dev, &self.sb, &cur, comp.as_bytes())?
                .ok_or_else(|| Error::NotFound(path.to_string()))?;
            cur = self.inode(ino)?;
        }
        Ok(cur)
    }
}

impl FileSystem for Xfs {
    fn probe(&self) -> &FsProbe {
        &self.probe
    }

    fn metadata(&self, path: &str) -> Result<Metadata> {
        let inode = self.lookup(path)?;
        Ok(Metadata {
            file_type: inode.file_type(),
            size: inode.size,
        })
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let inode = self.lookup(path)?;
        if inode.file_type() != FileType::Dir {
            return Err(Error::NotADirectory(path.to_string()));
        }
        dir::entries(&*self.dev, &self.sb, &inode)?
            .into_iter()
            .map(|e| {
                let file_type = match e.ftype {
                    Some(t) => t,
                    None => self.inode(e.ino)?.file_type(),
                };
                Ok(DirEntry {
                    name: String::from_utf8_lossy(&e.name).into_owned(),
                    file_type,
                })
            })
            .collect()
    }

    fn read_link(&self, path: &str) -> Result<String> {
        let inode = self.lookup(path)?;
        if inode.file_type() != FileType::Symlink {
            return Err(Error::corrupt(
                "xfs symlink",
                inode.offset,
                format!("{path}: not a symlink"),
            ));
        }
        let t = symlink::target(&*self.dev, &self.sb, &inode)?;
        Ok(String::from_utf8_lossy(&t).into_owned())
    }

    fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        let inode = self.lookup(path)?;
        if inode.file_type() != FileType::File {
            return Err(Error::NotAFile(path.to_string()));
        }
        let map = if inode.size == 0 {
            Vec::new()
        } else {
            bmap::extents(&*self.dev, &self.sb, &inode)?
        };
        Ok(Box::new(FileReader {
            fs: self,
            map,
            size: inode.size,
            pos: 0,
        }))
    }
}

/// Streams a regular file through its block map.
struct FileReader<'a> {
    fs: &'a Xfs,
    map: Vec<Extent>,
    size: u64,
    pos: u64,
}

/// Largest single device read for a file.
const READ_CHUNK: usize = 1 << 20;

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.size.saturating_sub(self.pos);
        let n = buf
            .len()
            .min(READ_CHUNK)
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        bmap::read_mapped(
            &*self.fs.dev,
            &self.fs.sb,
            &self.map,
            self.pos,
            &mut buf[..n],
        )
        .map_err(std::io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}
