//! The pure-Rust decoders the in-browser check (crates/wasm) uses instead of the C
//! libraries, driven as its builds drive them: a zstd frame after the window check of
//! `imgport_disk::codec` (ruzstd), and .xz / legacy .lzma streams into a capped sink
//! (lzma-rs, as `linux/initramfs.rs` without `native`). Bounded output; must never
//! panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};

const CAP: usize = 16 << 20;

struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + b.len() > CAP {
            return Err(std::io::Error::other("cap"));
        }
        self.0.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if imgport_disk::codec::zstd_window_size(input)
                .is_some_and(|w| w > imgport_disk::codec::ZSTD_MAX_WINDOW)
            {
                return;
            }
            if let Ok(d) = ruzstd::decoding::StreamingDecoder::new(input) {
                let _ = d.take(CAP as u64).read_to_end(&mut Vec::new());
            }
        }
        1 => {
            let _ = lzma_rs::xz_decompress(&mut &input[..], &mut Capped(Vec::new()));
        }
        _ => {
            let opts = lzma_rs::decompress::Options {
                memlimit: Some(128 << 20),
                ..Default::default()
            };
            let _ = lzma_rs::lzma_decompress_with_options(&mut &input[..], &mut Capped(Vec::new()), &opts);
        }
    }
});
