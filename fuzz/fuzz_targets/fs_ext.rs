//! Any sparse device (see `common/sparse_dev.rs`) as ext2/3/4 (ext4-view behind a worker thread): open, a bounded
//! walk of the tree (listings, lstat, symlink targets) and bounded file reads.
#![no_main]

#[path = "common/sparse_dev.rs"]
mod sparse_dev;

use imgport_inspect::fs::{self, FsKind, FsProbe};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let dev = Arc::new(sparse_dev::SparseDev::parse(data));
    let probe = FsProbe {
        kind: FsKind::Ext4,
        uuid: None,
        label: None,
    };
    if let Ok(Some(fs)) = fs::open(dev, &probe) {
        sparse_dev::walk(&*fs);
    }
});
