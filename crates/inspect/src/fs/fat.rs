//! Read-only FAT12/16/32 (via the `fatfs` crate, read-only adapter).

use super::{FileSystem, FsProbe};
use crate::{Error, Result};
use imgport_disk::ReadAt;
use std::sync::Arc;

/// Open `dev` as fat.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    let _ = (dev, probe);
    Err(Error::Unsupported("fat reader not implemented yet".into()))
}
