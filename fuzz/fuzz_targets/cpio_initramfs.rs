//! Any bytes as an initramfs: cpio (newc/odc/binary) scanning over concatenated
//! plain and compressed (gzip, bzip2, lzma, xz, lz4 legacy, zstd) layers. Must
//! never panic or hang; decompressed output is capped.
#![no_main]

use imgport_inspect::linux::initramfs::scan_initramfs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scan = scan_initramfs(data);
    assert!(
        scan.decompressed_bytes <= imgport_inspect::linux::initramfs::MAX_DECOMPRESSED + (8 << 20)
    );
});
