//! The whole inspector (partition tables → LVM → filesystems → Linux/Windows facts →
//! classification) on a sparse 1 GiB guest disk built from the input (see
//! `common/sparse_dev.rs`): whatever the bytes, `inspect` returns a report, never
//! panics, hangs or allocates without bound.
#![no_main]

#[path = "common/sparse_dev.rs"]
mod sparse_dev;

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let report = imgport_inspect::inspect(Arc::new(sparse_dev::SparseDev::parse(data)));
    let _ = serde_json::to_string(&report);
});
