//! A local file as a [`ReadAt`] source (`pread`, plus SEEK_DATA/SEEK_HOLE).

use super::{check_bounds, HostExtent, ReadAt};
use crate::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A regular file or block device opened read-only.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    path: PathBuf,
    size: u64,
    read: AtomicU64,
}

impl FileSource {
    /// Open `path` read-only. Its size is taken once, at open.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io = |source| Error::Io {
            what: path.display().to_string(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(io(std::io::Error::other("is a directory")));
        }
        let size = if meta.is_file() {
            meta.len()
        } else {
            // Block devices report 0 in metadata; seek to the end instead.
            rustix::fs::seek(&file, rustix::fs::SeekFrom::End(0)).map_err(|e| io(e.into()))?
        };
        Ok(FileSource {
            file,
            path,
            size,
            read: AtomicU64::new(0),
        })
    }

    /// The path this source was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_bounds(&|| self.describe(), offset, buf.len(), self.size)?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| Error::Io {
                what: self.describe(),
                source,
            })?;
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    fn host_extents(&self, offset: u64, len: u64) -> Option<Vec<HostExtent>> {
        use rustix::fs::{seek, SeekFrom};
        let end = offset.saturating_add(len).min(self.size);
        let mut out = Vec::new();
        let mut pos = offset;
        // Bounded: each step advances `pos`; a file cannot have more extents than bytes.
        while pos < end {
            match seek(&self.file, SeekFrom::Data(pos)) {
                Ok(data) if data > pos => {
                    let hole_end = data.min(end);
                    out.push(HostExtent {
                        offset: pos,
                        length: hole_end - pos,
                        data: false,
                    });
                    pos = hole_end;
                }
                Ok(_) => {
                    let hole = match seek(&self.file, SeekFrom::Hole(pos)) {
                        Ok(h) if h > pos => h,
                        // The file system does not know; treat as data to the end.
                        _ => end,
                    };
                    let data_end = hole.min(end);
                    out.push(HostExtent {
                        offset: pos,
                        length: data_end - pos,
                        data: true,
                    });
                    pos = data_end;
                }
                // ENXIO: no more data after pos, a trailing hole.
                Err(rustix::io::Errno::NXIO) => {
                    out.push(HostExtent {
                        offset: pos,
                        length: end - pos,
                        data: false,
                    });
                    pos = end;
                }
                Err(_) => return None,
            }
        }
        Some(out)
    }

    /// `st_blocks * 512`, read when asked (qemu reads it when the first block status
    /// is queried). Block devices report 0, as they do to qemu.
    fn allocated_bytes(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let meta = self.file.metadata().ok()?;
        Some(meta.blocks().saturating_mul(512))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
