//! Initramfs contents (R-VIRTIO: are the virtio modules available at boot?).
//!
//! An initramfs is a sequence, as the kernel's `unpack_to_rootfs` reads it, of
//! uncompressed cpio archives (early microcode, often) and compressed streams
//! (gzip, bzip2, lzma, xz, lz4 legacy, zstd) each holding cpio archives, with
//! zero padding between. The file is streamed: we decompress with capped output
//! ([`MAX_DECOMPRESSED`]) and feed a [`CpioScanner`] that keeps names only, so memory
//! stays bounded whatever the initramfs size (xz and lzma streams, whose end is only
//! found in memory, are the exception: their remainder is held, at most
//! [`MAX_IN_MEMORY`] bytes). A caller that only needs some modules stops the scan
//! as soon as they are seen ([`scan_initramfs_reader`]), reading no further.

use super::cpio::{CpioScanner, Fed};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::{self, BufRead, Read, Write};

/// Cap on decompressed bytes over the whole initramfs.
pub const MAX_DECOMPRESSED: u64 = 512 * 1024 * 1024;
/// Cap on the compressed initramfs bytes read (streamed).
pub const MAX_INITRAMFS_FILE: u64 = 512 * 1024 * 1024;
/// Cap on compressed bytes held in memory for an xz or lzma stream.
pub const MAX_IN_MEMORY: usize = 192 * 1024 * 1024;
/// Read-ahead buffer of the streamed initramfs.
const READ_BUF: usize = 256 * 1024;
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

/// Feeds decompressed bytes to the scanner, enforcing the output cap. Used as an
/// `io::Write` sink (xz, lzma) and directly (readers).
struct Sink<'a> {
    scanner: &'a mut CpioScanner,
    produced: &'a mut u64,
    enough: Enough<'a>,
    /// Set once `enough` holds: decompression stops there.
    stopped: bool,
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
            Fed::All => {
                self.stopped = (self.enough)(&self.scanner.modules);
                Ok(())
            }
            Fed::NotCpio(n) => Err(Error::corrupt(
                "initramfs",
                *self.produced - data.len() as u64 + n as u64,
                "junk within compressed archive",
            )),
        }
    }

    /// Copy a decompressing reader into the scanner (until it ends, or `enough`).
    fn drain(&mut self, r: &mut dyn Read, what: &'static str) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while !self.stopped {
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
        Ok(())
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failure.is_some() || self.stopped {
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

/// The initramfs file, streamed through a read-ahead buffer that can also peek a few
/// bytes (format magics) and, for xz/lzma, hold the rest of the file.
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

    /// Read more into the buffer (growing it up to `cap`); false at the end of the file.
    fn refill(&mut self, cap: usize) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= cap {
                return Ok(false);
            }
            let grown = (self.buf.len() * 2).min(cap);
            self.buf.resize(grown, 0);
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

    /// Up to `n` buffered bytes (fewer only at the end of the file).
    fn peek(&mut self, n: usize) -> Result<&[u8]> {
        while self.end - self.start < n && self.refill(READ_BUF.max(n)).map_err(read_err)? {}
        Ok(&self.buf[self.start..self.end.min(self.start + n)])
    }

    /// The whole rest of the file in memory (at most [`MAX_IN_MEMORY`] bytes).
    fn rest_in_memory(&mut self) -> Result<&[u8]> {
        while self.refill(MAX_IN_MEMORY).map_err(read_err)? {}
        if !self.eof {
            return Err(Error::Limit {
                what: "xz/lzma initramfs bytes held in memory".into(),
                limit: MAX_IN_MEMORY as u64,
            });
        }
        Ok(&self.buf[self.start..self.end])
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
            self.refill(READ_BUF)?;
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.pos += n as u64;
    }
}

/// Decompress the stream at the start of `input` into `sink`, consuming its bytes.
/// gzip, bzip2 and zstd decoders read through `BufRead` and take only their stream;
/// xz and lzma need the stream in memory to find where it ends.
fn decompress(c: Compression, input: &mut Input<'_>, sink: &mut Sink<'_>) -> Result<()> {
    let err = |e: String| Error::corrupt("initramfs", 0, format!("{}: {e}", c.name()));
    match c {
        Compression::Gzip => {
            let mut d = flate2::bufread::GzDecoder::new(&mut *input);
            sink.drain(&mut d, "gzip")
        }
        Compression::Bzip2 => {
            let mut d = bzip2::bufread::BzDecoder::new(&mut *input);
            sink.drain(&mut d, "bzip2")
        }
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(&mut *input)
                .map_err(|e| err(e.to_string()))?
                .single_frame();
            d.window_log_max(27).map_err(|e| err(e.to_string()))?;
            sink.drain(&mut d, "zstd")
        }
        Compression::Xz => {
            // lzma-rs wants the stream to end at the end of its input: cut the
            // input after the stream footer (more may follow in an initramfs).
            let data = input.rest_in_memory()?;
            let end = xz_stream_end(data).ok_or_else(|| err("no valid stream footer".into()))?;
            let mut r = data.get(..end).unwrap_or(data);
            let res = lzma_rs::xz_decompress(&mut r, &mut *sink);
            input.consume(end);
            finish_in_memory(sink, res.map_err(|e| err(e.to_string())))
        }
        Compression::Lzma => {
            let opts = lzma_rs::decompress::Options {
                memlimit: Some(LZMA_MEMLIMIT),
                ..Default::default()
            };
            let data = input.rest_in_memory()?;
            let end = lzma_stream_end(data, &opts).map_err(|e| err(e.to_string()))?;
            let mut r = data.get(..end).unwrap_or(data);
            let res = lzma_rs::lzma_decompress_with_options(&mut r, &mut *sink, &opts);
            input.consume(end);
            finish_in_memory(sink, res.map_err(|e| err(e.to_string())))
        }
        Compression::Lz4Legacy => lz4_legacy(input, sink),
        Compression::Lzo => Err(Error::Unsupported("lzo-compressed initramfs".into())),
    }
}

