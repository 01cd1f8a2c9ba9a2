//! Initramfs contents (R-VIRTIO: are the virtio modules available at boot?).
//!
//! An initramfs is a sequence, as the kernel's `unpack_to_rootfs` reads it, of
//! uncompressed cpio archives (early microcode, often) and compressed streams
//! (gzip, bzip2, lzma, xz, lz4 legacy, zstd) each holding cpio archives, with
//! zero padding between. We decompress with capped output
//! ([`MAX_DECOMPRESSED`]) and feed a [`CpioScanner`] that keeps names only.

use super::cpio::{CpioScanner, Fed};
use crate::{Error, Result};
use serde::Serialize;
use std::io::{self, Read, Write};

/// Cap on decompressed bytes over the whole initramfs.
pub const MAX_DECOMPRESSED: u64 = 512 * 1024 * 1024;
/// Cap on the compressed initramfs file read into memory.
pub const MAX_INITRAMFS_FILE: u64 = 512 * 1024 * 1024;
/// Most layers (archives + compressed streams) followed.
const MAX_LAYERS: usize = 64;
/// Legacy LZ4 block size used by `lz4 -l` and the kernel.
const LZ4_LEGACY_BLOCK: usize = 8 * 1024 * 1024;
/// LZ4 compress bound of one legacy block.
const LZ4_LEGACY_BOUND: usize = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK / 255 + 16;
/// LZMA dictionary memory allowed.
const LZMA_MEMLIMIT: usize = 128 * 1024 * 1024;

/// What an initramfs holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InitramfsScan {
    /// Layers in order: `cpio@0`, `gzip@14336` …
    pub layers: Vec<String>,
    /// cpio entries seen.
    pub entries: u64,
    /// Kernel module names found (`virtio_blk` …), sorted.
    pub modules: Vec<String>,
    /// Kernel versions under `lib/modules/`.
    pub module_versions: Vec<String>,
    /// Decompressed bytes produced.
    pub decompressed_bytes: u64,
    /// Why the scan stopped early, if it did (results above are partial then).
    pub error: Option<String>,
}

/// Compression formats the kernel recognises (lib/decompress.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Gzip,
    Bzip2,
    Lzma,
    Xz,
    Lzo,
    Lz4Legacy,
    Zstd,
}

fn sniff(b: &[u8]) -> Option<Compression> {
    Some(match b {
        [0x1f, 0x8b, ..] | [0x1f, 0x9e, ..] => Compression::Gzip,
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        [0x5d, 0x00, 0x00, ..] => Compression::Lzma,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
        [0x89, b'L', b'Z', b'O', ..] => Compression::Lzo,
        [0x02, 0x21, 0x4c, 0x18, ..] => Compression::Lz4Legacy,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => return None,
    })
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Lzma => "lzma",
            Compression::Xz => "xz",
            Compression::Lzo => "lzo",
            Compression::Lz4Legacy => "lz4-legacy",
            Compression::Zstd => "zstd",
        }
    }
}

/// Feeds decompressed bytes to the scanner, enforcing the output cap. Used as an
/// `io::Write` sink (xz, lzma) and directly (readers).
struct Sink<'a> {
    scanner: &'a mut CpioScanner,
    produced: &'a mut u64,
    /// The scanner's error, kept because `io::Error` would lose its type.
    failure: Option<Error>,
}

