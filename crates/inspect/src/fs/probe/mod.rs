//! Filesystem identification by superblock magic, as util-linux's libblkid does it
//! (`libblkid/src/superblocks/*.c`): the same signatures, the same sanity checks and
//! the same textual UUID and LABEL forms, so that our answer agrees with
//! `blkid -p -o export` (the oracle in `tests/fs_readers.rs`).
//!
//! Every read is a fixed, small size at a fixed or bounded offset; a device too
//! short for a structure simply does not match it. Loops (FAT/exFAT root-directory
//! label searches, NTFS attributes) have explicit bounds.
//!
//! This module is the dispatcher ([`probe`], the order in which kinds are tried) and
//! the shared helpers (bounded reads, blkid's UUID and label forms); each signature
//! family has its own file: `encrypted.rs` (LUKS, BitLocker), `volumes.rs` (LVM2, md
//! RAID, Storage Spaces), `linux_fs.rs` (XFS, ext2/3/4, btrfs), `ntfs.rs`, `exfat.rs`,
//! `fat.rs`, `swap.rs`, `iso9660.rs`.

mod encrypted;
mod exfat;
mod fat;
mod iso9660;
mod linux_fs;
mod ntfs;
mod swap;
mod volumes;

use super::{FsKind, FsProbe};
use crate::Result;
use encrypted::{bitlocker, luks};
use exfat::exfat;
use fat::fat;
use imgport_disk::ReadAt;
use iso9660::iso9660;
use linux_fs::{btrfs, ext, xfs};
use ntfs::ntfs;
use swap::swap;
use volumes::{lvm2, md_raid, storage_spaces};

/// Identify what `dev` holds. The first kind whose checks pass wins, in the order
/// below (encryption and volume-manager labels first, then filesystems, then swap
/// and ISO 9660).
pub fn probe(dev: &dyn ReadAt) -> Result<FsProbe> {
    type Prober = fn(&dyn ReadAt) -> Result<Option<FsProbe>>;
    const PROBERS: &[Prober] = &[
        luks,
        lvm2,
        bitlocker,
        xfs,
        ext,
        btrfs,
        ntfs,
        exfat,
        fat,
        swap,
        iso9660,
        md_raid,
        storage_spaces,
    ];
    for p in PROBERS {
        if let Some(found) = p(dev)? {
            return Ok(found);
        }
    }
    Ok(FsProbe {
        kind: FsKind::Unknown,
        uuid: None,
        label: None,
    })
}

// ------------------------------------------------------------------ helpers

/// `len` bytes at `off`, or `None` when the device is shorter.
fn read(dev: &dyn ReadAt, off: u64, len: usize) -> Result<Option<Vec<u8>>> {
    match off.checked_add(len as u64) {
        Some(end) if end <= dev.size() => {
            let mut buf = vec![0u8; len];
            dev.read_exact_at(&mut buf, off)?;
            Ok(Some(buf))
        }
        _ => Ok(None),
    }
}

/// The `len` bytes of `b` at `off`, or nothing when `b` is shorter.
fn bytes_at(b: &[u8], off: usize, len: usize) -> &[u8] {
    b.get(off..off + len).unwrap_or_default()
}

/// A probe result, for the probers' `Ok(found(…))`.
fn found(kind: FsKind, uuid: Option<String>, label: Option<String>) -> Option<FsProbe> {
    Some(FsProbe { kind, uuid, label })
}

/// blkid's `blkid_probe_set_uuid`: dashed lower-case, nothing for an all-zero UUID.
fn dce_uuid(b: &[u8]) -> Option<String> {
    if b.len() != 16 || b.iter().all(|&x| x == 0) {
        return None;
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// blkid's `blkid_probe_set_label`: the bytes up to the first NUL, trailing
/// whitespace trimmed; nothing when empty.
fn label(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(b.get(..end).unwrap_or_default());
    let t = s.trim_end_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    (!t.is_empty()).then(|| t.to_string())
}

/// blkid's `blkid_probe_set_utf8label` for UTF-16 (stops at a NUL code unit).
fn utf16_label(b: &[u8], big_endian: bool) -> Option<String> {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| {
            if big_endian {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .take_while(|&u| u != 0)
        .collect();
    label(String::from_utf16_lossy(&units).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_uuids_as_blkid_prints_them() {
        assert_eq!(label(b"abc  \0zz"), Some("abc".into()));
        assert_eq!(label(b"   "), None);
        assert_eq!(
            dce_uuid(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8]),
            Some("12345678-9abc-def0-0102-030405060708".into())
        );
        assert_eq!(dce_uuid(&[0; 16]), None);
        assert_eq!(utf16_label(b"a\0b\0\0\0c\0", false), Some("ab".into()));
    }

    #[test]
    fn garbage_is_unknown() {
        let dev = imgport_disk::MemSource::new(vec![0xA5; 1 << 20]);
        assert_eq!(probe(&dev).unwrap().kind, FsKind::Unknown);
        let dev = imgport_disk::MemSource::new(vec![]);
        assert_eq!(probe(&dev).unwrap().kind, FsKind::Unknown);
    }
}
