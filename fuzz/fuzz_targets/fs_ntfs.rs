//! Any sparse device (see `common/sparse_dev.rs`) as NTFS (the ntfs crate):
//! open, a bounded walk of the tree (listings, lstat, symlink targets) and
//! bounded file reads.
#![no_main]

#[path = "common/sparse_dev.rs"]
mod sparse_dev;

use imgport_inspect::fs::{self, FsKind, FsProbe};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let dev = Arc::new(sparse_dev::SparseDev::parse(data));
    let probe = FsProbe {
        kind: FsKind::Ntfs,
        uuid: None,
        label: None,
    };
    if let Ok(Some(fs)) = fs::open(dev, &probe) {
        sparse_dev::walk(&*fs);
    }
});
