//! Initramfs contents (R-VIRTIO: are the virtio modules available at boot?).
//!
//! An initramfs is a sequence, as the kernel's `unpack_to_rootfs` reads it, of
//! uncompressed cpio archives (early microcode, often) and compressed streams
//! (gzip, bzip2, lzma, xz, lz4 legacy, zstd) each holding cpio archives, with
//! zero padding between. The file is streamed: every codec decodes from the file
//! through a read-ahead buffer into a [`CpioScanner`] that keeps names only, under one
//! decompression budget ([`LIMITS`]: decompressed bytes, compression ratio and decoding
//! work over the whole initramfs, see [`crate::budget`]), so memory and time stay
//! bounded whatever the initramfs holds. A caller that only needs some modules stops
//! the scan as soon as they are seen ([`scan_initramfs_reader`]), reading no further.

use super::cpio::{CpioScanner, Fed};
use crate::budget::{DecompressBudget, Exceeded, Limits, Metered};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::{self, BufRead, Read};

/// Cap on decompressed bytes over the whole initramfs.
pub const MAX_DECOMPRESSED: u64 = 512 * 1024 * 1024;
/// Cap on the compressed initramfs bytes read (streamed).
pub const MAX_INITRAMFS_FILE: u64 = 512 * 1024 * 1024;
/// The decompression budget of one initramfs, shared by all its compressed layers.
/// Real initramfs images compress 2–6× (kernel modules, firmware, binaries); a stream
/// of zeros compresses 1000× (gzip) to millions of times (xz, zstd, bzip2). Past the
/// first 64 MiB, output may be at most 100× the compressed bytes consumed, and the
/// work (compressed bytes consumed + bytes produced) at most 768 MiB.
pub const LIMITS: Limits = Limits {
    max_output: MAX_DECOMPRESSED,
    max_ratio: 100,
    ratio_grace: 64 * 1024 * 1024,
    max_work: 768 * 1024 * 1024,
};
/// Read-ahead buffer of the streamed initramfs.
const READ_BUF: usize = 256 * 1024;
/// Most layers (archives + compressed streams) followed.
const MAX_LAYERS: usize = 64;
/// Legacy LZ4 block size used by `lz4 -l` and the kernel.
const LZ4_LEGACY_BLOCK: usize = 8 * 1024 * 1024;
/// LZ4 compress bound of one legacy block.
const LZ4_LEGACY_BOUND: usize = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK / 255 + 16;
/// LZMA dictionary memory allowed.
const LZMA_MEMLIMIT: u64 = 128 * 1024 * 1024;

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
    /// The scan stopped on purpose once the caller's modules were all seen: the
    /// counts and lists above cover the initramfs up to that point only.
    pub stopped_when_found: bool,
}

/// Whether the modules seen so far are all the caller needs (ends the scan).
pub type Enough<'a> = &'a dyn Fn(&BTreeSet<String>) -> bool;

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

/// Feeds decompressed bytes to the scanner.
struct Sink<'a> {
    scanner: &'a mut CpioScanner,
    /// Bytes fed from compressed streams (for error offsets).
    produced: u64,
    enough: Enough<'a>,
    /// Set once `enough` holds: decompression stops there.
    stopped: bool,
}

impl Sink<'_> {
    fn push(&mut self, data: &[u8]) -> Result<()> {
        self.produced += data.len() as u64;
        match self.scanner.feed(data)? {
            Fed::All => {
                self.stopped = (self.enough)(&self.scanner.modules);
                Ok(())
            }
            Fed::NotCpio(n) => Err(Error::corrupt(
                "initramfs",
                self.produced - data.len() as u64 + n as u64,
                "junk within compressed archive",
            )),
        }
    }

    /// Copy a budgeted decompressing reader into the scanner (until it ends, or
    /// `enough`). A budget overrun is an [`Error::Limit`] naming the budget.
    fn drain(&mut self, r: &mut dyn Read, what: &'static str) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while !self.stopped {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if let Some(x) = Exceeded::from_io(&e) {
                        return Err(x.clone().into());
                    }
                    return Err(Error::corrupt(
                        "initramfs",
                        self.produced,
                        format!("{what}: {e}"),
                    ));
                }
            };
            self.push(buf.get(..n).unwrap_or(&[]))?;
        }
        Ok(())
    }
}

