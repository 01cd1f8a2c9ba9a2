//! One batch of guest clusters through the conversion pipeline: the page-aligned
//! buffers batches are read into, the zero check, and each cluster stored as is or
//! compressed (qcow2 compression types zlib — raw deflate — and zstd), in the workers
//! or, without compression, in the reader.

use crate::format::qcow2::Compression;
use crate::Error;
use std::sync::mpsc::Receiver;
use std::sync::Mutex;

/// Deflate level (libdeflate's default). On the Debian 12 guest (12.8 k data clusters)
/// libdeflate at 6 gives 280 MB in 11 CPU-s, zlib-rs at 9 with qemu's 4 KiB window
/// 294 MB in 29 CPU-s, qemu's zlib at 6 297 MB: smaller output in about a third of
/// the time (docs/decisions.md; README: benchmark).
const DEFLATE_LEVEL: i32 = 6;
/// zstd level. qemu uses 3; 4 gives ~1 % smaller output here at little cost.
const ZSTD_LEVEL: i32 = 4;

pub(super) struct Batch {
    pub(super) seq: u64,
    /// Guest cluster index of the first cluster in `data`.
    pub(super) first: u64,
    pub(super) data: PageAligned,
}

/// A buffer whose bytes start on a page boundary. Copies from the page cache into a
/// misaligned buffer cost the kernel ~3× more here (`perf`: `_copy_to_iter`), which
/// made the uncompressed conversion slower than qemu-img's (whose buffers are aligned).
#[derive(Default)]
pub(super) struct PageAligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl PageAligned {
    const PAGE: usize = 4096;

    /// Reuse this buffer for `len` bytes (contents unspecified: the caller fills them).
    pub(super) fn resize(&mut self, len: usize) {
        if self.buf.len() < len + Self::PAGE {
            self.buf = vec![0u8; len + Self::PAGE];
        }
        self.start = self.buf.as_ptr().align_offset(Self::PAGE).min(Self::PAGE);
        self.len = len;
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    pub(super) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// What a worker made of one cluster of a batch.
pub(super) enum Kind {
    Zero,
    /// Stored as is, from the batch's buffer; with its CRC-32.
    Raw(u32),
    Compressed(Vec<u8>, u32),
}

pub(super) struct Done {
    pub(super) seq: u64,
    pub(super) first: u64,
    pub(super) data: PageAligned,
    pub(super) kinds: Vec<Kind>,
}

/// Whether `b` is all zeros (16 bytes at a time).
pub(super) fn is_zero(b: &[u8]) -> bool {
    let words = b.chunks_exact(16);
    let rest = words.remainder();
    rest.iter().all(|&x| x == 0)
        && words.into_iter().all(|w| {
            w.try_into()
                .is_ok_and(|a: [u8; 16]| u128::from_ne_bytes(a) == 0)
        })
}

pub(super) fn worker(
    rx: &Mutex<Receiver<Batch>>,
    tx: &std::sync::mpsc::SyncSender<Done>,
    cs: usize,
    compression: Option<Compression>,
) {
    let mut compressor = ClusterCompressor::new(compression);
    let mut zbuf = vec![0u8; cs];
    loop {
        let batch = match rx.lock() {
            Ok(guard) => match guard.recv() {
                Ok(b) => b,
                Err(_) => return,
            },
            Err(_) => return,
        };
        if tx
            .send(classify_batch(batch, cs, &mut compressor, &mut zbuf))
            .is_err()
        {
            return;
        }
    }
}

/// The pipeline's other end went away (the writer failed; its error is the cause).
pub(super) fn pipeline_stopped() -> Error {
    Error::Io {
        what: "convert pipeline".into(),
        source: std::io::Error::other("workers stopped"),
    }
}

/// What to do with each cluster of `batch`: skip (all zeros), store, or store
/// compressed (with `compressor`; `zbuf` is one cluster of scratch for it).
pub(super) fn classify_batch(
    batch: Batch,
    cs: usize,
    compressor: &mut Option<ClusterCompressor>,
    zbuf: &mut [u8],
) -> Done {
    let kinds = batch
        .data
        .bytes()
        .chunks(cs)
        .map(|chunk| {
            if is_zero(chunk) {
                return Kind::Zero;
            }
            let crc = crc32fast::hash(chunk);
            let compressed = match compressor {
                None => None,
                Some(c) if chunk.len() < cs => {
                    // A partial last cluster is compressed zero-padded: readers (ours
                    // and qemu's) inflate exactly one cluster.
                    c.compress(&[chunk, &vec![0u8; cs - chunk.len()]].concat(), zbuf)
                }
                Some(c) => c.compress(chunk, zbuf),
            };
            match compressed {
                Some(z) => Kind::Compressed(z, crc),
                None => Kind::Raw(crc),
            }
        })
        .collect();
    Done {
        seq: batch.seq,
        first: batch.first,
        data: batch.data,
        kinds,
    }
}

/// One worker's compressor, made once and reused for every cluster (a zstd context
/// made per cluster costs about as much as compressing it).
pub(super) enum ClusterCompressor {
    /// Raw deflate (RFC 1951), as qcow2's zlib compression type stores it. libdeflate
    /// uses deflate's 32 KiB window where qemu's writer uses 4 KiB (`deflateInit2(…,
    /// -12, …)`): qemu inflates a whole cluster in one call, so every distance within
    /// the cluster reads back (`qemu-img compare` in the convert tests proves it).
    Deflate(libdeflater::Compressor),
    Zstd(zstd::bulk::Compressor<'static>),
}

impl ClusterCompressor {
    /// `None` for uncompressed output, or when zstd cannot make a context (then
    /// clusters are stored as they are: the output stays valid, only larger).
    fn new(compression: Option<Compression>) -> Option<Self> {
        match compression? {
            Compression::Zlib => Some(ClusterCompressor::Deflate(libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(DEFLATE_LEVEL).ok()?,
            ))),
            Compression::Zstd => zstd::bulk::Compressor::new(ZSTD_LEVEL)
                .ok()
                .map(ClusterCompressor::Zstd),
        }
    }

    /// `cluster` compressed, or `None` when that would not be smaller than a cluster
    /// (it is stored as is). `buf` is scratch of one cluster's size.
    fn compress(&mut self, cluster: &[u8], buf: &mut [u8]) -> Option<Vec<u8>> {
        let cs = cluster.len();
        let n = match self {
            ClusterCompressor::Deflate(c) => {
                c.deflate_compress(cluster, &mut buf[..cs - 1]).ok()?
            }
            ClusterCompressor::Zstd(c) => c.compress_to_buffer(cluster, &mut buf[..cs - 2]).ok()?,
        };
        Some(buf[..n].to_vec())
    }
}
