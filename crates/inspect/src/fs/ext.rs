//! Read-only ext2/3/4 (via the `ext4-view` crate).

use super::{FileSystem, FsProbe};
use crate::{Error, Result};
use imgport_disk::ReadAt;
use std::sync::Arc;

/// Open `dev` as ext.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    let _ = (dev, probe);
    Err(Error::Unsupported("ext reader not implemented yet".into()))
}