/// The initramfs file, streamed through a read-ahead buffer that can also peek a few
/// bytes (format magics, legacy LZ4 block sizes).
struct Input<'a> {
    inner: &'a mut dyn Read,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Offset in the file of `buf[start]`.
    pos: u64,
}

impl<'a> Input<'a> {
    fn new(inner: &'a mut dyn Read) -> Self {
        Input {
            inner,
            buf: vec![0u8; READ_BUF],
            start: 0,
            end: 0,
            eof: false,
            pos: 0,
        }
    }

    /// Read more into the buffer; false at the end of the file (or when full).
    fn refill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Ok(false);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Up to `n` (at most [`READ_BUF`]) buffered bytes (fewer only at the end of the file).
    fn peek(&mut self, n: usize) -> Result<&[u8]> {
        while self.end - self.start < n && self.refill().map_err(read_err)? {}
        Ok(&self.buf[self.start..self.end.min(self.start + n)])
    }
}

fn read_err(e: io::Error) -> Error {
    Error::corrupt("initramfs", 0, format!("read failed: {e}"))
}

impl Read for Input<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.refill()?;
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.pos += n as u64;
    }
}

/// A reader of the one .xz stream (no LZMA_CONCATENATED: what follows is the next
/// layer) or legacy .lzma ("LZMA_Alone", what the kernel's unlzma reads) stream at the
/// start of `input`, its dictionary bounded by [`LZMA_MEMLIMIT`].
#[cfg(feature = "native")]
fn lzma_stream<'a>(c: Compression, input: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let stream = match c {
        Compression::Xz => liblzma::stream::Stream::new_stream_decoder(LZMA_MEMLIMIT, 0),
        _ => liblzma::stream::Stream::new_lzma_decoder(LZMA_MEMLIMIT),
    }
    .map_err(io::Error::other)?;
    Ok(Box::new(liblzma::bufread::XzDecoder::new_stream(
        input, stream,
    )))
}

/// [`lzma_stream`] in pure Rust (`lzma-rs`, the wasm32 build): the stream is decoded
/// into memory at once, at most [`MAX_DECOMPRESSED`] bytes.
#[cfg(not(feature = "native"))]
fn lzma_stream<'a>(c: Compression, mut input: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut out = Capped(Vec::new());
    let r = match c {
        Compression::Xz => lzma_rs::xz_decompress(&mut input, &mut out),
        _ => lzma_rs::lzma_decompress_with_options(
            &mut input,
            &mut out,
            &lzma_rs::decompress::Options {
                memlimit: Some(LZMA_MEMLIMIT as usize),
                ..Default::default()
            },
        ),
    };
    r.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}")))?;
    Ok(Box::new(io::Cursor::new(out.0)))
}

/// A memory sink that refuses to grow past [`MAX_DECOMPRESSED`] bytes.
#[cfg(not(feature = "native"))]
struct Capped(Vec<u8>);

#[cfg(not(feature = "native"))]
impl io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.0.len() as u64 + b.len() as u64 > MAX_DECOMPRESSED {
            return Err(io::Error::other(format!(
                "more than {MAX_DECOMPRESSED} bytes decompressed"
            )));
        }
        self.0.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decompress the stream at the start of `input` into `sink`, consuming its bytes.
