//! `struct btrfs_disk_key`: (objectid, type, offset), ordered lexicographically.

use imgport_disk::bytes::le64;

pub(super) const KEY_LEN: usize = 17;

pub(super) const INODE_ITEM: u8 = 1;
pub(super) const INODE_REF: u8 = 12;
pub(super) const DIR_ITEM: u8 = 84;
pub(super) const DIR_INDEX: u8 = 96;
pub(super) const EXTENT_DATA: u8 = 108;
pub(super) const ROOT_ITEM: u8 = 132;
pub(super) const ROOT_BACKREF: u8 = 144;
pub(super) const CHUNK_ITEM: u8 = 228;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub objectid: u64,
    pub ty: u8,
    pub offset: u64,
}

impl Key {
    pub const fn new(objectid: u64, ty: u8, offset: u64) -> Self {
        Key {
            objectid,
            ty,
            offset,
        }
    }

    /// Decode the 17 bytes at `at` of `b` (the caller checked the length).
    pub fn parse(b: &[u8], at: usize) -> Self {
        Key {
            objectid: le64(b, at),
            ty: b.get(at + 8).copied().unwrap_or(0),
            offset: le64(b, at + 9),
        }
    }
}
