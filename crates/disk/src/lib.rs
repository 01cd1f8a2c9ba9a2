//! imgport disk core: read disk images safely.
//!
//! - [`source`]: positioned-read sources ([`ReadAt`]): local files, memory, windows,
//!   HTTP(S) range reads.
//! - [`detect`]: format detection by content (R-FMT), refusing ambiguous files.
//! - [`format`]: readers for raw, qcow2, VMDK and VHD, each a [`VirtualDisk`].
//! - [`measure`]: the qcow2-converted size (R-SIZE-ACTUAL), as `qemu-img measure`.
//!
//! Images are hostile input: every reader bounds its reads, table sizes and loops by
//! the file size, never opens another file because an image names it, and reports
//! damage as an [`Error`] naming the structure and offset.

pub mod bytes;
pub mod codec;
#[cfg(feature = "native")]
pub mod convert;
pub mod detect;
mod error;
pub mod format;
mod image;
mod lru;
pub mod measure;
pub mod par;
pub mod source;

pub use detect::{detect, Detected};
pub use error::{Error, ErrorCode, Result};
pub use image::{push_extent, Extent, ExtentKind, Format, ImageInfo, VirtualDisk};
pub use measure::{allocation, measure, Allocation, Measure};
#[cfg(feature = "native")]
pub use source::FileSource;
#[cfg(feature = "http")]
pub use source::{open_url, HttpOptions, HttpSource};
pub use source::{MemSource, ReadAt, ReadAtExt, SliceSource};

use std::sync::Arc;

/// Detect the format of `src` and open it as a virtual disk.
pub fn open(src: Arc<dyn ReadAt>) -> Result<Box<dyn VirtualDisk>> {
    let detected = detect(&*src)?;
    let format = detected.format.ok_or_else(|| Error::UnsupportedFormat {
        detected: detected.name.clone(),
        detail: detected.evidence.clone(),
    })?;
    open_as(src, format)
}

/// Open `src` as `format` without detection (like `qemu-img -f FORMAT`).
pub fn open_as(src: Arc<dyn ReadAt>, format: Format) -> Result<Box<dyn VirtualDisk>> {
    Ok(match format {
        Format::Raw => Box::new(format::raw::RawDisk::open(src)?),
        Format::Qcow2 => Box::new(format::qcow2::Qcow2Disk::open(src)?),
        Format::Vmdk => format::vmdk::open(src)?,
        Format::Vhd => format::vhd::open(src)?,
    })
}

/// Open a local image file.
#[cfg(feature = "native")]
pub fn open_path(path: impl AsRef<std::path::Path>) -> Result<Box<dyn VirtualDisk>> {
    open(Arc::new(FileSource::open(path)?))
}
