//! VMDK (VMware "Virtual Disk Format 1.1"): single-file hosted sparse extents —
//! `monolithicSparse` and `streamOptimized` — read as qemu's block/vmdk.c reads them.
//! Everything that names another file (descriptor files, multi-extent descriptors,
//! delta disks with a parent) is refused (R-FMT safety); ESX `COWD` extents are
//! unsupported.

pub mod descriptor;
pub mod grain_table;
mod mapping;
pub mod sparse_header;
pub mod stream;

pub use descriptor::{Descriptor, ExtentLine};
pub use sparse_header::SparseHeader;

use crate::image::{push_extent, Extent, ExtentKind, ImageInfo, VirtualDisk};
use crate::lru::Lru;
use crate::source::{ReadAt, ReadAtExt};
use crate::{Error, Format, Result};
use descriptor::MAX_DESCRIPTOR;
use grain_table::{decode, GrainDirectory, GrainKind};
use sparse_header::{COWD_MAGIC, GD_AT_END, HEADER_SIZE, MAGIC};
use std::sync::{Arc, Mutex};

pub(crate) const FMT: &str = "vmdk";

/// Grain tables kept in memory (2 KiB each with 512 entries).
const GT_CACHE_TABLES: usize = 64;
/// Decompressed grains kept, so small sequential reads do not re-inflate.
const DECOMPRESSED_CACHE: usize = 8;

/// Open a VMDK image.
pub fn open(src: Arc<dyn ReadAt>) -> Result<Box<dyn VirtualDisk>> {
    Ok(Box::new(VmdkDisk::open(src)?))
}

/// An open monolithicSparse or streamOptimized VMDK.
pub struct VmdkDisk {
    src: Arc<dyn ReadAt>,
    hdr: SparseHeader,
    gd: GrainDirectory,
    info: ImageInfo,
    gt_cache: Mutex<Lru<u64, Arc<Vec<u32>>>>,
    zcache: Mutex<Lru<u64, Arc<Vec<u8>>>>,
}

impl VmdkDisk {
    pub fn open(src: Arc<dyn ReadAt>) -> Result<VmdkDisk> {
        let file_size = src.size();
        let head = src.read_upto(0, HEADER_SIZE)?;
        if head.starts_with(COWD_MAGIC) {
            return Err(Error::unsupported(
                FMT,
                "ESX sparse extent (COWD, vmfsSparse): not importable; convert it with `vmkfstools -i` or `qemu-img convert` first",
            ));
        }
        if !head.starts_with(MAGIC) {
            // A text descriptor file: it names the files holding the data.
            return Err(read_descriptor_file(&*src)?.refuse_as_file());
        }
        if head.len() < HEADER_SIZE {
            return Err(Error::corrupt(
                FMT,
                "sparse extent header",
                0,
                format!("the file is {file_size} bytes, shorter than the header"),
            ));
        }
        let first = SparseHeader::parse(&head, 0)?;
        // qemu: a sparse header with no capacity but a descriptor is a descriptor file.
        if first.capacity == 0 && first.desc_offset != 0 {
            let d = read_embedded_descriptor(&*src, &first)?;
            return Err(d.refuse_as_file());
        }
        let hdr = if first.gd_offset == GD_AT_END {
            let footer = stream::read_footer(&*src)?;
            footer.validate(file_size.div_ceil(512) * 512 - 1024, file_size)?;
            footer
        } else {
            first.validate(0, file_size)?;
            first.clone()
        };
        if hdr.desc_offset == 0 {
            return Err(Error::unsupported(
                FMT,
                "a sparse extent without an embedded descriptor (one extent of a multi-file VMDK); only single-file monolithicSparse and streamOptimized disks are imported",
            ));
        }
        let desc = read_embedded_descriptor(&*src, &hdr)?;
        let (create_type, desc_findings) =
            desc.check_embedded(hdr.capacity, hdr.desc_offset * 512)?;
        // qemu names the type by the header: compressed grains make it streamOptimized.
        let header_type = if hdr.compressed() {
            "streamOptimized"
        } else {
            "monolithicSparse"
        };
        let subformat = create_type
            .clone()
            .unwrap_or_else(|| header_type.to_string());
        let gd = GrainDirectory::read(&*src, &hdr)?;
        let mut info = ImageInfo::new(
            Format::Vmdk,
            subformat.clone(),
            hdr.capacity * 512,
            file_size,
        );
        info.cluster_size = Some(hdr.grain_size());
        info.findings = desc_findings;
        if subformat != header_type {
            info.findings.push(format!(
                "createType is {subformat} but the header says {header_type}; the header decides how grains are read"
            ));
        }
        if hdr.unclean_shutdown {
            info.findings
                .push("the unclean-shutdown flag is set: the disk was not closed cleanly".into());
        }
        info.detail("version", hdr.version);
        info.detail("compressed", hdr.compressed());
        info.detail("grain_markers", hdr.has_markers());
        info.detail("zeroed_grains", hdr.has_zero_grain());
        info.detail("gd_at_end", first.gd_offset == GD_AT_END);
        info.detail("gtes_per_gt", hdr.num_gtes_per_gt);
        if let Some(c) = &desc.cid {
            info.detail("cid", c.clone());
        }
        if let Some(a) = &desc.adapter_type {
            info.detail("adapter_type", a.clone());
        }
        if let Some(v) = &desc.hw_version {
            info.detail("virtual_hw_version", v.clone());
        }
        let disk = VmdkDisk {
            src,
            hdr,
            gd,
            info,
            gt_cache: Mutex::new(Lru::new(GT_CACHE_TABLES)),
            zcache: Mutex::new(Lru::new(DECOMPRESSED_CACHE)),
        };
        // Shared or overlapping grains and grain tables are refused here: every reader
        // of the disk is bounded by the file's size.
        mapping::check(&disk)?;
        Ok(disk)
    }

