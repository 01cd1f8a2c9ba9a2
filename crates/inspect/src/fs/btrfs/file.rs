//! File contents: a file's EXTENT_DATA items (bounded and checked not to overlap) and
//! [`FileReader`], which streams them: holes and prealloc extents as zeros, inline and
//! regular extents, zlib/LZO/zstd-compressed ones through [`compress`] (btrfs
//! "On-disk format": EXTENT_DATA).

use super::items::{self, ExtentKind, FileExtent};
use super::key::{Key, EXTENT_DATA};
use super::{compress, Btrfs, Node, MAX_FILE_EXTENTS, MAX_INLINE_BYTES};
use crate::{Error, Result};
use std::io::Read;

impl Btrfs {
    /// The EXTENT_DATA items of file `n`, in file order: at most [`MAX_FILE_EXTENTS`],
    /// at most [`MAX_INLINE_BYTES`] inline, none overlapping.
    pub(super) fn extents(&self, n: &Node) -> Result<Vec<FileExtent>> {
        let mut out: Vec<FileExtent> = Vec::new();
        let mut inline_bytes = 0usize;
        let min = Key::new(n.ino, EXTENT_DATA, 0);
        let max = Key::new(n.ino, EXTENT_DATA, u64::MAX);
        self.vol.search(n.tree, min, max, &mut |k, d| {
            if out.len() >= MAX_FILE_EXTENTS {
                return Err(Error::Limit {
                    what: format!("btrfs inode {} extents", n.ino),
                    limit: MAX_FILE_EXTENTS as u64,
                });
            }
            let e = FileExtent::parse(&k, d)?;
            if let ExtentKind::Inline { data } = &e.kind {
                inline_bytes += data.len();
                if inline_bytes > MAX_INLINE_BYTES {
                    return Err(Error::Limit {
                        what: format!("btrfs inode {} inline extent bytes", n.ino),
                        limit: MAX_INLINE_BYTES as u64,
                    });
                }
            }
            if out.last().is_some_and(|p| p.start + p.len > e.start) {
                return Err(Error::corrupt(
                    "btrfs file extent",
                    n.ino,
                    format!("overlapping extents at {}", e.start),
                ));
            }
            out.push(e);
            Ok(true)
        })?;
        Ok(out)
    }
}

/// Streams a file through its EXTENT_DATA items; the last decompressed extent is kept.
pub(super) struct FileReader<'a> {
    fs: &'a Btrfs,
    extents: Vec<FileExtent>,
    size: u64,
    pos: u64,
    /// (index into `extents`, its decompressed bytes)
    cached: Option<(usize, Vec<u8>)>,
}

/// Largest single device read for a file.
const READ_CHUNK: usize = 1 << 20;

impl<'a> FileReader<'a> {
    pub(super) fn new(fs: &'a Btrfs, extents: Vec<FileExtent>, size: u64) -> Self {
        FileReader {
            fs,
            extents,
            size,
            pos: 0,
            cached: None,
        }
    }

    /// Fill `buf` (at most up to the end of the piece at `pos`); returns bytes filled.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let pos = self.pos;
        let i = self.extents.partition_point(|e| e.start <= pos);
        let hit = i
            .checked_sub(1)
            .filter(|&j| self.extents.get(j).is_some_and(|e| pos - e.start < e.len));
        let Some(j) = hit else {
            // A hole up to the next extent.
            let next = self.extents.get(i).map_or(u64::MAX, |e| e.start);
            let n = buf
                .len()
                .min(usize::try_from(next - pos).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            return Ok(n);
        };
        let e = &self.extents[j];
        let within = pos - e.start;
        let n = buf
            .len()
            .min(usize::try_from(e.len - within).unwrap_or(usize::MAX));
        let sector = self.fs.vol.sb.sector_size;
        match (&e.kind, e.compression) {
            (ExtentKind::Zero, _) => buf[..n].fill(0),
            (ExtentKind::Inline { data }, items::COMPRESS_NONE) => {
                let src = data.get(within as usize..).unwrap_or_default();
                let m = n.min(src.len());
                buf[..m].copy_from_slice(&src[..m]);
                buf[m..n].fill(0);
            }
            (
                ExtentKind::Regular {
                    disk_bytenr,
                    offset,
                    ..
                },
                items::COMPRESS_NONE,
            ) => {
                let at = disk_bytenr
                    .checked_add(*offset)
                    .and_then(|a| a.checked_add(within))
                    .ok_or_else(|| {
                        Error::corrupt("btrfs file extent", *disk_bytenr, "address overflow")
                    })?;
                self.fs.vol.read_logical(at, &mut buf[..n])?;
            }
            (kind, c) => {
                if self.cached.as_ref().is_none_or(|(k, _)| *k != j) {
                    let data = match kind {
                        ExtentKind::Inline { data } => {
                            compress::decompress(c, data, e.ram_bytes, sector)?
                        }
                        ExtentKind::Regular {
                            disk_bytenr,
                            disk_num_bytes,
                            ..
                        } => {
                            if *disk_num_bytes > compress::MAX_RAM_BYTES {
                                return Err(Error::corrupt(
                                    "btrfs file extent",
                                    *disk_bytenr,
                                    format!("{disk_num_bytes} compressed bytes"),
                                ));
                            }
                            let mut raw = vec![0u8; *disk_num_bytes as usize];
                            self.fs.vol.read_logical(*disk_bytenr, &mut raw)?;
                            compress::decompress(c, &raw, e.ram_bytes, sector)?
                        }
                        ExtentKind::Zero => Vec::new(),
                    };
                    self.cached = Some((j, data));
                }
                let skip = match kind {
                    ExtentKind::Regular { offset, .. } => *offset,
                    _ => 0,
                };
                let data = self
                    .cached
                    .as_ref()
                    .map(|(_, d)| d.as_slice())
                    .unwrap_or_default();
                let from = skip.saturating_add(within);
                let src = usize::try_from(from)
                    .ok()
                    .and_then(|f| data.get(f..))
                    .unwrap_or_default();
                let m = n.min(src.len());
                buf[..m].copy_from_slice(&src[..m]);
                buf[m..n].fill(0);
            }
        }
        Ok(n)
    }
}

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
        let got = self.fill(&mut buf[..n]).map_err(std::io::Error::other)?;
        self.pos += got as u64;
        Ok(got)
    }
}
