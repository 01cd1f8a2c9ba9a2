//! Any bytes as a whole disk: MBR/EBR chains, GPT headers and entry arrays
//! (primary and backup), then an LVM scan of every partition found.
#![no_main]

use imgport_disk::{MemSource, ReadAt, ReadAtExt};
use imgport_inspect::lvm::{assemble, open_lv, scan_pv};
use imgport_inspect::partition::{open_partition, read_partition_table};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let disk: Arc<dyn ReadAt> = Arc::new(MemSource::new(data.to_vec()));
    let Ok(t) = read_partition_table(&*disk) else {
        return;
    };
    let _ = format!("{t:?}");
    let mut pvs = Vec::new();
    for p in t.partitions.iter().take(16) {
        let dev = open_partition(disk.clone(), p);
        let _ = dev.read_upto(0, 512);
        if let Ok(Some(pv)) = scan_pv(dev, &format!("partition {}", p.number)) {
            pvs.push(pv);
        }
    }
    for vg in assemble(pvs) {
        for lv in vg.lvs.iter().filter(|l| l.readable) {
            if let Ok(dev) = open_lv(&vg, lv) {
                let _ = dev.read_upto(dev.size().saturating_sub(700), 1024);
            }
        }
    }
});
