//! Any bytes as LVM2 text metadata: the parser, then VG assembly against a 4 MiB
//! device (whose UUID the text may name) and reads of the linear LVs it allows.
#![no_main]

use imgport_disk::{MemSource, ReadAt, ReadAtExt};
use imgport_inspect::lvm::{assemble, metadata, open_lv, PhysicalVolume};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn device() -> Arc<dyn ReadAt> {
    static DEV: OnceLock<Arc<dyn ReadAt>> = OnceLock::new();
    DEV.get_or_init(|| Arc::new(MemSource::new(vec![0xa5; 4 << 20])))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    if metadata::parse(&text).is_err() {
        return;
    }
    let pv = PhysicalVolume {
        name: "partition 2".into(),
        uuid: "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg".into(),
        device_size: 4 << 20,
        label_sector: 1,
        data_areas: vec![],
        metadata_areas: vec![],
        metadata: Some(text),
        findings: vec![],
        dev: device(),
    };
    for vg in assemble(vec![pv]) {
        for lv in vg.lvs.iter().filter(|l| l.readable) {
            if let Ok(d) = open_lv(&vg, lv) {
                let _ = d.read_upto(d.size().saturating_sub(3000), 8192);
            }
        }
    }
});