/// Every decoder reads through `BufRead` and takes only its own stream (more layers
/// may follow), its input metered and its output charged to `budget`.
fn decompress(
    c: Compression,
    input: &mut Input<'_>,
    sink: &mut Sink<'_>,
    budget: &DecompressBudget,
) -> Result<()> {
    let err = |e: String| Error::corrupt("initramfs", 0, format!("{}: {e}", c.name()));
    let metered = budget.input(&mut *input);
    match c {
        Compression::Gzip => {
            let d = flate2::bufread::GzDecoder::new(metered);
            sink.drain(&mut budget.output(d, "gzip"), "gzip")
        }
        Compression::Bzip2 => {
            let d = bzip2::bufread::BzDecoder::new(metered);
            sink.drain(&mut budget.output(d, "bzip2"), "bzip2")
        }
        Compression::Zstd => {
            let d = imgport_disk::codec::zstd_frame(metered).map_err(|e| err(e.to_string()))?;
            sink.drain(&mut budget.output(d, "zstd"), "zstd")
        }
        Compression::Xz | Compression::Lzma => {
            let d = lzma_stream(c, metered).map_err(|e| err(e.to_string()))?;
            sink.drain(&mut budget.output(d, c.name()), c.name())
        }
        Compression::Lz4Legacy => {
            let d = Lz4Legacy::new(metered);
            sink.drain(&mut budget.output(d, "lz4-legacy"), "lz4-legacy")
        }
        Compression::Lzo => Err(Error::Unsupported("lzo-compressed initramfs".into())),
    }
}

/// The legacy LZ4 frame (`lz4 -l`, the kernel's `unlz4`) as a reader: magic
/// `02 21 4c 18`, then blocks of `u32le size` + data, each decompressing to at most
/// 8 MiB. The frame has no end marker: it ends at the end of input, or at a size that
/// is no block (zero, or over the 8 MiB bound: left unread for the next layer), or at
/// a repeated magic which starts a new frame (skipped, as the kernel does).
struct Lz4Legacy<'a, 'b> {
    input: Metered<'a, &'a mut Input<'b>>,
    out: Vec<u8>,
    /// Unread part of `out`: `out[at..len]`.
    at: usize,
    len: usize,
    block: Vec<u8>,
    started: bool,
    ended: bool,
}

impl<'a, 'b> Lz4Legacy<'a, 'b> {
    fn new(input: Metered<'a, &'a mut Input<'b>>) -> Self {
        Lz4Legacy {
            input,
            out: Vec::new(),
            at: 0,
            len: 0,
            block: Vec::new(),
            started: false,
            ended: false,
        }
    }

    /// Decode the next block into `out`; false at the end of the frame.
    fn next_block(&mut self) -> Result<bool> {
        if !self.started {
            self.input.consume(4);
            self.started = true;
        }
        loop {
            let pos = self.input.get_mut().pos;
            let sz = self.input.get_mut().peek(4)?;
            let [a, b, c, d] = *sz else {
                // Fewer than 4 bytes left: the frame ends with the file.
                let n = sz.len();
                self.input.consume(n);
                return Ok(false);
            };
            let size = u32::from_le_bytes([a, b, c, d]);
            if size == 0x184c_2102 {
                self.input.consume(4);
                continue;
            }
            let size = size as usize;
            if size == 0 || size > LZ4_LEGACY_BOUND {
                return Ok(false);
            }
            self.input.consume(4);
            self.block.resize(size, 0);
            self.input.read_exact(&mut self.block).map_err(|_| {
                Error::corrupt(
                    "initramfs lz4 block",
                    pos,
                    format!("{size} bytes past the end"),
                )
            })?;
            self.out.resize(LZ4_LEGACY_BLOCK, 0);
            self.len = lz4_flex::block::decompress_into(&self.block, &mut self.out)
                .map_err(|e| Error::corrupt("initramfs lz4 block", pos, e.to_string()))?;
            self.at = 0;
            return Ok(true);
        }
    }
}

