//! qcow2 (versions 2 and 3): reader with L1/L2 lookup, zero clusters, and compressed
//! clusters (zlib deflate and zstd). Spec: qemu docs/interop/qcow2.txt.

mod header;
mod l2_entry;
mod mapping;
mod refcount;
pub mod writer;

pub(crate) use header::FMT;
pub use header::{Compression, Header};
use l2_entry::{decode, ClusterKind};

use crate::image::{push_extent, Extent, ExtentKind, ImageInfo, VirtualDisk};
use crate::lru::Lru;
use crate::source::{ReadAt, ReadAtExt};
use crate::{Error, Format, Result};
use std::sync::{Arc, Mutex, OnceLock};

/// L2 tables kept in memory (each one cluster): 32 tables cover 16 GiB with 64 KiB clusters.
const L2_CACHE_TABLES: usize = 32;
/// Decompressed clusters kept, so small sequential reads do not re-inflate.
const DECOMPRESSED_CACHE: usize = 8;

/// An open qcow2 image.
pub struct Qcow2Disk {
    src: Arc<dyn ReadAt>,
    hdr: Header,
    info: ImageInfo,
    l1: Vec<u64>,
    l2_cache: Mutex<Lru<u64, Arc<Vec<u64>>>>,
    zcache: Mutex<Lru<u64, Arc<Vec<u8>>>>,
    /// qemu's `metadata_preallocation`, detected on first use.
    metadata_preallocation: OnceLock<bool>,
}

impl Qcow2Disk {
    pub fn open(src: Arc<dyn ReadAt>) -> Result<Self> {
        let hdr = Header::read(&*src)?;
        // The L1 table and the refcount table (read by the mapping check) are both
        // named by the header: one round trip for both over a remote source (issue 16).
        src.prefetch(&[
            (hdr.l1_table_offset, u64::from(hdr.l1_size) * 8),
            refcount::table_range(src.size(), &hdr),
        ])?;
        let raw_l1 = src.read_vec(hdr.l1_table_offset, hdr.l1_size as usize * 8)?;
        let l1: Vec<u64> = raw_l1
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let mut info = ImageInfo::new(
            Format::Qcow2,
            format!("v{}", hdr.version),
            hdr.size,
            src.size(),
        );
        info.cluster_size = Some(hdr.cluster_size());
        info.detail("compat", if hdr.version == 3 { "1.1" } else { "0.10" });
        info.detail("compression_type", hdr.compression.name());
        info.detail("refcount_bits", 1u64 << hdr.refcount_order);
        info.detail("snapshots", hdr.nb_snapshots);
        info.detail("l1_size", hdr.l1_size);
        if hdr.incompatible_features & header::INCOMPAT_DIRTY != 0 {
            info.findings.push("the dirty bit is set: the image was not closed cleanly (refcounts may be stale; `qemu-img check -r all` repairs it)".into());
        }
        if hdr.nb_snapshots > 0 {
            info.findings.push(format!(
                "{} internal snapshot(s) are stored; only the active state is imported",
                hdr.nb_snapshots
            ));
        }
        let disk = Qcow2Disk {
            src,
            hdr,
            info,
            l1,
            l2_cache: Mutex::new(Lru::new(L2_CACHE_TABLES)),
            zcache: Mutex::new(Lru::new(DECOMPRESSED_CACHE)),
            metadata_preallocation: OnceLock::new(),
        };
        // Shared clusters beyond the refcounts, and more data than the file can hold,
        // are refused here: every reader of the disk is bounded by the file's size.
        mapping::check(&disk)?;
        Ok(disk)
    }

