//! The qcow2 header and its extensions (qcow2 spec, docs/interop/qcow2.txt, "Header").

use crate::bytes::{be32, be64};
use crate::source::{ReadAt, ReadAtExt};
use crate::{Error, Result};

pub(crate) const FMT: &str = "qcow2";
const MAGIC: &[u8; 4] = b"QFI\xfb";

/// Incompatible feature bits (spec: "incompatible_features").
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
pub const INCOMPAT_EXTL2: u64 = 1 << 4;
const INCOMPAT_KNOWN: u64 = 0x1f;
/// qemu's `QCOW_MAX_REFTABLE_SIZE` (block/qcow2.h): 8 MiB of refcount table.
const MAX_REFTABLE_SIZE: u64 = 8 << 20;

/// Header extension types.
const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_TABLE: u32 = 0x6803_f857;
const EXT_CRYPTO: u32 = 0x0537_be77;
const EXT_BITMAPS: u32 = 0x2385_2875;
const EXT_DATA_FILE: u32 = 0x4441_5441;

/// Compression of compressed clusters (header byte 104, v3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zlib,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zlib => "zlib",
            Compression::Zstd => "zstd",
        }
    }
}

/// The parsed, validated header.
#[derive(Debug, Clone)]
pub struct Header {
    pub version: u32,
    pub cluster_bits: u32,
    pub size: u64,
    pub l1_size: u32,
    pub l1_table_offset: u64,
    pub refcount_table_offset: u64,
    pub refcount_table_clusters: u32,
    pub nb_snapshots: u32,
    pub snapshots_offset: u64,
    pub incompatible_features: u64,
    pub compatible_features: u64,
    pub autoclear_features: u64,
    pub refcount_order: u32,
    pub header_length: u32,
    pub compression: Compression,
    pub has_bitmaps_extension: bool,
}

impl Header {
    pub fn cluster_size(&self) -> u64 {
        1u64 << self.cluster_bits
    }

    /// Entries in one L2 table.
    pub fn l2_entries(&self) -> u64 {
        self.cluster_size() / 8
    }

    /// Parse and validate the header of `src`. Refuses backing files, external data
    /// files, encryption, extended L2 entries and unknown incompatible features.
    pub fn read(src: &dyn ReadAt) -> Result<Header> {
        let file_size = src.size();
        if file_size < 72 {
            return Err(Error::corrupt(
                FMT,
                "header",
                0,
                format!("file is {file_size} bytes, shorter than a qcow2 header"),
            ));
        }
        let h = src.read_upto(0, 112)?;
        let (mut hdr, refused) = Header::parse_v2_fields(&h)?;
        if hdr.version == 3 {
            hdr.parse_v3_fields(&h)?;
        }
        hdr.refuse_features(src, &refused)?;
        hdr.check_l1_table(file_size)?;
        hdr.check_refcount_table()?;
        hdr.read_extensions(src)?;
        Ok(hdr)
    }

    /// The fields every version has (bytes 0..72): magic, version and cluster_bits
    /// checked; the version 3 fields at their version 2 defaults.
    fn parse_v2_fields(h: &[u8]) -> Result<(Header, RefusedFields)> {
        if &h[0..4] != MAGIC {
            return Err(Error::corrupt(FMT, "header", 0, "bad magic"));
        }
        let version = be32(h, 4);
        if version != 2 && version != 3 {
            return Err(Error::unsupported(FMT, format!("qcow2 version {version}")));
        }
        let refused = RefusedFields {
            backing_file_offset: be64(h, 8),
            backing_file_size: be32(h, 16),
            crypt_method: be32(h, 32),
        };
        let cluster_bits = be32(h, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(Error::corrupt(
                FMT,
                "header",
                20,
                format!("cluster_bits {cluster_bits} outside 9..=21"),
            ));
        }
        let hdr = Header {
            version,
            cluster_bits,
            size: be64(h, 24),
            l1_size: be32(h, 36),
            l1_table_offset: be64(h, 40),
            refcount_table_offset: be64(h, 48),
            refcount_table_clusters: be32(h, 56),
            nb_snapshots: be32(h, 60),
            snapshots_offset: be64(h, 64),
            incompatible_features: 0,
            compatible_features: 0,
            autoclear_features: 0,
            refcount_order: 4,
            header_length: 72,
            compression: Compression::Zlib,
            has_bitmaps_extension: false,
        };
        Ok((hdr, refused))
    }

