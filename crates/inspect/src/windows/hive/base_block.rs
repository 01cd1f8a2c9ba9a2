//! The regf base block: the first 4096 bytes of a hive file ("Windows registry
//! file format specification", M. Suhanov, section "Base block").
//!
//! | offset | field |
//! |---|---|
//! | 0 | `regf` |
//! | 4 / 8 | primary / secondary sequence number (differ: the hive is dirty) |
//! | 20 / 24 | major / minor format version (1.3 … 1.6) |
//! | 28 | file type (0 primary, 1/2/6 transaction log) |
//! | 32 | file format (1 direct memory load) |
//! | 36 | root cell offset (relative to the first hbin) |
//! | 40 | hive bins data size |
//! | 48 | file name (64 bytes, UTF-16LE, last 32 characters of the path) |
//! | 508 | XOR-32 checksum of bytes 0..508 |

use crate::{Error, Result};
use imgport_disk::bytes::short::le32;
use serde::Serialize;

/// Size of the base block; hive bins start here.
pub const BASE_BLOCK_SIZE: usize = 4096;

/// What the base block says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaseBlock {
    pub primary_sequence: u32,
    pub secondary_sequence: u32,
    pub major_version: u32,
    pub minor_version: u32,
    pub file_type: u32,
    /// Root key cell, relative to the start of the hive bins data.
    pub root_cell_offset: u32,
    /// Bytes of hive bins the header claims.
    pub hive_bins_size: u32,
    /// The embedded file name (informational only).
    pub file_name: String,
    /// Whether the stored checksum matches.
    pub checksum_ok: bool,
}

impl BaseBlock {
    /// The hive was not cleanly written back: its transaction log (`.LOG1/.LOG2`)
    /// holds newer data that we do not replay.
    pub fn is_dirty(&self) -> bool {
        self.primary_sequence != self.secondary_sequence
    }

    /// `1.5` and so on.
    pub fn version(&self) -> String {
        format!("{}.{}", self.major_version, self.minor_version)
    }
}

/// The XOR-32 checksum over the first 508 bytes, with Windows' adjustments
/// (0xFFFFFFFF becomes 0xFFFFFFFE, 0 becomes 1).
pub fn checksum(block: &[u8]) -> u32 {
    let mut sum = 0u32;
    for chunk in block.get(..508).unwrap_or(&[]).chunks_exact(4) {
        sum ^= u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    match sum {
        u32::MAX => u32::MAX - 1,
        0 => 1,
        s => s,
    }
}

/// Parse the base block at the start of `data`.
pub fn parse(data: &[u8]) -> Result<BaseBlock> {
    let b = data.get(..BASE_BLOCK_SIZE).ok_or_else(|| {
        Error::corrupt(
            "regf base block",
            0,
            format!("hive is {} bytes, shorter than its base block", data.len()),
        )
    })?;
    if b.get(..4) != Some(b"regf".as_slice()) {
        return Err(Error::corrupt(
            "regf base block",
            0,
            "no `regf` signature: not a registry hive",
        ));
    }
    let major = le32(b, 20);
    if major != 1 {
        return Err(Error::corrupt(
            "regf base block",
            20,
            format!("unsupported major version {major}"),
        ));
    }
    let file_type = le32(b, 28);
    if file_type != 0 {
        return Err(Error::corrupt(
            "regf base block",
            28,
            format!("file type {file_type} is a transaction log, not a primary hive"),
        ));
    }
    let name_units: Vec<u16> = b
        .get(48..112)
        .unwrap_or(&[])
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    Ok(BaseBlock {
        primary_sequence: le32(b, 4),
        secondary_sequence: le32(b, 8),
        major_version: major,
        minor_version: le32(b, 24),
        file_type,
        root_cell_offset: le32(b, 36),
        hive_bins_size: le32(b, 40),
        file_name: String::from_utf16_lossy(&name_units),
        checksum_ok: checksum(b) == le32(b, 508),
    })
}
