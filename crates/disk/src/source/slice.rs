//! A window `[start, start+len)` of another source: a partition, a logical volume
//! segment, a fixed VHD's data area.

use super::{check_bounds, HostExtent, ReadAt};
use crate::Result;

/// A bounded view into another source. Reads outside the window are errors.
pub struct SliceSource<S> {
    inner: S,
    start: u64,
    len: u64,
    name: String,
}

impl<S: ReadAt> SliceSource<S> {
    /// A window of `len` bytes at `start`; clipped to the inner source's size.
    pub fn new(inner: S, start: u64, len: u64, name: impl Into<String>) -> Self {
        let avail = inner.size().saturating_sub(start);
        SliceSource {
            start,
            len: len.min(avail),
            inner,
            name: name.into(),
        }
    }

    /// Offset of the window in the inner source.
    pub fn start(&self) -> u64 {
        self.start
    }
}

impl<S: ReadAt> ReadAt for SliceSource<S> {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_bounds(&|| self.describe(), offset, buf.len(), self.len)?;
        self.inner.read_exact_at(buf, self.start + offset)
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn host_extents(&self, offset: u64, len: u64) -> Option<Vec<HostExtent>> {
        let len = len.min(self.len.saturating_sub(offset));
        let v = self.inner.host_extents(self.start + offset, len)?;
        Some(
            v.into_iter()
                .map(|e| HostExtent {
                    offset: e.offset - self.start,
                    ..e
                })
                .collect(),
        )
    }

    fn prefetch(&self, ranges: &[(u64, u64)]) -> Result<()> {
        let inside: Vec<(u64, u64)> = ranges
            .iter()
            .filter(|(o, _)| *o < self.len)
            .map(|&(o, l)| (self.start + o, l.min(self.len - o)))
            .collect();
        self.inner.prefetch(&inside)
    }

    fn describe(&self) -> String {
        format!("{} of {}", self.name, self.inner.describe())
    }
}
