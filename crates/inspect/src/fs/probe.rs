//! Filesystem identification by superblock magic (as blkid does).

use super::{FsKind, FsProbe};
use crate::Result;
use imgport_disk::ReadAt;

/// Identify what `dev` holds.
pub fn probe(dev: &dyn ReadAt) -> Result<FsProbe> {
    let _ = dev;
    Ok(FsProbe {
        kind: FsKind::Unknown,
        uuid: None,
        label: None,
    })
}
