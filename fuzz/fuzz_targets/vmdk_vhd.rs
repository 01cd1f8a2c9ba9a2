//! Open arbitrary bytes forced as VMDK and as VHD (header, descriptor, grain
//! directory/tables, stream footer, VHD footer, dynamic header, BAT), then read,
//! map and measure a bounded amount. Must never panic, hang or allocate without bound.
#![no_main]

use imgport_disk::{Format, MemSource, ReadAt, VirtualDisk};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let src: Arc<dyn ReadAt> = Arc::new(MemSource::new(data.to_vec()));
    for format in [Format::Vmdk, Format::Vhd] {
        if let Ok(disk) = imgport_disk::open_as(src.clone(), format) {
            exercise(&*disk);
        }
    }
});

fn exercise(disk: &dyn VirtualDisk) {
    let size = disk.size();
    let _ = disk.info();
    let _ = disk.extents(0, size.min(1 << 30));
    let _ = disk.extents(size / 3, 1 << 20);
    let mut buf = vec![0u8; 70_000];
    for off in [0, 511, size / 2, size.saturating_sub(70_000)] {
        let n = (size - off.min(size)).min(70_000) as usize;
        let _ = disk.read_exact_at(&mut buf[..n], off);
    }
    if size < (1 << 32) {
        let _ = imgport_disk::measure(disk, 65536);
    }
}
