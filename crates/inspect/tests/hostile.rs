//! Decompression bombs (issue 18 item 7): an initramfs layer of zeros compressed by
//! each codec the initramfs reader accepts, made by the real compressors. Every codec
//! must stop at the one decompression budget (crate::budget, initramfs `LIMITS`) with an
//! error naming it, having produced no more than the budget allows plus one buffer —
//! and an xz stream must be decoded streaming, not held whole (the bug: a 2 GiB xz
//! bomb took 4.2 GB of memory).

use imgport_inspect::linux::initramfs::{scan_initramfs, scan_initramfs_reader, LIMITS};
use std::process::{Command, Stdio};

/// The largest read of decompressed bytes the scanner makes (its drain buffer).
const ONE_BUFFER: u64 = 64 * 1024;

/// Whether `tool` is installed; when it is not, the test is skipped loudly, or fails
/// under `IMGPORT_TEST_REQUIRE_TOOLS=1` (CI) — the test-support switch.
fn have(tool: &str) -> bool {
    imgport_test_support::require_tool(tool, "scripts/apt-packages.txt")
}

/// `mib` MiB of zeros through `compressor` (a shell pipeline: the zeros never sit in
/// this process's memory).
fn zero_bomb(mib: u64, compressor: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .args(["-c", &format!("head -c {}M /dev/zero | {compressor}", mib)])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{compressor}");
    out.stdout
}

const CODECS: &[(&str, &str, &str)] = &[
    ("gzip", "gzip -c -1", "gzip"),
    ("bzip2", "bzip2 -c -1", "bzip2"),
    ("zstd", "zstd -c -q -1", "zstd"),
    ("lzma", "lzma -c -0", "lzma"),
    ("lz4", "lz4 -l -c -q", "lz4-legacy"),
    ("xz", "xz -c -0 -T1", "xz"),
];

#[test]
fn a_zero_bomb_stops_at_the_decompression_budget_for_every_codec() {
    for &(tool, compressor, layer) in CODECS {
        if !have(tool) {
            continue;
        }
        let bomb = zero_bomb(256, compressor);
        let s = scan_initramfs(&bomb);
        assert_eq!(s.layers, [format!("{layer}@0")], "{tool}");
        let err = s.error.unwrap_or_default();
        assert!(
            err.contains("compression ratio") && err.contains("decompression budget"),
            "{tool} ({} bytes): {err}",
            bomb.len()
        );
        assert!(
            s.decompressed_bytes <= LIMITS.ratio_grace + ONE_BUFFER,
            "{tool}: {} bytes decompressed",
            s.decompressed_bytes
        );
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

#[test]
fn an_xz_bomb_is_streamed_in_bounded_memory() {
    if !have("xz") {
        return;
    }
    // 1 GiB of zeros in one xz block (~150 KiB): a decoder that holds a block whole
    // needs over 1 GiB. The budget stops the stream at 64 MiB of output; the decoder's
    // own memory is its dictionary (8 MiB at -0) and buffers.
    let bomb = zero_bomb(1024, "xz -c -0 -T1");
    // Streamed in small reads, as from a guest file.
    let mut r = &bomb[..];
    let s = scan_initramfs_reader(&mut r, &|_| false);
    let peak = peak_rss();
    assert!(
        peak < 512 << 20,
        "peak resident memory {} MiB while decoding a 1 GiB xz bomb",
        peak >> 20
    );
    let err = s.error.unwrap_or_default();
    assert!(err.contains("decompression budget"), "{err}");
    assert!(s.decompressed_bytes <= LIMITS.ratio_grace + ONE_BUFFER);
}