    /// The version 3 fields (bytes 72..104, and the compression type at 104).
    fn parse_v3_fields(&mut self, h: &[u8]) -> Result<()> {
        if h.len() < 104 {
            return Err(Error::corrupt(
                FMT,
                "header",
                0,
                "version 3 header is truncated",
            ));
        }
        self.incompatible_features = be64(h, 72);
        self.compatible_features = be64(h, 80);
        self.autoclear_features = be64(h, 88);
        self.refcount_order = be32(h, 96);
        self.header_length = be32(h, 100);
        if self.header_length < 104 || u64::from(self.header_length) > self.cluster_size() {
            return Err(Error::corrupt(
                FMT,
                "header",
                100,
                format!("header_length {} is invalid", self.header_length),
            ));
        }
        if self.refcount_order > 6 {
            return Err(Error::corrupt(
                FMT,
                "header",
                96,
                format!("refcount_order {} > 6", self.refcount_order),
            ));
        }
        if self.header_length > 104 {
            self.compression = match h.get(104).copied().unwrap_or(0) {
                0 => Compression::Zlib,
                1 => Compression::Zstd,
                t => {
                    return Err(Error::unsupported(
                        FMT,
                        format!("unknown compression type {t}"),
                    ))
                }
            };
        }
        if self.compression != Compression::Zlib
            && self.incompatible_features & INCOMPAT_COMPRESSION == 0
        {
            return Err(Error::corrupt(
                FMT,
                "header",
                72,
                "compression type set without its incompatible feature bit",
            ));
        }
        Ok(())
    }

