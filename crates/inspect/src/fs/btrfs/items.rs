//! Leaf item payloads of the root and FS trees: `btrfs_inode_item`,
//! `btrfs_dir_item` (DIR_ITEM / DIR_INDEX), `btrfs_root_item`,
//! `btrfs_root_ref` (ROOT_BACKREF), `btrfs_inode_ref` and
//! `btrfs_file_extent_item`. btrfs on-disk format, "Item types".

use super::key::{Key, KEY_LEN};
use crate::fs::FileType;
use crate::{Error, Result};
use imgport_disk::bytes::{le16, le32, le64};

fn short(what: &'static str, key: &Key, len: usize) -> Error {
    Error::corrupt(
        what,
        key.objectid,
        format!("item {key:?}: {len} bytes is too short"),
    )
}

/// The fields of an inode item we use.
#[derive(Debug, Clone, Copy)]
pub(super) struct InodeItem {
    pub size: u64,
    pub mode: u32,
}

impl InodeItem {
    pub fn parse(key: &Key, b: &[u8]) -> Result<Self> {
        if b.len() < 160 {
            return Err(short("btrfs inode item", key, b.len()));
        }
        Ok(InodeItem {
            size: le64(b, 16),
            mode: le32(b, 52),
        })
    }

    pub fn file_type(&self) -> FileType {
        match self.mode & 0o170000 {
            0o100000 => FileType::File,
            0o040000 => FileType::Dir,
            0o120000 => FileType::Symlink,
            _ => FileType::Other,
        }
    }
}

/// One directory entry of a DIR_ITEM or DIR_INDEX item.
#[derive(Debug, Clone)]
pub(super) struct DirItem {
    /// An INODE_ITEM key in this tree, or a ROOT_ITEM key of a subvolume.
    pub location: Key,
    pub file_type: FileType,
    pub name: Vec<u8>,
}

/// All entries packed in one DIR_ITEM (hash collisions) or DIR_INDEX item.
pub(super) fn dir_items(key: &Key, mut b: &[u8]) -> Result<Vec<DirItem>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 30 {
            return Err(short("btrfs dir item", key, b.len()));
        }
        let location = Key::parse(b, 0);
        let data_len = usize::from(le16(b, KEY_LEN + 8));
        let name_len = usize::from(le16(b, KEY_LEN + 10));
        let ty = b[KEY_LEN + 12];
        let end = 30 + name_len + data_len;
        // BTRFS_NAME_LEN is 255 (xattr names share the item type; not listed).
        if name_len == 0 || name_len > 255 || end > b.len() {
            return Err(Error::corrupt(
                "btrfs dir item",
                key.objectid,
                format!("item {key:?}: name of {name_len} bytes past the item"),
            ));
        }
        let file_type = match ty {
            1 => FileType::File,
            2 => FileType::Dir,
            7 => FileType::Symlink,
            _ => FileType::Other,
        };
        out.push(DirItem {
            location,
            file_type,
            name: b[30..30 + name_len].to_vec(),
        });
        b = &b[end..];
    }
    Ok(out)
}

/// Where a tree's root block is, from its ROOT_ITEM.
#[derive(Debug, Clone, Copy)]
pub(super) struct RootItem {
    pub bytenr: u64,
    pub level: u8,
    pub root_dirid: u64,
}

impl RootItem {
    pub fn parse(key: &Key, b: &[u8]) -> Result<Self> {
        if b.len() < 239 {
            return Err(short("btrfs root item", key, b.len()));
        }
        Ok(RootItem {
            root_dirid: le64(b, 168),
            bytenr: le64(b, 176),
            level: b[238],
        })
    }
}

/// A ROOT_BACKREF (key: subvolume, ROOT_BACKREF, parent tree): the subvolume's
/// name in directory `dirid` of the parent tree.
pub(super) fn root_ref(key: &Key, b: &[u8]) -> Result<(u64, Vec<u8>)> {
    if b.len() < 18 {
        return Err(short("btrfs root ref", key, b.len()));
    }
    let n = usize::from(le16(b, 16));
    let name = b
        .get(18..18 + n)
        .ok_or_else(|| short("btrfs root ref", key, b.len()))?;
    Ok((le64(b, 0), name.to_vec()))
}

/// The first name of an INODE_REF item (key: inode, INODE_REF, parent directory).
pub(super) fn inode_ref_name(key: &Key, b: &[u8]) -> Result<Vec<u8>> {
    if b.len() < 10 {
        return Err(short("btrfs inode ref", key, b.len()));
    }
    let n = usize::from(le16(b, 8));
    b.get(10..10 + n)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| short("btrfs inode ref", key, b.len()))
}

/// `compression` values.
pub(super) const COMPRESS_NONE: u8 = 0;
pub(super) const COMPRESS_ZLIB: u8 = 1;
pub(super) const COMPRESS_LZO: u8 = 2;
pub(super) const COMPRESS_ZSTD: u8 = 3;

/// What one EXTENT_DATA item (key offset = file offset) maps.
#[derive(Debug, Clone)]
pub(super) enum ExtentKind {
    /// Bytes stored in the item (maybe compressed).
    Inline { data: Vec<u8> },
    /// `disk_bytenr == 0` (a hole) or prealloc: zeros.
    Zero,
    /// On disk: `[disk_bytenr, +disk_num_bytes)`; the file sees `num_bytes`
    /// bytes starting `offset` bytes into the (decompressed) extent.
    Regular {
        disk_bytenr: u64,
        disk_num_bytes: u64,
        offset: u64,
    },
}

#[derive(Debug, Clone)]
pub(super) struct FileExtent {
    /// File offset.
    pub start: u64,
    /// Bytes of the file covered.
    pub len: u64,
    /// Uncompressed size of the whole extent.
    pub ram_bytes: u64,
    pub compression: u8,
    pub kind: ExtentKind,
}

impl FileExtent {
    pub fn parse(key: &Key, b: &[u8]) -> Result<Self> {
        let bad =
            |d: String| Error::corrupt("btrfs file extent", key.objectid, format!("{key:?}: {d}"));
        if b.len() < 21 {
            return Err(short("btrfs file extent", key, b.len()));
        }
        let ram_bytes = le64(b, 8);
        let compression = b[16];
        if b[17] != 0 || le16(b, 18) != 0 {
            return Err(Error::Unsupported(format!(
                "btrfs encrypted/encoded extent {key:?}"
            )));
        }
        if compression > COMPRESS_ZSTD {
            return Err(bad(format!("compression {compression}")));
        }
        let ty = b[20];
        let (len, kind) = match ty {
            0 => {
                let data = b[21..].to_vec();
                let len = if compression == COMPRESS_NONE {
                    data.len() as u64
                } else {
                    ram_bytes
                };
                (len, ExtentKind::Inline { data })
            }
            1 | 2 => {
                if b.len() < 53 {
                    return Err(short("btrfs file extent", key, b.len()));
                }
                let disk_bytenr = le64(b, 21);
                let disk_num_bytes = le64(b, 29);
                let offset = le64(b, 37);
                let num_bytes = le64(b, 45);
                let kind = if ty == 2 || disk_bytenr == 0 {
                    ExtentKind::Zero
                } else {
                    ExtentKind::Regular {
                        disk_bytenr,
                        disk_num_bytes,
                        offset,
                    }
                };
                (num_bytes, kind)
            }
            t => return Err(bad(format!("type {t}"))),
        };
        if key.offset.checked_add(len).is_none() {
            return Err(bad(format!("length {len}")));
        }
        Ok(FileExtent {
            start: key.offset,
            len,
            ram_bytes,
            compression,
            kind,
        })
    }
}
