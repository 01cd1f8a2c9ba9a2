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
    /// What the opened file is, when `path` itself is a symbolic link (read back from
    /// the open descriptor, so it names the file actually read).
    link_target: Option<PathBuf>,
    size: u64,
    read: AtomicU64,
}

impl FileSource {
    /// Open `path` read-only. Its size is taken once, at open.
    ///
    /// Only a regular file or a block device is accepted; a FIFO, socket, character
    /// device or directory is [`Error::NotAFile`]. The path is looked at first (so that
    /// a device is not even opened — opening one can have effects), then opened with
    /// `O_NONBLOCK` (opening a FIFO for reading would otherwise wait for a writer) and
    /// `O_NOCTTY`, and the type of the *opened* descriptor (`fstat`) decides, so nothing
    /// swapped in between is read; `O_NONBLOCK` is cleared again before any read. A
    /// symbolic link is followed (users link their images), and the source then
    /// describes itself as `LINK (symlink to TARGET)`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        let path = path.as_ref().to_path_buf();
        let io = |source| Error::Io {
            what: path.display().to_string(),
            source,
        };
        let refuse = |ft: std::fs::FileType| {
            not_an_image(ft).map(|kind| Error::NotAFile {
                what: path.display().to_string(),
                kind,
            })
        };
        if let Some(e) = std::fs::metadata(&path)
            .ok()
            .and_then(|m| refuse(m.file_type()))
        {
            return Err(e);
        }
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        let file = File::options()
            .read(true)
            .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
            .open(&path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        let ft = meta.file_type();
        if let Some(e) = refuse(ft) {
            return Err(e);
        }
        let flags = rustix::fs::fcntl_getfl(&file).map_err(|e| io(e.into()))?;
        rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK).map_err(|e| io(e.into()))?;
        let size = if ft.is_file() {
            meta.len()
        } else {
            // Block devices report 0 in metadata; seek to the end instead.
            rustix::fs::seek(&file, rustix::fs::SeekFrom::End(0)).map_err(|e| io(e.into()))?
        };
        let link_target = is_link.then(|| opened_path(&file, &path));
        Ok(FileSource {
            file,
            path,
            link_target,
            size,
            read: AtomicU64::new(0),
        })
    }

    /// The file a symbolic link `path` led to, when it was one.
    pub fn link_target(&self) -> Option<&Path> {
        self.link_target.as_deref()
    }

    /// Permission bits of the opened file (`st_mode & 0o7777`).
    pub fn mode(&self) -> Result<u32> {
        use std::os::unix::fs::PermissionsExt;
        let meta = self.file.metadata().map_err(|source| Error::Io {
            what: self.describe(),
            source,
        })?;
        Ok(meta.permissions().mode() & 0o7777)
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
        match &self.link_target {
            Some(t) => format!("{} (symlink to {})", self.path.display(), t.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// What a file of type `ft` is when it is not a disk image file: anything but a
/// regular file or a block device.
fn not_an_image(ft: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_file() || ft.is_block_device() {
        None
    } else if ft.is_dir() {
        Some("directory")
    } else if ft.is_fifo() {
        Some("FIFO")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_char_device() {
        Some("character device")
    } else {
        Some("special file")
    }
}

/// The path of the file `file` has open (`/proc/self/fd/N`), else `path` resolved.
fn opened_path(file: &File, path: &Path) -> PathBuf {
    let fd = std::os::fd::AsRawFd::as_raw_fd(file);
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .or_else(|_| std::fs::canonicalize(path))
        .unwrap_or_else(|_| path.to_path_buf())
}
