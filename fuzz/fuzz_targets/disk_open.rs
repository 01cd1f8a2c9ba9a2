//! Detect, open and read any image bytes: header parsers and the virtual-disk reader
//! of every format, plus measure. Must never panic, hang or allocate without bound.
#![no_main]

use imgport_disk::{MemSource, ReadAt, VirtualDisk};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let src: Arc<dyn ReadAt> = Arc::new(MemSource::new(data.to_vec()));
    let _ = imgport_disk::detect(&*src);
    if let Ok(disk) = imgport_disk::open(src) {
        exercise(&*disk);
    }
});

fn exercise(disk: &dyn VirtualDisk) {
    let size = disk.size();
    let _ = disk.extents(0, size.min(1 << 32));
    let mut buf = vec![0u8; 4096];
    for off in [0, size / 2, size.saturating_sub(4096)] {
        let n = (size - off.min(size)).min(4096) as usize;
        let _ = disk.read_exact_at(&mut buf[..n], off);
    }
    if size < (1 << 34) {
        let _ = imgport_disk::measure(disk, 65536);
    }
}
