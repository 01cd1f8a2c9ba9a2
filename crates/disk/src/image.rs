//! The virtual disk: what every format reader presents to the rest of imgport.

use crate::source::ReadAt;
use crate::Result;
use serde::Serialize;

/// The importable image formats (R-FMT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Raw,
    Qcow2,
    Vmdk,
    Vhd,
}

impl Format {
    /// The name `qemu-img info` prints for this format (`vpc` for VHD).
    pub fn qemu_name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vmdk => "vmdk",
            Format::Vhd => "vpc",
        }
    }

    /// Our name, as in `info --json` (`raw|qcow2|vmdk|vhd`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vmdk => "vmdk",
            Format::Vhd => "vhd",
        }
    }

    /// Parse `raw|qcow2|vmdk|vhd|vpc`.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s.to_ascii_lowercase().as_str() {
            "raw" => Format::Raw,
            "qcow2" => Format::Qcow2,
            "vmdk" => Format::Vmdk,
            "vhd" | "vpc" => Format::Vhd,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Format facts about an image file (`imgport info`).
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub format: Format,
    /// qcow2 `v2|v3`; VMDK createType (`monolithicSparse`, `streamOptimized`); VHD `fixed|dynamic`.
    pub subformat: String,
    /// Guest-visible size in bytes (equals `qemu-img info`'s `virtual-size`).
    pub virtual_size: u64,
    /// Size of the image file in bytes.
    pub file_size: u64,
    /// Allocation unit: qcow2 cluster, VMDK grain, VHD block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u64>,
    /// Format-specific facts (qcow2 compression type, refcount bits, VHD creator …).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Things noticed that do not stop reading (dirty bit, odd sizes …).
    pub findings: Vec<String>,
}

impl ImageInfo {
    /// A new info record with no details or findings.
    pub fn new(
        format: Format,
        subformat: impl Into<String>,
        virtual_size: u64,
        file_size: u64,
    ) -> Self {
        ImageInfo {
            format,
            subformat: subformat.into(),
            virtual_size,
            file_size,
            cluster_size: None,
            details: serde_json::Map::new(),
            findings: Vec::new(),
        }
    }

    /// Record a format-specific fact.
    pub fn detail(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.details.insert(key.to_string(), value.into());
    }
}

/// What a range of the guest disk is backed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtentKind {
    /// Stored data (may still be all zeros).
    Data,
    /// Explicitly zero (qcow2 zero cluster, VMDK zeroed grain).
    Zero,
    /// Not allocated: reads as zeros (no backing files are ever followed).
    Unallocated,
}

/// A run of the guest disk with one allocation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Extent {
    pub offset: u64,
    pub length: u64,
    pub kind: ExtentKind,
    /// Where the data lies in the image file when it is stored there uncompressed and
    /// contiguously (qemu's `OFFSET_VALID`); `None` for compressed data and non-data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_offset: Option<u64>,
}

/// A guest disk read through an image format. `read_exact_at` returns guest bytes
/// (holes as zeros); `size()` is the virtual size.
pub trait VirtualDisk: ReadAt {
    /// Format facts.
    fn info(&self) -> &ImageInfo;

    /// The image file this disk is read from (for host-level facts such as holes).
    fn source(&self) -> &dyn ReadAt;

    /// Whether the block status of this disk's uncompressed data extents (those with a
    /// `host_offset`) is refined by the host file's, so that holes of the host file
    /// under stored data count as zero for `measure` and `convert`, as qemu's block
    /// layer does (block/io.c `bdrv_co_do_block_status`):
    /// - raw and fixed VHD map the guest straight onto the file (`BDRV_BLOCK_RAW`);
    /// - qcow2 sets `BDRV_BLOCK_RECURSE` on data clusters when it detects metadata
    ///   preallocation (block/qcow2.c `qcow2_co_block_status`).
    ///
    /// Otherwise (VMDK, dynamic VHD, ordinary qcow2) `false`: qemu counts stored
    /// clusters as data whatever the host file holds. May read metadata the first
    /// time it is asked (qcow2 walks its refcounts); errors answer `false`, as in qemu.
    fn data_recurses_to_host(&self) -> bool {
        false
    }

    /// The allocation map of `[offset, offset+len)`, clipped to the virtual size, in
    /// order and without gaps. Adjacent runs of the same kind (and, for data, contiguous
    /// host offsets) are merged. Callers ask in bounded windows (e.g. 1 GiB), so the
    /// result stays small even for fragmented images.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>>;
}

/// Appends an extent to `out`, merging with the previous one when it continues it.
pub fn push_extent(out: &mut Vec<Extent>, e: Extent) {
    if e.length == 0 {
        return;
    }
    if let Some(last) = out.last_mut() {
        let host_continues = match (last.host_offset, e.host_offset) {
            (Some(a), Some(b)) => a + last.length == b,
            (None, None) => true,
            _ => false,
        };
        if last.kind == e.kind && last.offset + last.length == e.offset && host_continues {
            last.length += e.length;
            return;
        }
    }
    out.push(e);
}