impl Sink<'_> {
    fn push(&mut self, data: &[u8]) -> Result<()> {
        *self.produced += data.len() as u64;
        if *self.produced > MAX_DECOMPRESSED {
            return Err(Error::Limit {
                what: "decompressed initramfs bytes".into(),
                limit: MAX_DECOMPRESSED,
            });
        }
        match self.scanner.feed(data)? {
            Fed::All => Ok(()),
            Fed::NotCpio(n) => Err(Error::corrupt(
                "initramfs",
                *self.produced - data.len() as u64 + n as u64,
                "junk within compressed archive",
            )),
        }
    }

    /// Copy a decompressing reader into the scanner.
    fn drain(&mut self, r: &mut dyn Read, what: &'static str) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::corrupt(
                        "initramfs",
                        *self.produced,
                        format!("{what}: {e}"),
                    ))
                }
            };
            self.push(buf.get(..n).unwrap_or(&[]))?;
        }
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failure.is_some() {
            return Err(io::Error::other("stopped"));
        }
        match self.push(data) {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                let msg = e.to_string();
                self.failure = Some(e);
                Err(io::Error::other(msg))
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decompress one stream at the start of `input` into `sink`; bytes of `input` consumed.
fn decompress(c: Compression, input: &[u8], sink: &mut Sink<'_>) -> Result<usize> {
    let total = input.len();
    let err = |e: String| Error::corrupt("initramfs", 0, format!("{}: {e}", c.name()));
    let rest: &[u8] = match c {
        Compression::Gzip => {
            let mut d = flate2::bufread::GzDecoder::new(input);
            sink.drain(&mut d, "gzip")?;
            d.into_inner()
        }
        Compression::Bzip2 => {
            let mut d = bzip2::bufread::BzDecoder::new(input);
            sink.drain(&mut d, "bzip2")?;
            d.into_inner()
        }
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| err(e.to_string()))?
                .single_frame();
            d.window_log_max(27).map_err(|e| err(e.to_string()))?;
            sink.drain(&mut d, "zstd")?;
            d.finish()
        }
        Compression::Xz => {
            // lzma-rs wants the stream to end at the end of its input: cut the
            // input after the stream footer (more may follow in an initramfs).
            let end = xz_stream_end(input).ok_or_else(|| err("no valid stream footer".into()))?;
            let mut r = input.get(..end).unwrap_or(input);
            let res = lzma_rs::xz_decompress(&mut r, sink);
            if let Some(e) = sink.failure.take() {
                return Err(e);
            }
            res.map_err(|e| err(e.to_string()))?;
            return Ok(end);
        }
        Compression::Lzma => {
            let opts = lzma_rs::decompress::Options {
                memlimit: Some(LZMA_MEMLIMIT),
                ..Default::default()
            };
            let end = lzma_stream_end(input, &opts).map_err(|e| err(e.to_string()))?;
            let mut r = input.get(..end).unwrap_or(input);
            let res = lzma_rs::lzma_decompress_with_options(&mut r, sink, &opts);
            if let Some(e) = sink.failure.take() {
                return Err(e);
            }
            res.map_err(|e| err(e.to_string()))?;
            return Ok(end);
        }
        Compression::Lz4Legacy => return lz4_legacy(input, sink),
        Compression::Lzo => return Err(Error::Unsupported("lzo-compressed initramfs".into())),
    };
    Ok(total - rest.len())
}

/// End of the first xz stream in `input` (xz file format 1.1.0, section 2.1.2):
/// the first 12-byte stream footer, 4-byte aligned, ending in `YZ`, whose CRC32
/// over Backward Size and Stream Flags holds and whose flags equal the header's.
fn xz_stream_end(input: &[u8]) -> Option<usize> {
    let header_flags = input.get(6..8)?;
    for yz in memchr::memmem::find_iter(input, b"YZ") {
        let end = yz + 2;
        if end % 4 != 0 || end < 24 {
            continue;
        }
        let footer = input.get(end - 12..end)?;
        let stored = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]);
        if footer.get(8..10) == Some(header_flags) && crc32fast::hash(footer.get(4..10)?) == stored
        {
            return Some(end);
        }
    }
    None
}

/// Counts and discards output, up to the decompression cap.
struct CountingNull(u64);

