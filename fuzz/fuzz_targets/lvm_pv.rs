//! Any bytes as an LVM2 physical volume: label search, PV header area lists,
//! mda_header and the circular metadata buffer, then VG assembly and LV reads.
#![no_main]

use imgport_disk::{MemSource, ReadAt, ReadAtExt};
use imgport_inspect::lvm::{assemble, open_lv, scan_pv};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let dev: Arc<dyn ReadAt> = Arc::new(MemSource::new(data.to_vec()));
    let Ok(Some(pv)) = scan_pv(dev, "pv") else {
        return;
    };
    for vg in assemble(vec![pv]) {
        let _ = format!("{vg:?}");
        for lv in vg.lvs.iter().filter(|l| l.readable) {
            if let Ok(d) = open_lv(&vg, lv) {
                let _ = d.read_upto(d.size() / 2, 4096);
            }
        }
    }
});
