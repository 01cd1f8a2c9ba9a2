//! Any bytes as an initramfs: cpio (newc/odc/binary) scanning over concatenated
//! plain and compressed (gzip, bzip2, lzma, xz, lz4 legacy, zstd) layers, streamed in
//! small reads, whole and stopping once two modules are seen. Must never panic or
//! hang; decompressed output is capped.
#![no_main]

use imgport_inspect::linux::initramfs::{scan_initramfs, scan_initramfs_reader, MAX_DECOMPRESSED};
use libfuzzer_sys::fuzz_target;

/// Hands out at most 7 bytes per read, so every buffer boundary is exercised.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(7);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = scan_initramfs(data);
    assert!(whole.decompressed_bytes <= MAX_DECOMPRESSED + (8 << 20));
    // The same bytes in tiny reads give the same answer (error texts may quote what
    // happened to be buffered).
    let trickled = scan_initramfs_reader(&mut Trickle(data), &|_| false);
    assert_eq!(
        (
            &whole.layers,
            whole.entries,
            &whole.modules,
            whole.error.is_some()
        ),
        (
            &trickled.layers,
            trickled.entries,
            &trickled.modules,
            trickled.error.is_some()
        )
    );
    let stopped = scan_initramfs_reader(&mut Trickle(data), &|m| {
        m.contains("virtio_blk") && m.contains("virtio_pci")
    });
    assert!(stopped.entries <= whole.entries);
});
