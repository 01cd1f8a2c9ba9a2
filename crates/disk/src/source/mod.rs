//! Positioned-read sources: the one way every parser in imgport reads bytes.
//!
//! A [`ReadAt`] knows its length and reads exact byte ranges at an offset. Format
//! readers, guest inspection and conversion are written against this trait only, so
//! the same code checks a local file, an HTTP(S) object by range reads, or an
//! in-memory buffer.

mod block_cache;
#[cfg(feature = "native")]
mod file;
#[cfg(feature = "http")]
mod http;
mod mem;
mod slice;

pub use block_cache::{BlockCache, BlockCacheOptions};
#[cfg(feature = "native")]
pub use file::FileSource;
#[cfg(feature = "http")]
pub use http::{
    open_url, parse_content_range, ContentRange, HttpOptions, HttpSource, RedirectPolicy,
};
pub use mem::MemSource;
pub use slice::SliceSource;

use crate::{Error, Result};
use std::sync::Arc;

/// Whether a host range holds data or is a hole (SEEK_DATA/SEEK_HOLE), as qemu's
/// `file-posix` block status reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostExtent {
    pub offset: u64,
    pub length: u64,
    pub data: bool,
}

/// A source of bytes that can be read at any offset, from several threads.
pub trait ReadAt: Send + Sync {
    /// Total length in bytes.
    fn size(&self) -> u64;

    /// Fill `buf` with the bytes at `offset`. Reading past [`ReadAt::size`] is an
    /// [`Error::OutOfBounds`]; a short read from the medium is an error, never a
    /// silently shorter buffer.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Bytes fetched from the medium so far (for "reads only metadata" reports).
    fn bytes_read(&self) -> u64 {
        0
    }

    /// Which parts of `[offset, offset+len)` hold data on the host medium. `None`
    /// means unknown: treat everything as data. Local files answer with
    /// SEEK_DATA/SEEK_HOLE so that `measure` agrees with `qemu-img measure`.
    fn host_extents(&self, _offset: u64, _len: u64) -> Option<Vec<HostExtent>> {
        None
    }

    /// Bytes the medium has allocated for this source (`st_blocks * 512` of a local
    /// file, as qemu's file-posix `raw_co_get_allocated_file_size`). `None` when
    /// unknown: qemu's protocol drivers without the callback (curl: HTTP/HTTPS)
    /// answer `-ENOTSUP`, and so do sources here that are not a whole local file.
    fn allocated_bytes(&self) -> Option<u64> {
        None
    }

    /// A hint that the byte ranges `(offset, len)` will be read soon (issue 16: a
    /// format's metadata, read at open). A cache in front of a remote source fetches
    /// the missing ones now, coalesced and concurrently, so that the reads that follow
    /// cost no round trip each; other sources ignore it. Ranges outside the source are
    /// ignored; errors are those of the medium (the same reads would fail later).
    fn prefetch(&self, _ranges: &[(u64, u64)]) -> Result<()> {
        Ok(())
    }

    /// A short human description (path, URL) for error messages.
    fn describe(&self) -> String {
        "source".to_string()
    }
}

macro_rules! forward_read_at {
    ($($t:ty),*) => {$(
        impl<T: ReadAt + ?Sized> ReadAt for $t {
            fn size(&self) -> u64 { (**self).size() }
            fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
                (**self).read_exact_at(buf, offset)
            }
            fn bytes_read(&self) -> u64 { (**self).bytes_read() }
            fn host_extents(&self, offset: u64, len: u64) -> Option<Vec<HostExtent>> {
                (**self).host_extents(offset, len)
            }
            fn allocated_bytes(&self) -> Option<u64> { (**self).allocated_bytes() }
            fn prefetch(&self, ranges: &[(u64, u64)]) -> Result<()> { (**self).prefetch(ranges) }
            fn describe(&self) -> String { (**self).describe() }
        }
    )*};
}
forward_read_at!(Arc<T>, Box<T>, &T);

/// Checks that `[offset, offset+len)` lies inside a source of `size` bytes.
pub fn check_bounds(what: &dyn Fn() -> String, offset: u64, len: usize, size: u64) -> Result<()> {
    let len = len as u64;
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::OutOfBounds {
            what: what(),
            offset,
            len,
            size,
        }),
    }
}

/// Convenience reads on any source.
pub trait ReadAtExt: ReadAt {
    /// Read `len` bytes at `offset` into a new vector. `len` must be bounded by the
    /// caller (it is also checked against the source size before allocating).
    fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        check_bounds(&|| self.describe(), offset, len, self.size())?;
        let mut v = vec![0u8; len];
        self.read_exact_at(&mut v, offset)?;
        Ok(v)
    }

    /// Read up to `len` bytes at `offset`, fewer at the end of the source.
    fn read_upto(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let avail = self.size().saturating_sub(offset).min(len as u64) as usize;
        self.read_vec(offset, avail)
    }
}
impl<T: ReadAt + ?Sized> ReadAtExt for T {}
