//! Conversion of any readable image to qcow2 (or raw): the stored form of an accepted
//! import (R-SIZE-ACTUAL measures the image "after conversion to QCOW2").
//!
//! Pipeline, with memory bounded by a fixed window of batches in flight:
//! ```text
//! reader (this thread) ──batches of guest clusters──► N workers (zero check, compress)
//!        ▲                                               │ out of order
//!        └── emptied buffers ── writer thread ◄──────────┘ reorders, writes in guest order
//! ```
//! Without compression the reader does the zero check itself and hands batches straight
//! to the writer. Batch buffers are page-aligned and reused.
//! Only ranges the source stores as data are read; clusters that are all zeros are
//! skipped (as `qemu-img convert` does by default), so a 600 GiB sparse disk with a few
//! MiB of data converts in seconds. Each written cluster's CRC-32 is folded, in order,
//! into a digest that [`verify`] recomputes from the output through the reader.

use crate::format::qcow2::writer::{ClusterData, Qcow2Writer};
use crate::format::qcow2::Compression;
use crate::image::{ExtentKind, VirtualDisk};
use crate::{measure, Error, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

/// Guest bytes read per batch (coalesced into one read when contiguous); 1 MiB keeps a
/// batch in cache from the read to the write (4 MiB measured slower and noisier).
const BATCH_BYTES: u64 = 1 << 20;
/// Deflate level (libdeflate's default). On the Debian 12 guest (12.8 k data clusters)
/// libdeflate at 6 gives 280 MB in 11 CPU-s, zlib-rs at 9 with qemu's 4 KiB window
/// 294 MB in 29 CPU-s, qemu's zlib at 6 297 MB: smaller output in about a third of
/// the time (docs/decisions.md; README: benchmark).
const DEFLATE_LEVEL: i32 = 6;
/// zstd level. qemu uses 3; 4 gives ~1 % smaller output here at little cost.
const ZSTD_LEVEL: i32 = 4;
/// Extents are asked for in windows of this many guest bytes.
const EXTENT_WINDOW: u64 = 1 << 30;

/// Output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Qcow2,
    Raw,
}

/// Conversion settings.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    pub format: OutputFormat,
    /// Compress clusters (qcow2 only).
    pub compression: Option<Compression>,
    /// qcow2 cluster size (power of two, 512 B … 2 MiB).
    pub cluster_size: u64,
    /// Worker threads for zero detection and compression (0: all cores).
    pub threads: usize,
    /// fsync the output before it is renamed into place (the import service does;
    /// `qemu-img convert` does not by default, and neither does the CLI).
    pub sync: bool,
    /// Permission bits (`0o777` at most) of the output file, set explicitly — whatever
    /// the umask — before a byte is written. Default 0600: an image is a whole guest's
    /// data.
    pub mode: u32,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            format: OutputFormat::Qcow2,
            compression: None,
            cluster_size: 65536,
            threads: 0,
            sync: false,
            mode: 0o600,
        }
    }
}

/// What a conversion did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ConvertStats {
    pub virtual_size: u64,
    pub output_size: u64,
    /// Clusters written (data).
    pub clusters_written: u64,
    /// Of those, stored compressed.
    pub clusters_compressed: u64,
    /// Clusters the source stores as data that were all zeros and skipped.
    pub zero_clusters_skipped: u64,
    /// Bytes read from the source image file.
    pub source_bytes_read: u64,
    /// Digest of the written content (cluster index + CRC-32, in order), for [`verify`].
    pub digest: u32,
}

struct Batch {
    seq: u64,
    /// Guest cluster index of the first cluster in `data`.
    first: u64,
    data: PageAligned,
}

/// A buffer whose bytes start on a page boundary. Copies from the page cache into a
/// misaligned buffer cost the kernel ~3× more here (`perf`: `_copy_to_iter`), which
/// made the uncompressed conversion slower than qemu-img's (whose buffers are aligned).
#[derive(Default)]
struct PageAligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl PageAligned {
    const PAGE: usize = 4096;

