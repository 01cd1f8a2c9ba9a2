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

mod cluster;
mod to_path;
mod verify;

pub use to_path::convert_to_path;
pub use verify::verify;

use crate::format::qcow2::writer::{ClusterData, Qcow2Writer};
use crate::format::qcow2::Compression;
use crate::image::VirtualDisk;
use crate::{measure, Error, Result};
use cluster::{classify_batch, pipeline_stopped, worker, Batch, Done, Kind, PageAligned};
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

/// Guest bytes read per batch (coalesced into one read when contiguous); 1 MiB keeps a
/// batch in cache from the read to the write (4 MiB measured slower and noisier).
const BATCH_BYTES: u64 = 1 << 20;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Extent, ExtentKind, ImageInfo};
    use crate::source::{MemSource, ReadAt};
    use crate::Format;
    use std::fs::File;

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