    /// Refuse what the import never does: a backing file, an external data file,
    /// unknown incompatible features, extended L2 entries, a corrupt mark, encryption.
    fn refuse_features(&self, src: &dyn ReadAt, refused: &RefusedFields) -> Result<()> {
        // Safety (R-FMT, DEVELOPERS "Safety first"): never follow another file.
        if refused.backing_file_offset != 0 || refused.backing_file_size != 0 {
            let name = read_backing_name(
                src,
                refused.backing_file_offset,
                refused.backing_file_size,
                self.cluster_size(),
            );
            return Err(Error::unsafe_image(FMT, format!("the image has a backing file{name}; backing files are never opened — flatten it with `qemu-img convert -O qcow2 IN OUT`")));
        }
        if self.incompatible_features & INCOMPAT_DATA_FILE != 0 {
            return Err(Error::unsafe_image(FMT, "the image stores its data in an external data file (incompatible feature bit 2); external files are never opened — convert it with `qemu-img convert -O qcow2 IN OUT`"));
        }
        let unknown = self.incompatible_features & !INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(Error::unsupported(
                FMT,
                format!("unknown incompatible feature bits {unknown:#x}"),
            ));
        }
        if self.incompatible_features & INCOMPAT_EXTL2 != 0 {
            return Err(Error::unsupported(FMT, "extended L2 entries (subclusters); convert with `qemu-img convert -O qcow2 IN OUT`"));
        }
        if self.incompatible_features & INCOMPAT_CORRUPT != 0 {
            return Err(Error::corrupt(FMT, "header", 72, "the image is marked corrupt (incompatible feature bit 1); repair it with `qemu-img check -r all`"));
        }
        if refused.crypt_method != 0 {
            return Err(Error::unsupported(
                FMT,
                format!(
                    "the image is encrypted (crypt_method {}); decrypt it with `qemu-img convert`",
                    refused.crypt_method
                ),
            ));
        }
        Ok(())
    }

    /// The L1 table must cover the virtual size and lie inside the file.
    fn check_l1_table(&self, file_size: u64) -> Result<()> {
        let cluster_size = self.cluster_size();
        let l2_entries = cluster_size / 8;
        let per_l1 = cluster_size * l2_entries;
        let needed = self.size.div_ceil(per_l1);
        if u64::from(self.l1_size) < needed {
            return Err(Error::corrupt(
                FMT,
                "L1 table",
                36,
                format!(
                    "l1_size {} cannot map a virtual size of {} bytes (needs {needed})",
                    self.l1_size, self.size
                ),
            ));
        }
        let l1_bytes = u64::from(self.l1_size) * 8;
        if self.l1_size > 0 {
            if !self.l1_table_offset.is_multiple_of(cluster_size) {
                return Err(Error::corrupt(
                    FMT,
                    "L1 table",
                    40,
                    format!("offset {:#x} is not cluster aligned", self.l1_table_offset),
                ));
            }
            if self
                .l1_table_offset
                .checked_add(l1_bytes)
                .is_none_or(|e| e > file_size)
            {
                return Err(Error::corrupt(FMT, "L1 table", self.l1_table_offset, format!("{l1_bytes} bytes at {:#x} extend past the end of the file ({file_size} bytes): the file is truncated", self.l1_table_offset)));
            }
        }
        Ok(())
    }

    /// qemu's refcount table checks at open (block/qcow2.c `qcow2_do_open`): at least
    /// one cluster of table, at most `QCOW_MAX_REFTABLE_SIZE` (8 MiB) of it, and a
    /// cluster-aligned offset (`qcow2_validate_table`). qemu refuses to open images
    /// that fail them, so the import would fail too. The table's contents are read
    /// only to detect metadata preallocation (see `refcount.rs`).
    fn check_refcount_table(&self) -> Result<()> {
        if self.refcount_table_clusters == 0 {
            return Err(Error::corrupt(
                FMT,
                "refcount table",
                56,
                "the image has no refcount table (refcount_table_clusters is 0)",
            ));
        }
        let cs = self.cluster_size();
        let max_clusters = MAX_REFTABLE_SIZE / cs;
        if u64::from(self.refcount_table_clusters) > max_clusters {
            return Err(Error::corrupt(
                FMT,
                "refcount table",
                56,
                format!(
                    "{} clusters of refcount table are more than qemu's maximum of {max_clusters} ({MAX_REFTABLE_SIZE} bytes)",
                    self.refcount_table_clusters
                ),
            ));
        }
        let bytes = u64::from(self.refcount_table_clusters) * cs;
        if !self.refcount_table_offset.is_multiple_of(cs)
            || self.refcount_table_offset > i64::MAX as u64 - bytes
        {
            return Err(Error::corrupt(
                FMT,
                "refcount table",
                48,
                format!(
                    "offset {:#x} is invalid (not cluster aligned or out of range)",
                    self.refcount_table_offset
                ),
            ));
        }
        Ok(())
    }

    /// Walk header extensions: refuse external data files and encryption headers.
    fn read_extensions(&mut self, src: &dyn ReadAt) -> Result<()> {
        let cluster_size = self.cluster_size();
        let start = u64::from(self.header_length);
        let end = cluster_size.min(src.size());
        if start >= end {
            return Ok(());
        }
        let buf = src.read_vec(start, (end - start) as usize)?;
        let mut off = 0usize;
        // Each extension is at least 8 bytes: at most cluster_size/8 iterations.
        while off + 8 <= buf.len() {
            let ty = be32(&buf, off);
            let len = be32(&buf, off + 4) as usize;
            if ty == EXT_END {
                break;
            }
            let data_end = off + 8 + len;
            if data_end > buf.len() {
                return Err(Error::corrupt(
                    FMT,
                    "header extension",
                    start + off as u64,
                    format!("extension {ty:#x} of {len} bytes runs past the header cluster"),
                ));
            }
            match ty {
                EXT_DATA_FILE => {
                    let name = String::from_utf8_lossy(&buf[off + 8..data_end]);
                    return Err(Error::unsafe_image(
                        FMT,
                        format!(
                            "the image names an external data file {name:?}; it is never opened"
                        ),
                    ));
                }
                EXT_CRYPTO => {
                    return Err(Error::unsupported(
                        FMT,
                        "the image has a full-disk encryption header",
                    ))
                }
                EXT_BITMAPS => self.has_bitmaps_extension = true,
                EXT_BACKING_FORMAT | EXT_FEATURE_TABLE => {}
                _ => {}
            }
            off = data_end.div_ceil(8) * 8;
        }
        Ok(())
    }
}

/// The version 2 header fields `Header` does not keep: read only to refuse the image.
struct RefusedFields {
    backing_file_offset: u64,
    backing_file_size: u32,
    crypt_method: u32,
}

/// The backing file name, for the error message only (bounded, lossy).
fn read_backing_name(src: &dyn ReadAt, off: u64, len: u32, cluster_size: u64) -> String {
    if off == 0 || len == 0 || len > 1023 || off.saturating_add(u64::from(len)) > cluster_size {
        return String::new();
    }
    match src.read_vec(off, len as usize) {
        Ok(v) => format!(" {:?}", String::from_utf8_lossy(&v)),
        Err(_) => String::new(),
    }
}