    /// Reuse this buffer for `len` bytes (contents unspecified: the caller fills them).
    fn resize(&mut self, len: usize) {
        if self.buf.len() < len + Self::PAGE {
            self.buf = vec![0u8; len + Self::PAGE];
        }
        self.start = self.buf.as_ptr().align_offset(Self::PAGE).min(Self::PAGE);
        self.len = len;
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// What a worker made of one cluster of a batch.
enum Kind {
    Zero,
    /// Stored as is, from the batch's buffer; with its CRC-32.
    Raw(u32),
    Compressed(Vec<u8>, u32),
}

struct Done {
    seq: u64,
    first: u64,
    data: PageAligned,
    kinds: Vec<Kind>,
}

/// Where a conversion writes: a new, empty file, or (the import service with an
/// external object store, issue 13) a multipart upload. Writes come front to back,
/// except the qcow2 header, which is rewritten in the first cluster at the end
/// ([`Qcow2Writer`]); a raw output is written in guest order with holes.
pub trait ConvertTarget: std::io::Write + Seek + Send {
    /// The output will be about `len` bytes (a hint: a file preallocates it).
    fn reserve(&mut self, _len: u64) -> std::io::Result<()> {
        Ok(())
    }
    /// The output is complete and `len` bytes long (a file drops what a reservation
    /// left past it, or grows to it).
    fn finish_len(&mut self, len: u64) -> std::io::Result<()>;
}

impl ConvertTarget for File {
    fn reserve(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
    fn finish_len(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
}

/// Convert `src` into `out` (a new, empty file or another [`ConvertTarget`]).
pub fn convert<T: ConvertTarget>(
    src: &dyn VirtualDisk,
    out: T,
    opts: &ConvertOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(T, ConvertStats)> {
    let cs = opts.cluster_size;
    if !cs.is_power_of_two() || !(512..=2 << 20).contains(&cs) {
        return Err(Error::Convert {
            detail: format!("cluster size {cs} is not a power of two from 512 to 2 MiB"),
        });
    }
    if opts.compression.is_some() && opts.format != OutputFormat::Qcow2 {
        return Err(Error::Convert {
            detail: "compression needs qcow2 output".into(),
        });
    }
    let virtual_size = src.size();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    }
    .clamp(1, 64);
    let compression = opts.compression;
    // Reserve the output's size up front (trimmed at the end): writes within the file
    // size cost the filesystem far less than appends that extend it one by one (ext4:
    // ~4x less system time here), which is what qemu-img's preallocation gets too.
    let reserve = if opts.format == OutputFormat::Qcow2 {
        measure::measure(src, cs).map(|m| m.required).unwrap_or(0)
    } else {
        0
    };
    let (work_tx, work_rx) = sync_channel::<Batch>(threads * 2);
    let (done_tx, done_rx) = sync_channel::<Done>(threads * 2);
    // Written batches' buffers go back to the reader: no fresh batch of memory (page
    // faults, zeroing, the heap trimmed and grown again) per batch.
    let (spare_tx, spare_rx) = sync_channel::<PageAligned>(threads * 4 + 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let before = src.bytes_read();
    // Without compression a cluster needs only a zero check and a CRC, cheaper than a
    // hand-off: the reader does them while the batch is still in its core's cache, and
    // sends it straight to the writer.
    let inline = compression.is_none();

    std::thread::scope(|scope| {
        for _ in 0..if inline { 0 } else { threads } {
            let rx = work_rx.clone();
            let tx = done_tx.clone();
            scope.spawn(move || worker(&rx, &tx, cs as usize, compression));
        }
        // Only the workers hold the receiver: if they all stop (the writer failed),
        // the reader's next send fails instead of waiting for ever.
        drop(work_rx);
        let inline_tx = inline.then(|| done_tx.clone());
        drop(done_tx);
        let writer = scope.spawn(move || {
            let ends = WriterEnds {
                done: done_rx,
                spare: spare_tx,
            };
            write_all(out, ends, virtual_size, cs, reserve, opts, progress)
        });
        let read_result = match inline_tx {
            Some(tx) => read_batches(src, cs, &spare_rx, &mut |batch| {
                let done = classify_batch(batch, cs as usize, &mut None, &mut []);
                tx.send(done).map_err(|_| pipeline_stopped())
            }),
            None => read_batches(src, cs, &spare_rx, &mut |batch| {
                work_tx.send(batch).map_err(|_| pipeline_stopped())
            }),
        };
        drop(work_tx);
        let written = writer.join().map_err(|_| Error::Io {
            what: "convert writer".into(),
            source: std::io::Error::other("writer thread panicked"),
        })?;
        // A writer error is the cause; the reader then only saw the pipeline stop.
        let (w, mut stats) = written?;
        read_result?;
        stats.source_bytes_read = src.bytes_read() - before;
        Ok((w, stats))
    })
}

/// Send batches of whole clusters that hold source data (as qemu's block status sees
/// it: holes of a raw file are skipped), in guest order, in buffers the writer gave
/// back (`spare`) where it has.
fn read_batches(
    src: &dyn VirtualDisk,
    cs: u64,
    spare: &Receiver<PageAligned>,
    emit: &mut dyn FnMut(Batch) -> Result<()>,
) -> Result<()> {
    let size = src.size();
    let per_batch = (BATCH_BYTES / cs).max(1);
    let mut seq = 0u64;
    let mut pending: Option<(u64, u64)> = None; // clusters [first, end)
                                                // Clusters below this are queued already (pending or flushed): a run may start in
                                                // the cluster the previous one ended in, even right after a full batch went out.
    let mut queued_to = 0u64;
    let mut flush = |first: u64, end: u64| -> Result<()> {
        let start = first * cs;
        let len = ((end * cs).min(size) - start) as usize;
        let mut data = spare.try_recv().unwrap_or_default();
        data.resize(len);
        src.read_exact_at(data.bytes_mut(), start)?;
        emit(Batch { seq, first, data })?;
        seq += 1;
        Ok(())
    };
    measure::for_each_data_run(src, |start, end| {
        let c0 = (start / cs).max(queued_to);
        let c1 = end.div_ceil(cs);
        if c0 >= c1 {
            return Ok(());
        }
        queued_to = c1;
        if let Some((first, pend)) = pending {
            if c0 != pend {
                flush(first, pend)?;
                pending = None;
            }
        }
        let mut c = c0;
        while c < c1 {
            let (first, pend) = pending.unwrap_or((c, c));
            let take = (per_batch - (pend - first)).min(c1 - c);
            c += take;
            if pend + take - first >= per_batch {
                flush(first, pend + take)?;
                pending = None;
            } else {
                pending = Some((first, pend + take));
            }
        }
        Ok(())
    })?;
    if let Some((first, end)) = pending {
        flush(first, end)?;
    }
    Ok(())
}

/// Whether `b` is all zeros (16 bytes at a time).
fn is_zero(b: &[u8]) -> bool {
    let words = b.chunks_exact(16);
    let rest = words.remainder();
    rest.iter().all(|&x| x == 0)
        && words.into_iter().all(|w| {
            w.try_into()
                .is_ok_and(|a: [u8; 16]| u128::from_ne_bytes(a) == 0)
        })
}

fn worker(
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
fn pipeline_stopped() -> Error {
    Error::Io {
        what: "convert pipeline".into(),
        source: std::io::Error::other("workers stopped"),
    }
}

/// What to do with each cluster of `batch`: skip (all zeros), store, or store
/// compressed (with `compressor`; `zbuf` is one cluster of scratch for it).
fn classify_batch(
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
enum ClusterCompressor {
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

enum Sink<T: ConvertTarget> {
    Qcow2(Qcow2Writer<T>),
    Raw(T),
}

/// The writer's ends of the pipeline: finished batches in, emptied buffers back.
struct WriterEnds {
    done: Receiver<Done>,
    spare: std::sync::mpsc::SyncSender<PageAligned>,
}

fn write_all<T: ConvertTarget>(
    mut out: T,
    ends: WriterEnds,
    virtual_size: u64,
    cs: u64,
    reserve: u64,
    opts: &ConvertOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(T, ConvertStats)> {
    let mut stats = ConvertStats {
        virtual_size,
        ..Default::default()
    };
    let mut sink = match opts.format {
        OutputFormat::Qcow2 => Sink::Qcow2(Qcow2Writer::new(
            {
                if reserve > 0 {
                    out.reserve(reserve).map_err(|e| io("qcow2 output", e))?;
                }
                out
            },
            virtual_size,
            cs.trailing_zeros(),
            opts.compression.unwrap_or(Compression::Zlib),
        )?),
        OutputFormat::Raw => {
            out.reserve(virtual_size).map_err(|e| io("raw output", e))?;
            Sink::Raw(out)
        }
    };
    let mut digest = crc32fast::Hasher::new();
    let mut next = 0u64;
    let mut parked: BTreeMap<u64, Done> = BTreeMap::new();
    for done in ends.done {
        parked.insert(done.seq, done);
        while let Some(d) = parked.remove(&next) {
            next += 1;
            let mut i = 0;
            while i < d.kinds.len() {
                let index = d.first + i as u64;
                match &d.kinds[i] {
                    Kind::Zero => {
                        stats.zero_clusters_skipped += 1;
                        i += 1;
                    }
                    Kind::Compressed(z, crc) => {
                        fold(&mut digest, index, *crc);
                        stats.clusters_written += 1;
                        stats.clusters_compressed += 1;
                        match &mut sink {
                            Sink::Qcow2(w) => w.write_cluster(index, ClusterData::Compressed(z))?,
                            Sink::Raw(_) => {
                                return Err(Error::Convert {
                                    detail: "compressed raw output".into(),
                                })
                            }
                        }
                        i += 1;
                    }
                    Kind::Raw(_) => {
                        // A run of stored clusters goes out in one write.
                        let mut j = i;
                        while let Some(Kind::Raw(crc)) = d.kinds.get(j) {
                            fold(&mut digest, d.first + j as u64, *crc);
                            j += 1;
                        }
                        stats.clusters_written += (j - i) as u64;
                        let all = d.data.bytes();
                        let bytes = &all[i * cs as usize..(j * cs as usize).min(all.len())];
                        match &mut sink {
                            Sink::Qcow2(w) => w.write_raw_run(index, bytes)?,
                            Sink::Raw(f) => f
                                .seek(SeekFrom::Start(index * cs))
                                .and_then(|_| f.write_all(bytes))
                                .map_err(|e| io("raw output", e))?,
                        }
                        i = j;
                    }
                }
            }
            progress(
                ((d.first + d.kinds.len() as u64) * cs).min(virtual_size),
                virtual_size,
            );
            // Full (the reader has enough) or gone: the buffer is simply dropped.
            let _ = ends.spare.try_send(d.data);
        }
    }
    stats.digest = digest.finalize();
    let out = match sink {
        Sink::Qcow2(w) => {
            let (mut w, len) = w.finish()?;
            // Drop what the reservation left past the image's end.
            w.finish_len(len).map_err(|e| io("qcow2 output", e))?;
            stats.output_size = len;
            w
        }
        Sink::Raw(mut f) => {
            f.seek(SeekFrom::Start(virtual_size))
                .map_err(|e| io("raw output", e))?;
            f.flush().map_err(|e| io("raw output", e))?;
            f.finish_len(virtual_size)
                .map_err(|e| io("raw output", e))?;
            stats.output_size = virtual_size;
            f
        }
    };
    progress(virtual_size, virtual_size);
    Ok((out, stats))
}

fn fold(digest: &mut crc32fast::Hasher, index: u64, crc: u32) {
    digest.update(&index.to_le_bytes());
    digest.update(&crc.to_le_bytes());
}

fn io(what: &str, source: std::io::Error) -> Error {
    Error::Io {
        what: what.into(),
        source,
    }
}

/// Re-read `output` through the reader and check that its content digest equals
/// `stats.digest`, i.e. that every cluster reads back as written and nothing else
/// is allocated. Returns the number of clusters checked.
pub fn verify(output: &dyn VirtualDisk, stats: &ConvertStats, cluster_size: u64) -> Result<u64> {
    if output.size() != stats.virtual_size {
        return Err(Error::Convert {
            detail: format!(
                "verification failed: the output's virtual size {} differs from the source's {}",
                output.size(),
                stats.virtual_size
            ),
        });
    }
    let cs = cluster_size;
    let mut digest = crc32fast::Hasher::new();
    let mut count = 0u64;
    let mut buf = vec![0u8; cs as usize];
    let size = output.size();
    let mut pos = 0u64;
    let mut last = None;
    while pos < size {
        let wend = pos.saturating_add(EXTENT_WINDOW).min(size);
        for e in output.extents(pos, wend - pos)? {
            if e.kind != ExtentKind::Data {
                continue;
            }
            for c in e.offset / cs..(e.offset + e.length).div_ceil(cs) {
                if last.is_some_and(|l| c <= l) {
                    continue;
                }
                last = Some(c);
                let n = (size - c * cs).min(cs) as usize;
                output.read_exact_at(&mut buf[..n], c * cs)?;
                if is_zero(&buf[..n]) {
                    // Never written (the writer skips zero clusters); a raw output
                    // reports every cluster as data.
                    continue;
                }
                digest.update(&c.to_le_bytes());
                digest.update(&crc32fast::hash(&buf[..n]).to_le_bytes());
                count += 1;
            }
        }
        pos = wend;
    }
    if count != stats.clusters_written || digest.finalize() != stats.digest {
        return Err(Error::Convert {
            detail: format!("verification failed: {count} clusters read back, {} written, or their content differs", stats.clusters_written),
        });
    }
    Ok(count)
}

/// Convert to the file `dst` atomically: the data goes to an unnamed temporary file in
/// the same directory (O_TMPFILE, or a hidden `.NAME.imgport-partial-PID` where the
/// filesystem lacks it) that is linked/renamed to `dst` only when complete, so an
/// interrupted conversion never leaves a file under the final name. Refuses to replace
/// an existing `dst` unless `overwrite`. A `dst` that is a symbolic link is refused
/// even with `overwrite`: neither written through nor replaced. The output gets the
/// permission bits `opts.mode`, whatever the umask.
pub fn convert_to_path(
    src: &dyn VirtualDisk,
    dst: &Path,
    opts: &ConvertOptions,
    overwrite: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ConvertStats> {
    let existing = dst.symlink_metadata();
    if existing.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
        let target = std::fs::read_link(dst)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return Err(io(
            &dst.display().to_string(),
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "destination is a symbolic link{target}: refusing to write through it or to replace it, also with --force; remove the link or name a path that is not one"
                ),
            ),
        ));
    }
    if !overwrite && existing.is_ok() {
        return Err(io(
            &dst.display().to_string(),
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "destination exists (use --force to replace it)",
            ),
        ));
    }
    let dir = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dst.file_name().ok_or_else(|| {
        io(
            &dst.display().to_string(),
            std::io::Error::other("no file name"),
        )
    })?;
    let partial = dir.join(format!(
        ".{}.imgport-partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let (file, named) = match open_unnamed(&dir) {
        Some(f) => (f, false),
        None => (
            File::options()
                .write(true)
                .read(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)
                .map_err(|e| io(&partial.display().to_string(), e))?,
            true,
        ),
    };
    let cleanup = |e: Error| {
        if named {
            let _ = std::fs::remove_file(&partial);
        }
        e
    };
    // Created 0600 (less under a strict umask); now exactly the mode asked for.
    rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(opts.mode & 0o777))
        .map_err(|e| cleanup(io(&partial.display().to_string(), e.into())))?;
    let (file, stats) = convert(src, file, opts, progress).map_err(cleanup)?;
    if opts.sync {
        file.sync_all().map_err(|e| cleanup(io("output", e)))?;
    }
    if !named {
        // Give the unnamed file the hidden name, then rename over the destination.
        let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
        rustix::fs::linkat(
            rustix::fs::CWD,
            fd_path.as_str(),
            rustix::fs::CWD,
            &partial,
            rustix::fs::AtFlags::SYMLINK_FOLLOW,
        )
        .map_err(|e| io(&partial.display().to_string(), e.into()))?;
    }
    let renamed = if overwrite {
        std::fs::rename(&partial, dst)
    } else {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &partial,
            rustix::fs::CWD,
            dst,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(Into::into)
    };
    renamed.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io(&dst.display().to_string(), e)
    })?;
    Ok(stats)
}

/// An unnamed file in `dir` (Linux O_TMPFILE), or `None` where unsupported.
fn open_unnamed(dir: &Path) -> Option<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        dir,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .ok()?;
    Some(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Extent, ImageInfo};
    use crate::source::{MemSource, ReadAt};
    use crate::Format;

    /// A guest whose data comes as two runs that meet inside one output cluster, the
    /// first ending exactly where a batch fills up (as metadata-preallocated qcow2 with
    /// 512-byte clusters gives: host-discontiguous runs, each ending mid-cluster).
    struct TwoRuns {
        data: MemSource,
        split: u64,
        info: ImageInfo,
    }

    impl ReadAt for TwoRuns {
        fn size(&self) -> u64 {
            self.data.size()
        }
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
            self.data.read_exact_at(buf, offset)
        }
    }

    impl VirtualDisk for TwoRuns {
        fn info(&self) -> &ImageInfo {
            &self.info
        }
        fn source(&self) -> &dyn ReadAt {
            &self.data
        }
        fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
            let end = (offset + len).min(self.size());
            let mut out = Vec::new();
            for (s, e) in [(0, self.split), (self.split, self.size())] {
                let (s, e) = (s.max(offset), e.min(end));
                if s < e {
                    out.push(Extent {
                        offset: s,
                        length: e - s,
                        kind: ExtentKind::Data,
                        host_offset: None,
                    });
                }
            }
            Ok(out)
        }
    }

    #[test]
    fn a_cluster_shared_by_runs_across_a_full_batch_is_written_once() {
        let cs = 65536u64;
        let size = BATCH_BYTES + 4 * cs;
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8 | 1).collect();
        let disk = TwoRuns {
            data: MemSource::new(data.clone()),
            // The first run ends 512 bytes before the batch's last cluster ends.
            split: BATCH_BYTES - 512,
            info: ImageInfo::new(Format::Raw, "raw", size, size),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.qcow2");
        let out = File::create_new(&path).unwrap();
        let opts = ConvertOptions {
            threads: 2,
            ..ConvertOptions::default()
        };
        let (_, stats) = convert(&disk, out, &opts, &|_, _| {}).expect("convert");
        assert_eq!(stats.clusters_written, size / cs);
        let back = crate::open_path(&path).unwrap();
        assert_eq!(verify(&*back, &stats, cs).unwrap(), size / cs);
        let mut buf = vec![0u8; size as usize];
        back.read_exact_at(&mut buf, 0).unwrap();
        assert!(buf == data, "guest bytes differ after conversion");
    }

    #[test]
    fn a_failing_writer_stops_the_conversion_with_its_error() {
        // Many more batches than the pipeline holds, into a file opened read-only: the
        // writer fails at once; the reader must see the pipeline stop, not block.
        let size = 24 * BATCH_BYTES;
        let disk = TwoRuns {
            data: MemSource::new(vec![7u8; size as usize]),
            split: size / 2,
            info: ImageInfo::new(Format::Raw, "raw", size, size),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.qcow2");
        std::fs::write(&path, b"").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let out = File::open(&path).unwrap();
            let opts = ConvertOptions {
                threads: 1,
                ..ConvertOptions::default()
            };
            let _ = tx.send(convert(&disk, out, &opts, &|_, _| {}).map(|_| ()));
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the conversion hung after its writer failed");
        let e = r.expect_err("writing to a read-only file must fail");
        assert!(e.is_io(), "the writer's I/O error is reported: {e}");
    }

    #[test]
    fn failures_of_the_conversion_itself_are_internal_errors_not_the_images() {
        // R-ERR: InvalidFormatSize is for a bad image; a bad option or an output that
        // does not verify is ours (InternalError), and the I/O error of a failing
        // writer too (above).
        let disk = TwoRuns {
            data: MemSource::new(vec![1u8; 65536]),
            split: 32768,
            info: ImageInfo::new(Format::Raw, "raw", 65536, 65536),
        };
        let dir = tempfile::tempdir().unwrap();
        let out = File::create_new(dir.path().join("o")).unwrap();
        let opts = ConvertOptions {
            cluster_size: 3000,
            ..ConvertOptions::default()
        };
        let e = convert(&disk, out, &opts, &|_, _| {}).expect_err("cluster size 3000");
        assert_eq!(e.code(), crate::ErrorCode::InternalError, "{e}");
        let stats = ConvertStats {
            virtual_size: 65536,
            clusters_written: 1,
            ..ConvertStats::default()
        };
        let e = verify(&disk, &stats, 65536).expect_err("nothing matches a made-up digest");
        assert_eq!(e.code(), crate::ErrorCode::InternalError, "{e}");
        assert!(e.to_string().contains("verification failed"), "{e}");
    }
}
