//! Filesystem identification (`fs::probe`) on arbitrary bytes: once as a device
//! holding exactly the input, once as a sparse device (see
//! `common/sparse_dev.rs`) so that signatures far into the device are reachable.
#![no_main]

#[path = "common/sparse_dev.rs"]
mod sparse_dev;

use imgport_disk::MemSource;
use imgport_inspect::fs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fs::probe(&MemSource::new(data.to_vec()));
    let _ = fs::probe(&sparse_dev::SparseDev::parse(data));
});
