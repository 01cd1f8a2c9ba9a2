//! Read-only btrfs (default subvolume and `@`-style layouts).

use super::{FileSystem, FsProbe};
use crate::{Error, Result};
use imgport_disk::ReadAt;
use std::sync::Arc;

/// Open `dev` as btrfs.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    let _ = (dev, probe);
    Err(Error::Unsupported("btrfs reader not implemented yet".into()))
}
