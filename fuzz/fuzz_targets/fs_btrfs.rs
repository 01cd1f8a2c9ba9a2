//! Any sparse device (see `common/sparse_dev.rs`) as btrfs: superblock (its
//! crc32c is recomputed so mutations get past it), chunk tree, default
//! subvolume, a bounded walk and bounded reads; then the subvolume list and `@`.
#![no_main]

#[path = "common/sparse_dev.rs"]
mod sparse_dev;

use imgport_inspect::fs::{self, btrfs, FsKind, FsProbe};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
        }
    }
    !c
}

fuzz_target!(|data: &[u8]| {
    let mut dev = sparse_dev::SparseDev::parse(data);
    // The superblock is block 16 (64 KiB).
    if let Some(sb) = dev.blocks.get_mut(&16) {
        let c = crc32c(&sb[0x20..]);
        sb[..4].copy_from_slice(&c.to_le_bytes());
    }
    let dev = Arc::new(dev);
    let probe = FsProbe {
        kind: FsKind::Btrfs,
        uuid: None,
        label: None,
    };
    if let Ok(Some(fs)) = fs::open(dev.clone(), &probe) {
        sparse_dev::walk(&*fs);
    }
    let _ = btrfs::list_subvolumes(dev.clone(), probe.clone());
    if let Ok(fs) = btrfs::open_subvolume(dev, probe, "@") {
        sparse_dev::walk(&*fs);
    }
});
