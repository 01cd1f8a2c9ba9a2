//! Read-only NTFS (via the `ntfs` crate), case-insensitive lookups.

use super::{FileSystem, FsProbe};
use crate::{Error, Result};
use imgport_disk::ReadAt;
use std::sync::Arc;

/// Open `dev` as ntfs.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    let _ = (dev, probe);
    Err(Error::Unsupported("ntfs reader not implemented yet".into()))
}
