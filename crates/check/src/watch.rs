//! The guest disk as the inspection reads it, watched for damage (R-FMT).
//!
//! The allocation walk validates every mapping-table entry, but the data behind them
//! (a compressed qcow2 cluster, a stream-optimized VMDK grain) is only decoded when
//! read. The inspection reads the partition table, filesystem metadata and a few
//! files; when the image's own structures fail to decode there, the image is damaged
//! and the check refuses it as the import would (its conversion reads everything),
//! instead of reporting the inspection's consequences (no partition, no root).

use imgport_disk::{ReadAt, Result};
use std::sync::{Arc, Mutex};

/// A [`ReadAt`] that remembers the first format-level corruption its reads hit.
pub struct Watched {
    inner: Arc<dyn ReadAt>,
    corrupt: Mutex<Option<String>>,
}

impl Watched {
    pub fn new(inner: Arc<dyn ReadAt>) -> Self {
        Watched {
            inner,
            corrupt: Mutex::new(None),
        }
    }

    /// The first corruption a read reported, if any.
    pub fn corruption(&self) -> Option<String> {
        self.corrupt.lock().ok().and_then(|c| c.clone())
    }
}

impl ReadAt for Watched {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let r = self.inner.read_exact_at(buf, offset);
        // Only damage of the image format counts: reads past the guest's end come from
        // what the guest's own tables say, and I/O failures are no verdict.
        if let Err(e @ imgport_disk::Error::Corrupt { .. }) = &r {
            if let Ok(mut c) = self.corrupt.lock() {
                c.get_or_insert_with(|| e.to_string());
            }
        }
        r
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn host_extents(&self, offset: u64, len: u64) -> Option<Vec<imgport_disk::source::HostExtent>> {
        self.inner.host_extents(offset, len)
    }

    fn allocated_bytes(&self) -> Option<u64> {
        self.inner.allocated_bytes()
    }

    fn prefetch(&self, ranges: &[(u64, u64)]) -> Result<()> {
        self.inner.prefetch(ranges)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