    /// Whether qemu would treat this image as metadata-preallocated (see
    /// [`refcount::detect_metadata_preallocation`]); computed once, on first use, as
    /// qemu does on its first block-status query. Errors answer `false`, as in qemu.
    pub fn metadata_preallocation(&self) -> bool {
        *self.metadata_preallocation.get_or_init(|| {
            refcount::detect_metadata_preallocation(&*self.src, &self.hdr).unwrap_or(false)
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.hdr
    }

    fn cluster_size(&self) -> u64 {
        self.hdr.cluster_size()
    }

    /// The L2 table for L1 index `l1i`, or `None` when unallocated.
    fn l2_table(&self, l1i: usize) -> Result<Option<Arc<Vec<u64>>>> {
        let entry = self.l1.get(l1i).copied().unwrap_or(0);
        let l2_off = entry & 0x00ff_ffff_ffff_fe00;
        if entry & 0x7f00_0000_0000_01ff != 0 {
            return Err(Error::corrupt(
                FMT,
                "L1 entry",
                self.hdr.l1_table_offset + l1i as u64 * 8,
                format!("reserved bits set in {entry:#x}"),
            ));
        }
        if l2_off == 0 {
            return Ok(None);
        }
        let cs = self.cluster_size();
        if l2_off % cs != 0 {
            return Err(Error::corrupt(
                FMT,
                "L1 entry",
                self.hdr.l1_table_offset + l1i as u64 * 8,
                format!("L2 table offset {l2_off:#x} is not cluster aligned"),
            ));
        }
        if let Some(t) = self.l2_cache.lock().map_err(poisoned)?.get(&l2_off) {
            return Ok(Some(t));
        }
        if l2_off.checked_add(cs).is_none_or(|e| e > self.src.size()) {
            return Err(Error::corrupt(FMT, "L2 table", l2_off, format!("table at {l2_off:#x} lies past the end of the file ({} bytes): the file is truncated", self.src.size())));
        }
        let raw = self.src.read_vec(l2_off, cs as usize)?;
        let table: Arc<Vec<u64>> = Arc::new(
            raw.chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        );
        self.l2_cache
            .lock()
            .map_err(poisoned)?
            .put(l2_off, table.clone());
        Ok(Some(table))
    }

    /// Classify the guest cluster containing `guest`.
    fn cluster(&self, guest: u64) -> Result<ClusterKind> {
        let cs = self.cluster_size();
        let idx = guest / cs;
        let l1i = (idx / self.hdr.l2_entries()) as usize;
        let l2i = (idx % self.hdr.l2_entries()) as usize;
        let Some(table) = self.l2_table(l1i)? else {
            return Ok(ClusterKind::Unallocated);
        };
        self.classify(table.get(l2i).copied().unwrap_or(0), guest)
    }

    /// Decode an L2 entry for guest offset `guest` and check that what it points to
    /// lies inside the file (a truncated file is refused, not read as zeros).
    fn classify(&self, entry: u64, guest: u64) -> Result<ClusterKind> {
        let kind = decode(entry, self.hdr.cluster_bits)
            .map_err(|d| Error::corrupt(FMT, "L2 entry", guest, d))?;
        let file_size = self.src.size();
        let (host, len) = match kind {
            ClusterKind::Normal(h) => (h, self.cluster_size()),
            // The last compressed cluster may end in the file's final partial sector.
            ClusterKind::Compressed { offset, .. } => (offset, 1),
            _ => return Ok(kind),
        };
        if host.checked_add(len).is_none_or(|e| e > file_size) {
            return Err(Error::corrupt(FMT, "L2 entry", guest, format!("guest offset {guest:#x} maps to host offset {host:#x}, past the end of the file ({file_size} bytes): the file is truncated or corrupt")));
        }
        Ok(kind)
    }

    /// Decompress the compressed cluster at `coffset` of `csize` bytes. Bounded by the
    /// format: exactly one cluster out (at most 2 MiB), `csize` (at most two clusters)
    /// in; how many compressed clusters the image maps is bounded by the
    /// file's size at open (`mapping.rs`).
    fn decompressed(&self, coffset: u64, csize: u64) -> Result<Arc<Vec<u8>>> {
        if let Some(c) = self.zcache.lock().map_err(poisoned)?.get(&coffset) {
            return Ok(c);
        }
        let file_size = self.src.size();
        if coffset >= file_size {
            return Err(Error::corrupt(
                FMT,
                "compressed cluster",
                coffset,
                "starts past the end of the file: the file is truncated",
            ));
        }
        // The last compressed cluster may end inside the final partial sector: qemu
        // reads past EOF as zeros.
        let avail = csize.min(file_size - coffset) as usize;
        let mut input = self.src.read_vec(coffset, avail)?;
        input.resize(csize as usize, 0);
        let cs = self.cluster_size() as usize;
        let out = match self.hdr.compression {
            Compression::Zlib => inflate_raw(&input, cs),
            Compression::Zstd => unzstd(&input, cs),
        }
        .map_err(|d| Error::corrupt(FMT, "compressed cluster", coffset, d))?;
        let out = Arc::new(out);
        self.zcache
            .lock()
            .map_err(poisoned)?
            .put(coffset, out.clone());
        Ok(out)
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Io {
        what: "qcow2 cache".into(),
        source: std::io::Error::other("lock poisoned"),
    }
}

/// Raw deflate (window bits -12) to exactly `cluster_size` bytes, as qemu's qcow2_zlib_decompress.
fn inflate_raw(input: &[u8], cluster_size: usize) -> std::result::Result<Vec<u8>, String> {
    let mut d = flate2::Decompress::new(false);
    let mut out = vec![0u8; cluster_size];
    let status = d.decompress(input, &mut out, flate2::FlushDecompress::Finish);
    match status {
        Ok(_) if d.total_out() as usize == cluster_size => Ok(out),
        Ok(_) => Err(format!(
            "deflate stream gave {} bytes, expected {cluster_size}",
            d.total_out()
        )),
        Err(e) => Err(format!("deflate error: {e}")),
    }
}

/// zstd to exactly `cluster_size` bytes (trailing input ignored, as qemu does).
fn unzstd(input: &[u8], cluster_size: usize) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let mut dec = crate::codec::zstd_frame(input).map_err(|e| format!("zstd: {e}"))?;
    let mut out = vec![0u8; cluster_size];
    let mut filled = 0;
    while filled < cluster_size {
        match dec.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(format!("zstd error: {e}")),
        }
    }
    if filled != cluster_size {
        return Err(format!(
            "zstd frame gave {filled} bytes, expected {cluster_size}"
        ));
    }
    Ok(out)
}

impl ReadAt for Qcow2Disk {
    fn size(&self) -> u64 {
        self.hdr.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        crate::source::check_bounds(&|| self.describe(), offset, buf.len(), self.hdr.size)?;
        let cs = self.cluster_size();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let in_cluster = pos % cs;
            let mut n = ((cs - in_cluster) as usize).min(buf.len() - done);
            match self.cluster(pos)? {
                ClusterKind::Unallocated | ClusterKind::Zero => buf[done..done + n].fill(0),
                ClusterKind::Normal(host) => {
                    // Coalesce following clusters that are contiguous on the host.
                    let mut host_end = host + cs;
                    while done + n < buf.len() {
                        match self.cluster(pos - in_cluster + (n as u64 + in_cluster))? {
                            ClusterKind::Normal(h) if h == host_end => {
                                let more = (cs as usize).min(buf.len() - done - n);
                                n += more;
                                host_end += cs;
                            }
                            _ => break,
                        }
                    }
                    self.src
                        .read_exact_at(&mut buf[done..done + n], host + in_cluster)?;
                }
                ClusterKind::Compressed { offset: coff, size } => {
                    let data = self.decompressed(coff, size)?;
                    let s = in_cluster as usize;
                    buf[done..done + n].copy_from_slice(&data[s..s + n]);
                }
            }
            done += n;
        }
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.src.bytes_read()
    }