    /// The header in effect (the footer's for stream-optimized files with `GD_AT_END`).
    pub fn header(&self) -> &SparseHeader {
        &self.hdr
    }

    fn grain_size(&self) -> u64 {
        self.hdr.grain_size()
    }

    /// The grain table with directory index `i`, or `None` when not allocated.
    fn table(&self, i: usize) -> Result<Option<Arc<Vec<u32>>>> {
        let Some(off) = self.gd.table_offset(i) else {
            return Ok(None);
        };
        if let Some(t) = self.gt_cache.lock().map_err(poisoned)?.get(&off) {
            return Ok(Some(t));
        }
        let t = Arc::new(self.gd.read_table(&*self.src, off)?);
        self.gt_cache.lock().map_err(poisoned)?.put(off, t.clone());
        Ok(Some(t))
    }

    /// Classify the grain containing `guest`.
    fn grain(&self, guest: u64) -> Result<GrainKind> {
        let g = guest / self.grain_size();
        let per_gt = u64::from(self.hdr.num_gtes_per_gt);
        let Some(t) = self.table((g / per_gt) as usize)? else {
            return Ok(GrainKind::Unallocated);
        };
        self.classify(t.get((g % per_gt) as usize).copied().unwrap_or(0), guest)
    }

    /// Decode a grain table entry for the grain holding `guest` and check that the
    /// grain lies inside the file (a truncated file is refused, not read as zeros).
    fn classify(&self, gte: u32, guest: u64) -> Result<GrainKind> {
        let kind = decode(gte, &self.hdr);
        let file_size = self.src.size();
        let gs = self.grain_size();
        let (host, need) = match kind {
            GrainKind::Normal(h) => {
                let grain_start = guest - guest % gs;
                (h, gs.min(self.info.virtual_size - grain_start))
            }
            GrainKind::Compressed(h) => (
                h,
                if self.hdr.has_markers() {
                    stream::GRAIN_MARKER_SIZE
                } else {
                    1
                },
            ),
            _ => return Ok(kind),
        };
        if host.checked_add(need).is_none_or(|e| e > file_size) {
            // Report the entry's own file offset.
            let g = guest / gs;
            let per_gt = u64::from(self.hdr.num_gtes_per_gt);
            let gte_at =
                self.gd.table_offset((g / per_gt) as usize).unwrap_or(0) + 4 * (g % per_gt);
            return Err(Error::corrupt(FMT, "grain table entry", gte_at, format!("guest offset {guest:#x} maps to a grain at {host:#x}, past the end of the file ({file_size} bytes): the file is truncated or corrupt")));
        }
        Ok(kind)
    }

    /// The decompressed grain at `host`.
    fn decompressed(&self, host: u64) -> Result<Arc<Vec<u8>>> {
        if let Some(c) = self.zcache.lock().map_err(poisoned)?.get(&host) {
            return Ok(c);
        }
        let gs = self.grain_size();
        let input = stream::read_compressed(&*self.src, host, gs, self.hdr.has_markers())?;
        let out = stream::inflate_grain(&input, gs as usize)
            .map_err(|d| Error::corrupt(FMT, "compressed grain", host, d))?;
        let out = Arc::new(out);
        self.zcache.lock().map_err(poisoned)?.put(host, out.clone());
        Ok(out)
    }
}

