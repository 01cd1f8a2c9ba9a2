//! VMDK: monolithicSparse and streamOptimized (hosted sparse extents). Descriptor
//! types that name other files are refused.

use crate::image::VirtualDisk;
use crate::source::ReadAt;
use crate::{Error, Result};
use std::sync::Arc;

/// Open a VMDK image.
pub fn open(_src: Arc<dyn ReadAt>) -> Result<Box<dyn VirtualDisk>> {
    Err(Error::unsupported(
        "vmdk",
        "VMDK reading is not implemented yet",
    ))
}