    fn describe(&self) -> String {
        self.src.describe()
    }
}

impl VirtualDisk for Qcow2Disk {
    fn info(&self) -> &ImageInfo {
        &self.info
    }

    fn source(&self) -> &dyn ReadAt {
        &*self.src
    }

    /// qemu `qcow2_co_block_status`: data clusters get `BDRV_BLOCK_RECURSE` when the
    /// image is detected as metadata-preallocated, so the host file's holes under
    /// them count as zero. Only for sources that know their allocated size (local
    /// files); remote ones never recurse, as with qemu's curl driver.
    fn data_recurses_to_host(&self) -> bool {
        self.metadata_preallocation()
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let size = self.hdr.size;
        let end = offset.saturating_add(len).min(size);
        let cs = self.cluster_size();
        let per_l2 = cs * self.hdr.l2_entries();
        let mut out = Vec::new();
        let mut pos = offset;
        while pos < end {
            let l1i = (pos / per_l2) as usize;
            let l2_end = ((l1i as u64 + 1) * per_l2).min(end);
            let Some(table) = self.l2_table(l1i)? else {
                push_extent(
                    &mut out,
                    Extent {
                        offset: pos,
                        length: l2_end - pos,
                        kind: ExtentKind::Unallocated,
                        host_offset: None,
                    },
                );
                pos = l2_end;
                continue;
            };
            while pos < l2_end {
                let l2i = ((pos / cs) % self.hdr.l2_entries()) as usize;
                let in_cluster = pos % cs;
                let n = (cs - in_cluster).min(l2_end - pos);
                let entry = table.get(l2i).copied().unwrap_or(0);
                let (kind, host_offset) = match self.classify(entry, pos)? {
                    ClusterKind::Unallocated => (ExtentKind::Unallocated, None),
                    ClusterKind::Zero => (ExtentKind::Zero, None),
                    ClusterKind::Normal(h) => (ExtentKind::Data, Some(h + in_cluster)),
                    ClusterKind::Compressed { .. } => (ExtentKind::Data, None),
                };
                push_extent(
                    &mut out,
                    Extent {
                        offset: pos,
                        length: n,
                        kind,
                        host_offset,
                    },
                );
                pos += n;
            }
        }
        Ok(out)
    }
}
