//! Raw disks: the file is the guest disk.

use crate::image::{Extent, ExtentKind, ImageInfo, VirtualDisk};
use crate::source::{HostExtent, ReadAt};
use crate::{Format, Result};
use std::sync::Arc;

/// A raw image: guest offset = file offset.
pub struct RawDisk {
    src: Arc<dyn ReadAt>,
    info: ImageInfo,
}

impl RawDisk {
    pub fn open(src: Arc<dyn ReadAt>) -> Result<Self> {
        let size = src.size();
        Ok(RawDisk { info: ImageInfo::new(Format::Raw, "raw", size, size), src })
    }
}

impl ReadAt for RawDisk {
    fn size(&self) -> u64 {
        self.info.virtual_size
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.src.read_exact_at(buf, offset)
    }
    fn bytes_read(&self) -> u64 {
        self.src.bytes_read()
    }
    fn host_extents(&self, offset: u64, len: u64) -> Option<Vec<HostExtent>> {
        self.src.host_extents(offset, len)
    }
    fn describe(&self) -> String {
        self.src.describe()
    }
}

impl VirtualDisk for RawDisk {
    fn info(&self) -> &ImageInfo {
        &self.info
    }

    fn source(&self) -> &dyn ReadAt {
        &*self.src
    }

    /// Everything is data stored at the same offset; holes in the host file are
    /// reported by [`ReadAt::host_extents`] (qemu's file-posix block status).
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.info.virtual_size);
        if offset >= end {
            return Ok(Vec::new());
        }
        Ok(vec![Extent { offset, length: end - offset, kind: ExtentKind::Data, host_offset: Some(offset) }])
    }
}