/// Read a sparse extent's embedded descriptor (bounded to [`MAX_DESCRIPTOR`]).
fn read_embedded_descriptor(src: &dyn ReadAt, hdr: &SparseHeader) -> Result<Descriptor> {
    let file_size = src.size();
    let bytes = hdr.desc_size.saturating_mul(512);
    if bytes > MAX_DESCRIPTOR {
        return Err(Error::limit(
            "VMDK embedded descriptor size",
            bytes,
            MAX_DESCRIPTOR,
        ));
    }
    let at = hdr.desc_offset.saturating_mul(512);
    if at.checked_add(bytes).is_none_or(|e| e > file_size) {
        return Err(Error::corrupt(
            FMT,
            "embedded descriptor",
            at,
            format!("{bytes} bytes at {at:#x} lie past the end of the file ({file_size} bytes): the file is truncated"),
        ));
    }
    Ok(Descriptor::parse(&src.read_vec(at, bytes as usize)?))
}

/// Read a whole text descriptor file (bounded to [`MAX_DESCRIPTOR`]).
fn read_descriptor_file(src: &dyn ReadAt) -> Result<Descriptor> {
    let size = src.size();
    if size > MAX_DESCRIPTOR {
        return Err(Error::limit(
            "VMDK descriptor file size",
            size,
            MAX_DESCRIPTOR,
        ));
    }
    let d = Descriptor::parse(&src.read_vec(0, size as usize)?);
    if d.create_type.is_none() && d.extents.is_empty() {
        return Err(Error::corrupt(
            FMT,
            "descriptor",
            0,
            "neither a sparse extent (KDMV) nor a descriptor with createType or extent lines",
        ));
    }
    Ok(d)
}

fn poisoned<T>(_: T) -> Error {
    Error::Io {
        what: "vmdk cache".into(),
        source: std::io::Error::other("lock poisoned"),
    }
}

impl ReadAt for VmdkDisk {
    fn size(&self) -> u64 {
        self.info.virtual_size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        crate::source::check_bounds(
            &|| self.describe(),
            offset,
            buf.len(),
            self.info.virtual_size,
        )?;
        let gs = self.grain_size();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let in_grain = pos % gs;
            let mut n = ((gs - in_grain) as usize).min(buf.len() - done);
            match self.grain(pos)? {
                GrainKind::Unallocated | GrainKind::Zero => buf[done..done + n].fill(0),
                GrainKind::Normal(host) => {
                    // Coalesce following grains that are contiguous in the file.
                    let mut host_end = host + gs;
                    while done + n < buf.len() {
                        match self.grain(pos + n as u64)? {
                            GrainKind::Normal(h) if h == host_end => {
                                n += (gs as usize).min(buf.len() - done - n);
                                host_end += gs;
                            }
                            _ => break,
                        }
                    }
                    self.src
                        .read_exact_at(&mut buf[done..done + n], host + in_grain)?;
                }
                GrainKind::Compressed(host) => {
                    let data = self.decompressed(host)?;
                    let s = in_grain as usize;
                    let src = data.get(s..s + n).ok_or_else(|| {
                        Error::corrupt(
                            FMT,
                            "compressed grain",
                            host,
                            format!(
                                "it inflates to {} bytes, but bytes {s}..{} of the grain are read",
                                data.len(),
                                s + n
                            ),
                        )
                    })?;
                    buf[done..done + n].copy_from_slice(src);
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

impl VirtualDisk for VmdkDisk {
    fn info(&self) -> &ImageInfo {
        &self.info
    }

    fn source(&self) -> &dyn ReadAt {
        &*self.src
    }

    /// qemu `vmdk_co_block_status`: uncompressed grains are data at a file offset,
    /// compressed grains data without one, zeroed grains zero, others unallocated.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.info.virtual_size);
        let gs = self.grain_size();
        let per_gt = u64::from(self.hdr.num_gtes_per_gt);
        let span = self.hdr.gt_coverage();
        let mut out = Vec::new();
        let mut pos = offset;
        while pos < end {
            let gdi = pos / span;
            let gt_end = ((gdi + 1) * span).min(end);
            let Some(table) = self.table(gdi as usize)? else {
                push_extent(
                    &mut out,
                    Extent {
                        offset: pos,
                        length: gt_end - pos,
                        kind: ExtentKind::Unallocated,
                        host_offset: None,
                    },
                );
                pos = gt_end;
                continue;
            };
            while pos < gt_end {
                let in_grain = pos % gs;
                let n = (gs - in_grain).min(gt_end - pos);
                let gte = table
                    .get(((pos / gs) % per_gt) as usize)
                    .copied()
                    .unwrap_or(0);
                let (kind, host_offset) = match self.classify(gte, pos)? {
                    GrainKind::Unallocated => (ExtentKind::Unallocated, None),
                    GrainKind::Zero => (ExtentKind::Zero, None),
                    GrainKind::Normal(h) => (ExtentKind::Data, Some(h + in_grain)),
                    GrainKind::Compressed(_) => (ExtentKind::Data, None),
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