impl Read for Lz4Legacy<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.len {
            if self.ended {
                return Ok(0);
            }
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => self.ended = true,
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
        let n = (self.len - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Scan an initramfs image held in memory. Never fails: a problem ends the scan
/// with what was found so far and the reason in [`InitramfsScan::error`].
pub fn scan_initramfs(data: &[u8]) -> InitramfsScan {
    scan_initramfs_reader(&mut &data[..], &|_| false)
}

/// Scan an initramfs streamed from `r`, stopping once `enough` holds for the module
/// names seen ([`InitramfsScan::stopped_when_found`]). Never fails, as [`scan_initramfs`].
pub fn scan_initramfs_reader(r: &mut dyn Read, enough: Enough<'_>) -> InitramfsScan {
    let mut scanner = CpioScanner::new();
    let budget = DecompressBudget::new(LIMITS);
    let mut out = InitramfsScan::default();
    let mut input = Input::new(r);
    let mut sink = Sink {
        scanner: &mut scanner,
        produced: 0,
        enough,
        stopped: false,
    };
    let res = scan_layers(&mut input, &mut sink, &budget, &mut out.layers);
    out.stopped_when_found = sink.stopped;
    if let Err(e) = res {
        out.error = Some(e.to_string());
    } else if !sink.stopped && !scanner.is_between() {
        out.error = Some("the last cpio archive is truncated".into());
    }
    out.entries = scanner.entries;
    out.modules = scanner.modules.into_iter().collect();
    out.module_versions = scanner.module_versions.into_iter().collect();
    out.decompressed_bytes = budget.output_bytes();
    out
}

fn scan_layers(
    input: &mut Input<'_>,
    sink: &mut Sink<'_>,
    budget: &DecompressBudget,
    layers: &mut Vec<String>,
) -> Result<()> {
    while !sink.stopped {
        // Zero padding between layers.
        loop {
            let b = input.fill_buf().map_err(read_err)?;
            let zeros = b.iter().take_while(|b| **b == 0).count();
            let all = zeros == b.len();
            input.consume(zeros);
            if !all || zeros == 0 {
                break;
            }
        }
        let pos = input.pos;
        let head = input.peek(6)?;
        if head.is_empty() {
            break;
        }
        if layers.len() >= MAX_LAYERS {
            return Err(Error::Limit {
                what: "initramfs layers".into(),
                limit: MAX_LAYERS as u64,
            });
        }
        if let Some(c) = sniff(head) {
            layers.push(format!("{}@{pos}", c.name()));
            decompress(c, input, sink, budget).map_err(|e| match e {
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
            if input.pos == pos && !sink.stopped {
                return Err(Error::corrupt("initramfs", pos, "empty compressed stream"));
            }
            continue;
        }
        // An uncompressed cpio archive (or several): fed until a byte that starts none.
        layers.push(format!("cpio@{pos}"));
        loop {
            let at_start = input.pos == pos;
            let b = input.fill_buf().map_err(read_err)?;
            if b.is_empty() {
                break;
            }
            let len = b.len();
            match sink.scanner.feed(b)? {
                Fed::All => input.consume(len),
                Fed::NotCpio(0) if at_start => {
                    layers.pop();
                    return Err(Error::corrupt(
                        "initramfs",
                        pos,
                        format!(
                            "neither cpio nor a known compression (starts {:02x?})",
                            b.get(..4).unwrap_or(b)
                        ),
                    ));
                }
                Fed::NotCpio(n) => {
                    input.consume(n);
                    break;
                }
            }
            if (sink.enough)(&sink.scanner.modules) {
                sink.stopped = true;
                break;
            }
        }
    }
    Ok(())
}

/// Scan the initramfs file at `path` in the guest, streamed (at most
/// [`MAX_INITRAMFS_FILE`] bytes), stopping once `enough` holds.
pub fn scan_guest_initramfs(
    guest: &crate::guest::Guest,
    path: &str,
    enough: Enough<'_>,
) -> Result<InitramfsScan> {
    let mut r = guest.open_file(path)?.take(MAX_INITRAMFS_FILE);
    Ok(scan_initramfs_reader(&mut r, enough))
}
