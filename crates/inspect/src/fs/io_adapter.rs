//! A `Read + Seek` cursor over a shared [`ReadAt`], for filesystem crates that read
//! through `std::io` (`fatfs`, `ntfs`).
//!
//! Two guards for hostile input:
//! - a read **budget**: the cursor fails (an `io::Error`) once it has delivered
//!   more bytes than allowed (cached or not), so a crate that loops on a cyclic on-disk structure (a FAT
//!   cluster chain or an NTFS index that points back at itself) ends with an error
//!   instead of hanging;
//! - reads past the end of the device return what is there (then 0), as a file does.
//!
//! A **soft** cursor ([`ReadAtCursor::soft`]) never returns a read error: on a
//! device error, an exhausted budget or a read past the end it hands out zeros
//! and remembers the first failure, which the caller must check with
//! [`ReadAtCursor::failure`] after the crate returns. The `ntfs` crate needs this:
//! it panics (`unreachable!`) when an I/O error surfaces while it parses a
//! `binrw`-derived structure from the device.
//!
//! Small reads (the crates parse field by field) are served from one cached chunk
//! so that they do not become one device read each.

use imgport_disk::ReadAt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

/// Chunk size of the small-read cache.
const CHUNK: u64 = 64 * 1024;
/// Reads at most this long go through the cache.
const SMALL_READ: usize = 4096;

/// A cursor over `dev` (see the module doc).
pub(crate) struct ReadAtCursor {
    dev: Arc<dyn ReadAt>,
    pos: u64,
    /// Bytes that may still be delivered to the caller.
    budget: u64,
    /// `(offset, bytes)` of the cached chunk.
    cache: Option<(u64, Vec<u8>)>,
    /// Soft mode: failures become zeros and are recorded here.
    soft: bool,
    failure: Option<String>,
}

impl ReadAtCursor {
    /// A cursor at offset 0 that may deliver at most `budget` bytes.
    pub(crate) fn with_budget(dev: Arc<dyn ReadAt>, budget: u64) -> Self {
        ReadAtCursor {
            dev,
            pos: 0,
            budget,
            cache: None,
            soft: false,
            failure: None,
        }
    }

    /// A soft cursor (see the module doc) at offset 0 that may deliver at most
    /// `budget` bytes before it starts handing out zeros.
    pub(crate) fn soft(dev: Arc<dyn ReadAt>, budget: u64) -> Self {
        let mut c = Self::with_budget(dev, budget);
        c.soft = true;
        c
    }

    /// The first failure a soft cursor papered over.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn fetch(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.dev
            .read_exact_at(buf, offset)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

impl Read for ReadAtCursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.soft {
            return self.read_strict(buf);
        }
        let want = buf.len();
        let r = if self.failure.is_some() {
            Ok(0)
        } else {
            self.read_strict(buf)
        };
        let n = match r {
            Ok(n) if n == want => return Ok(n),
            Ok(n) => {
                if self.failure.is_none() {
                    self.failure = Some(format!(
                        "read of {want} bytes at offset {} runs past the end of the device",
                        self.pos
                    ));
                }
                n
            }
            Err(e) => {
                self.failure = Some(e.to_string());
                0
            }
        };
        if let Some(rest) = buf.get_mut(n..) {
            rest.fill(0);
        }
        self.pos = self.pos.saturating_add((want - n) as u64);
        Ok(want)
    }
}

impl ReadAtCursor {
    fn read_strict(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.dev.size();
        let avail = size.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(avail) as usize;
        if n == 0 {
            return Ok(0);
        }
        let pos = self.pos;
        if n as u64 > self.budget {
            return Err(io::Error::other(format!(
                "read budget exhausted at offset {pos} (a cyclic or oversized structure?)"
            )));
        }
        self.budget -= n as u64;
        let out = buf
            .get_mut(..n)
            .ok_or_else(|| io::Error::other("read length"))?;
        if n <= SMALL_READ {
            let start = pos - pos % CHUNK;
            let hit = matches!(&self.cache, Some((at, data))
                if *at == start && pos + n as u64 <= start + data.len() as u64);
            if !hit {
                let len = CHUNK.min(size - start) as usize;
                let mut data = vec![0u8; len];
                self.fetch(&mut data, start)?;
                self.cache = Some((start, data));
            }
            let within = (pos - start) as usize;
            let src = self
                .cache
                .as_ref()
                .and_then(|(_, d)| d.get(within..within + n))
                .ok_or_else(|| io::Error::other("cache range"))?;
            out.copy_from_slice(src);
        } else {
            self.fetch(out, pos)?;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ReadAtCursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.dev.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing offset",
            )),
        }
    }
}

/// Writes always fail: the filesystem crates get a read-only device.
impl Write for ReadAtCursor {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "read-only device",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgport_disk::MemSource;

    fn dev(n: usize) -> Arc<dyn ReadAt> {
        Arc::new(MemSource::new((0..n).map(|i| i as u8).collect::<Vec<u8>>()))
    }

    #[test]
    fn reads_seeks_and_stops_at_the_end() {
        let mut c = ReadAtCursor::with_budget(dev(200_000), u64::MAX);
        let mut b = [0u8; 3];
        c.seek(SeekFrom::Start(70_000)).unwrap();
        c.read_exact(&mut b).unwrap();
        assert_eq!(
            b,
            [
                (70_000 % 256) as u8,
                (70_001 % 256) as u8,
                (70_002 % 256) as u8
            ]
        );
        c.seek(SeekFrom::End(-2)).unwrap();
        let mut v = Vec::new();
        c.read_to_end(&mut v).unwrap();
        assert_eq!(v.len(), 2);
        assert!(c.seek(SeekFrom::Current(-300_000)).is_err());
        let mut big = vec![0u8; 10_000];
        c.seek(SeekFrom::Start(131_070)).unwrap();
        c.read_exact(&mut big).unwrap();
        assert_eq!(big[0], (131_070 % 256) as u8);
        assert!(c.write(b"x").is_err());
    }

    #[test]
    fn budget_ends_reading() {
        let mut c = ReadAtCursor::with_budget(dev(10_000), 5000);
        let mut b = vec![0u8; 6000];
        assert!(c.read_exact(&mut b).is_err());
        // Cached small reads count too (a loop over one cached chunk ends).
        let mut c = ReadAtCursor::with_budget(dev(10_000), 5000);
        let mut small = [0u8; 32];
        let mut ok = 0;
        while c.seek(SeekFrom::Start(0)).is_ok() && c.read_exact(&mut small).is_ok() {
            ok += 1;
        }
        assert_eq!(ok, 5000 / 32);
    }
}
