//! The btrfs superblock (`struct btrfs_super_block`, little-endian, at 64 KiB):
//! geometry, tree roots and the `sys_chunk_array` that bootstraps the
//! logical→physical map. btrfs on-disk format, "Superblock".

use super::crc32c::crc32c;
use crate::{Error, Result};
use imgport_disk::bytes::{le16, le32, le64};

/// Offset of the primary superblock.
pub(super) const SB_OFFSET: u64 = 0x1_0000;
pub(super) const SB_LEN: usize = 4096;
const MAGIC: &[u8; 8] = b"_BHRfS_M";
const SYS_CHUNK_ARRAY: usize = 0x32b;
const SYS_CHUNK_ARRAY_MAX: usize = 2048;
const CSUM_CRC32C: u16 = 0;

/// `incompat_flags` bits.
const INCOMPAT_MIXED_BACKREF: u64 = 1 << 0;
const INCOMPAT_DEFAULT_SUBVOL: u64 = 1 << 1;
const INCOMPAT_MIXED_GROUPS: u64 = 1 << 2;
const INCOMPAT_COMPRESS_LZO: u64 = 1 << 3;
const INCOMPAT_COMPRESS_ZSTD: u64 = 1 << 4;
const INCOMPAT_BIG_METADATA: u64 = 1 << 5;
const INCOMPAT_EXTENDED_IREF: u64 = 1 << 6;
const INCOMPAT_RAID56: u64 = 1 << 7;
const INCOMPAT_SKINNY_METADATA: u64 = 1 << 8;
const INCOMPAT_NO_HOLES: u64 = 1 << 9;
const INCOMPAT_METADATA_UUID: u64 = 1 << 10;
const INCOMPAT_RAID1C34: u64 = 1 << 11;
const INCOMPAT_ZONED: u64 = 1 << 12;
const INCOMPAT_EXTENT_TREE_V2: u64 = 1 << 13;
const INCOMPAT_RAID_STRIPE_TREE: u64 = 1 << 14;
const INCOMPAT_SIMPLE_QUOTA: u64 = 1 << 16;
/// Incompatible features that do not change how a reader finds files.
const INCOMPAT_KNOWN: u64 = INCOMPAT_MIXED_BACKREF
    | INCOMPAT_DEFAULT_SUBVOL
    | INCOMPAT_MIXED_GROUPS
    | INCOMPAT_COMPRESS_LZO
    | INCOMPAT_COMPRESS_ZSTD
    | INCOMPAT_BIG_METADATA
    | INCOMPAT_EXTENDED_IREF
    | INCOMPAT_RAID56
    | INCOMPAT_SKINNY_METADATA
    | INCOMPAT_NO_HOLES
    | INCOMPAT_METADATA_UUID
    | INCOMPAT_RAID1C34
    | INCOMPAT_ZONED
    | INCOMPAT_SIMPLE_QUOTA;

/// What a reader needs from the superblock, validated.
#[derive(Debug, Clone)]
pub(super) struct Superblock {
    /// The UUID stamped in every tree block header (`metadata_uuid` when set).
    pub tree_fsid: [u8; 16],
    pub root: u64,
    pub root_level: u8,
    pub chunk_root: u64,
    pub chunk_root_level: u8,
    pub sector_size: u32,
    pub node_size: u32,
    pub devid: u64,
    pub sys_chunk_array: Vec<u8>,
}

fn corrupt(detail: impl Into<String>) -> Error {
    Error::corrupt("btrfs superblock", SB_OFFSET, detail)
}

impl Superblock {
    /// Parse and check the [`SB_LEN`] bytes read at [`SB_OFFSET`]; the crc32c
    /// checksum is verified (other checksum algorithms are not).
    pub fn parse(b: &[u8]) -> Result<Self> {
        if b.len() < SB_LEN {
            return Err(corrupt("short read"));
        }
        if b.get(0x40..0x48) != Some(&MAGIC[..]) {
            return Err(corrupt("bad magic (not _BHRfS_M)"));
        }
        if le64(b, 0x30) != SB_OFFSET {
            return Err(corrupt(format!(
                "records its own offset as {:#x}",
                le64(b, 0x30)
            )));
        }
        let csum_type = le16(b, 0xc4);
        if csum_type == CSUM_CRC32C && crc32c(&b[0x20..SB_LEN]) != le32(b, 0) {
            return Err(corrupt("checksum mismatch"));
        }
        let num_devices = le64(b, 0x88);
        if num_devices != 1 {
            return Err(Error::Unsupported(format!(
                "btrfs over {num_devices} devices (only single-device filesystems are read)"
            )));
        }
        let sector_size = le32(b, 0x90);
        let node_size = le32(b, 0x94);
        if !sector_size.is_power_of_two() || !(4096..=65536).contains(&sector_size) {
            return Err(corrupt(format!("sector size {sector_size}")));
        }
        if !node_size.is_power_of_two() || node_size < sector_size || node_size > 65536 {
            return Err(corrupt(format!("node size {node_size}")));
        }
        let incompat = le64(b, 0xbc);
        if incompat & INCOMPAT_EXTENT_TREE_V2 != 0 || incompat & INCOMPAT_RAID_STRIPE_TREE != 0 {
            return Err(Error::Unsupported(format!(
                "btrfs incompat features {incompat:#x}"
            )));
        }
        if incompat & !INCOMPAT_KNOWN != 0 {
            return Err(Error::Unsupported(format!(
                "btrfs incompat features {:#x}",
                incompat & !INCOMPAT_KNOWN
            )));
        }
        let array_len = le32(b, 0xa0) as usize;
        if array_len > SYS_CHUNK_ARRAY_MAX {
            return Err(corrupt(format!("sys_chunk_array of {array_len} bytes")));
        }
        let mut tree_fsid = [0u8; 16];
        let fsid_at = if incompat & INCOMPAT_METADATA_UUID != 0 {
            0x23b
        } else {
            0x20
        };
        tree_fsid.copy_from_slice(&b[fsid_at..fsid_at + 16]);
        Ok(Superblock {
            tree_fsid,
            root: le64(b, 0x50),
            root_level: b[0xc6],
            chunk_root: le64(b, 0x58),
            chunk_root_level: b[0xc7],
            sector_size,
            node_size,
            devid: le64(b, 0xc9),
            sys_chunk_array: b[SYS_CHUNK_ARRAY..SYS_CHUNK_ARRAY + array_len].to_vec(),
        })
    }
}