/// The outcome of an xz/lzma decode into `sink`: the sink's own error first, and a
/// decoder error caused by the sink asking to stop is no error.
fn finish_in_memory(sink: &mut Sink<'_>, res: Result<()>) -> Result<()> {
    if let Some(e) = sink.failure.take() {
        return Err(e);
    }
    if sink.stopped {
        return Ok(());
    }
    res
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
fn lz4_legacy(input: &mut Input<'_>, sink: &mut Sink<'_>) -> Result<()> {
    input.consume(4);
    let mut out = vec![0u8; LZ4_LEGACY_BLOCK];
    let mut block = Vec::new();
    while !sink.stopped {
        let pos = input.pos;
        let sz = input.peek(4)?;
        let [a, b, c, d] = *sz else {
            // Fewer than 4 bytes left: the frame ends with the file.
            let n = sz.len();
            input.consume(n);
            return Ok(());
        };
        let size = u32::from_le_bytes([a, b, c, d]);
        if size == 0x184c_2102 {
            input.consume(4);
            continue;
        }
        let size = size as usize;
        if size == 0 || size > LZ4_LEGACY_BOUND {
            return Ok(());
        }
        input.consume(4);
        block.resize(size, 0);
        input.read_exact(&mut block).map_err(|_| {
            Error::corrupt(
                "initramfs lz4 block",
                pos,
                format!("{size} bytes past the end"),
            )
        })?;
        let n = lz4_flex::block::decompress_into(&block, &mut out)
            .map_err(|e| Error::corrupt("initramfs lz4 block", pos, e.to_string()))?;
        sink.push(out.get(..n).unwrap_or(&[]))?;
    }
    Ok(())
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
    let mut produced = 0u64;
    let mut out = InitramfsScan::default();
    let mut input = Input::new(r);
    let mut sink = Sink {
        scanner: &mut scanner,
        produced: &mut produced,
        enough,
        stopped: false,
        failure: None,
    };
    let res = scan_layers(&mut input, &mut sink, &mut out.layers);
    out.stopped_when_found = sink.stopped;
    if let Err(e) = res {
        out.error = Some(e.to_string());
    } else if !sink.stopped && !scanner.is_between() {
        out.error = Some("the last cpio archive is truncated".into());
    }
    out.entries = scanner.entries;
    out.modules = scanner.modules.into_iter().collect();
    out.module_versions = scanner.module_versions.into_iter().collect();
    out.decompressed_bytes = produced;
    out
}

fn scan_layers(input: &mut Input<'_>, sink: &mut Sink<'_>, layers: &mut Vec<String>) -> Result<()> {
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
            decompress(c, input, sink).map_err(|e| match e {
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
