//! VHD (Virtual PC / Hyper-V): fixed and dynamic disks.

use crate::image::VirtualDisk;
use crate::source::ReadAt;
use crate::{Error, Result};
use std::sync::Arc;

/// Open a VHD image.
pub fn open(_src: Arc<dyn ReadAt>) -> Result<Box<dyn VirtualDisk>> {
    Err(Error::unsupported(
        "vhd",
        "VHD reading is not implemented yet",
    ))
}
