//! Raw disks: the file is the guest disk.

use crate::image::{Extent, ExtentKind, ImageInfo, VirtualDisk};
use crate::source::{HostExtent, ReadAt};
use crate::{Format, Result};
use std::sync::Arc;

/// A raw image: guest offset = file offset. Like qemu, the guest size is the file size
/// rounded up to whole 512-byte sectors; the bytes past the end of the file read as zeros.
pub struct RawDisk {
    src: Arc<dyn ReadAt>,
    info: ImageInfo,
}

impl RawDisk {
    pub fn open(src: Arc<dyn ReadAt>) -> Result<Self> {
        let size = src.size();
        let virtual_size = size.div_ceil(512) * 512;
        Ok(RawDisk {
            info: ImageInfo::new(Format::Raw, "raw", virtual_size, size),
            src,
        })
    }
}

impl ReadAt for RawDisk {
    fn size(&self) -> u64 {
        self.info.virtual_size
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        crate::source::check_bounds(
            &|| self.describe(),
            offset,
            buf.len(),
            self.info.virtual_size,
        )?;
        let in_file = self.src.size().saturating_sub(offset).min(buf.len() as u64) as usize;
        let (head, tail) = buf.split_at_mut(in_file);
        if !head.is_empty() {
            self.src.read_exact_at(head, offset)?;
        }
        tail.fill(0);
        Ok(())
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

    fn data_recurses_to_host(&self) -> bool {
        true
    }

    /// Everything is data stored at the same offset; holes in the host file are
    /// reported by [`ReadAt::host_extents`] (qemu's file-posix block status).
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.info.virtual_size);
        if offset >= end {
            return Ok(Vec::new());
        }
        // The sector-padding past the end of the file reads as zeros (qemu: BDRV_BLOCK_EOF → zero).
        let file_end = self.src.size();
        let mut out = Vec::new();
        if offset < file_end.min(end) {
            out.push(Extent {
                offset,
                length: file_end.min(end) - offset,
                kind: ExtentKind::Data,
                host_offset: Some(offset),
            });
        }
        let pad_start = offset.max(file_end);
        if pad_start < end {
            out.push(Extent {
                offset: pad_start,
                length: end - pad_start,
                kind: ExtentKind::Zero,
                host_offset: None,
            });
        }
        Ok(out)
    }
}