impl Write for CountingNull {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0 += data.len() as u64;
        if self.0 > MAX_DECOMPRESSED {
            return Err(io::Error::other(format!(
                "over {MAX_DECOMPRESSED} decompressed bytes"
            )));
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// End of the `.lzma` stream at the start of `input`. The format has no length
/// and lzma-rs refuses bytes after the end marker, so a first pass decodes into
/// nothing and notes where the range decoder stopped (it reads byte by byte).
fn lzma_stream_end(
    input: &[u8],
    opts: &lzma_rs::decompress::Options,
) -> Result<usize, lzma_rs::error::Error> {
    let mut r = input;
    match lzma_rs::lzma_decompress_with_options(&mut r, &mut CountingNull(0), opts) {
        Ok(()) => Ok(input.len() - r.len()),
        Err(lzma_rs::error::Error::LzmaError(m)) if m.contains("more bytes are available") => {
            Ok(input.len() - r.len())
        }
        Err(e) => Err(e),
    }
}

/// The legacy LZ4 frame (`lz4 -l`, the kernel's `unlz4`): magic `02 21 4c 18`,
/// then blocks of `u32le size` + data, each decompressing to at most 8 MiB. The
/// frame has no end marker: it ends at the end of input, or at a size that is no
/// block (zero, or over the 8 MiB bound), or at a repeated magic which starts a
/// new frame (skipped, as the kernel does).
fn lz4_legacy(input: &[u8], sink: &mut Sink<'_>) -> Result<usize> {
    let mut pos = 4usize;
    let mut out = vec![0u8; LZ4_LEGACY_BLOCK];
    loop {
        let Some(sz) = input.get(pos..pos + 4) else {
            return Ok(input.len().min(pos));
        };
        let size = u32::from_le_bytes([sz[0], sz[1], sz[2], sz[3]]);
        if size == 0x184c_2102 {
            pos += 4;
            continue;
        }
        let size = size as usize;
        if size == 0 || size > LZ4_LEGACY_BOUND {
            return Ok(pos);
        }
        let block = input.get(pos + 4..pos + 4 + size).ok_or_else(|| {
            Error::corrupt(
                "initramfs lz4 block",
                pos as u64,
                format!("{size} bytes past the end"),
            )
        })?;
        let n = lz4_flex::block::decompress_into(block, &mut out)
            .map_err(|e| Error::corrupt("initramfs lz4 block", pos as u64, e.to_string()))?;
        sink.push(out.get(..n).unwrap_or(&[]))?;
        pos += 4 + size;
    }
}

/// Scan an initramfs image held in memory. Never fails: a problem ends the scan
/// with what was found so far and the reason in [`InitramfsScan::error`].
pub fn scan_initramfs(data: &[u8]) -> InitramfsScan {
    let mut scanner = CpioScanner::new();
    let mut produced = 0u64;
    let mut out = InitramfsScan::default();
    let res = scan_into(data, &mut scanner, &mut produced, &mut out.layers);
    if let Err(e) = res {
        out.error = Some(e.to_string());
    } else if !scanner.is_between() {
        out.error = Some("the last cpio archive is truncated".into());
    }
    out.entries = scanner.entries;
    out.modules = scanner.modules.into_iter().collect();
    out.module_versions = scanner.module_versions.into_iter().collect();
    out.decompressed_bytes = produced;
    out
}

fn scan_into(
    data: &[u8],
    scanner: &mut CpioScanner,
    produced: &mut u64,
    layers: &mut Vec<String>,
) -> Result<()> {
    let mut pos = 0usize;
    while pos < data.len() {
        let rest = data.get(pos..).unwrap_or(&[]);
        let zeros = rest.iter().take_while(|b| **b == 0).count();
        pos += zeros;
        let rest = data.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            break;
        }
        if layers.len() >= MAX_LAYERS {
            return Err(Error::Limit {
                what: "initramfs layers".into(),
                limit: MAX_LAYERS as u64,
            });
        }
        if let Some(c) = sniff(rest) {
            layers.push(format!("{}@{pos}", c.name()));
            let mut sink = Sink {
                scanner,
                produced,
                failure: None,
            };
            let used = decompress(c, rest, &mut sink).map_err(|e| match e {
                Error::Corrupt {
                    structure,
                    offset,
                    detail,
                } => Error::Corrupt {
                    structure,
                    offset,
                    detail: format!("{detail} (stream at offset {pos})"),
                },
                e => e,
            })?;
            if used == 0 {
                return Err(Error::corrupt(
                    "initramfs",
                    pos as u64,
                    "empty compressed stream",
                ));
            }
            pos += used;
            continue;
        }
        match scanner.feed(rest)? {
            Fed::All => {
                layers.push(format!("cpio@{pos}"));
                pos = data.len();
            }
            Fed::NotCpio(0) => {
                return Err(Error::corrupt(
                    "initramfs",
                    pos as u64,
                    format!(
                        "neither cpio nor a known compression (starts {:02x?})",
                        rest.get(..4).unwrap_or(rest)
                    ),
                ))
            }
            Fed::NotCpio(n) => {
                layers.push(format!("cpio@{pos}"));
                pos += n;
            }
        }
    }
    Ok(())
}

/// Scan the initramfs file at `path` in the guest (read whole, at most
/// [`MAX_INITRAMFS_FILE`] bytes).
pub fn scan_guest_initramfs(guest: &crate::guest::Guest, path: &str) -> Result<InitramfsScan> {
    let data = guest.read_file(path, MAX_INITRAMFS_FILE)?;
    Ok(scan_initramfs(&data))
}
