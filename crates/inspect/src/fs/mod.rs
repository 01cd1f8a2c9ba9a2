//! Filesystems: identification by superblock ([`probe`]) and read-only access
//! through one trait ([`FileSystem`]), whatever the on-disk format.
//!
//! Contract for implementations:
//! - Paths are absolute, `/`-separated, within this filesystem (`/etc/os-release`).
//! - Lookups are literal: no component of a path passed in is a symlink except
//!   possibly the last; [`crate::guest`] resolves symlinks (inside the guest root,
//!   never on the host) and mount points. An implementation that meets a symlink in
//!   an intermediate component returns [`Error::NotADirectory`].
//! - `metadata` does not follow a final symlink (lstat).
//! - Every read is bounded: `read_dir` returns at most [`MAX_DIR_ENTRIES`] entries
//!   (error beyond), `read_file` at most the `max` bytes the caller gives (error
//!   beyond), and all on-disk counts are checked against the device size.

use crate::{Error, Result};
use imgport_disk::ReadAt;
use serde::Serialize;
use std::io::Read;
use std::sync::Arc;

pub mod btrfs;
mod chunks;
mod ext;
mod fat;
mod io_adapter;
pub mod memfs;
mod ntfs;
mod probe;
mod xfs;

/// Upper bound on entries returned by one `read_dir`.
pub const MAX_DIR_ENTRIES: usize = 100_000;

/// What kind of filesystem (or other content) a block device holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Ext2,
    Ext3,
    Ext4,
    Xfs,
    Btrfs,
    Ntfs,
    Fat12,
    Fat16,
    Fat32,
    Exfat,
    Swap,
    Luks,
    Bitlocker,
    Iso9660,
    LvmPv,
    /// A Linux md software RAID member whose superblock is all that was recognised
    /// (metadata 1.1/1.2 put the array's data past it; blkid `linux_raid_member`).
    #[serde(rename = "linux_raid_member")]
    LinuxRaidMember,
    /// A Windows Storage Spaces pool member (`SPACEDB` header).
    #[serde(rename = "storage_spaces")]
    StorageSpaces,
    Unknown,
}

impl FsKind {
    /// Whether we can open it and read files.
    pub fn is_readable(self) -> bool {
        matches!(
            self,
            FsKind::Ext2
                | FsKind::Ext3
                | FsKind::Ext4
                | FsKind::Xfs
                | FsKind::Btrfs
                | FsKind::Ntfs
                | FsKind::Fat12
                | FsKind::Fat16
                | FsKind::Fat32
        )
    }
}

/// What a superblock says about a filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsProbe {
    pub kind: FsKind,
    /// UUID as blkid prints it (lower-case, dashed; FAT/NTFS serials as blkid does).
    pub uuid: Option<String>,
    pub label: Option<String>,
}

/// File type of a directory entry or inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Other,
}

/// lstat-like facts about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metadata {
    pub file_type: FileType,
    pub size: u64,
}

/// One directory entry (never `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirEntry {
    pub name: String,
    pub file_type: FileType,
}

/// A subvolume of a filesystem that has them (btrfs): a tree that can be mounted as
/// a root of its own (`mount -o subvol=PATH` / `subvolid=ID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subvolume {
    /// Tree id (btrfs: 5 is the top level).
    pub id: u64,
    /// Path from the top level, without a leading `/` (`@`, `@/.snapshots/1/snapshot`).
    pub path: String,
}

/// Which subvolume to open: by path from the top level, or by id (`subvol=` /
/// `subvolid=` mount options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubvolumeRef<'a> {
    Path(&'a str),
    Id(u64),
}

/// Read-only access to one filesystem.
pub trait FileSystem: Send + Sync {
    /// What this is.
    fn probe(&self) -> &FsProbe;

    /// lstat `path` (a final symlink is not followed).
    fn metadata(&self, path: &str) -> Result<Metadata>;

    /// Entries of directory `path`, at most [`MAX_DIR_ENTRIES`].
    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>>;

    /// Target of symlink `path`, as stored (may be relative or absolute).
    fn read_link(&self, path: &str) -> Result<String>;

    /// A streaming reader over regular file `path` (for large files such as an
    /// initramfs). Callers bound how much they read.
    fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>>;

    /// Every subvolume but the top level, with its path from the top level (bounded);
    /// empty for filesystems without subvolumes.
    fn subvolumes(&self) -> Result<Vec<Subvolume>> {
        Ok(Vec::new())
    }

    /// Subvolume `which` of the same filesystem as a [`FileSystem`] of its own;
    /// [`Error::Unsupported`] for filesystems without subvolumes.
    fn open_subvolume(&self, which: SubvolumeRef<'_>) -> Result<Arc<dyn FileSystem>> {
        let _ = which;
        Err(Error::Unsupported("subvolumes".into()))
    }

    /// The id of the subvolume this view shows (`None`: no subvolumes).
    fn subvolume_id(&self) -> Option<u64> {
        None
    }

    /// The whole regular file `path` if it is at most `max` bytes, else [`Error::Limit`].
    fn read_file(&self, path: &str, max: u64) -> Result<Vec<u8>> {
        let md = self.metadata(path)?;
        if md.file_type != FileType::File {
            return Err(Error::NotAFile(path.to_string()));
        }
        if md.size > max {
            return Err(Error::Limit {
                what: format!("{path} ({} bytes)", md.size),
                limit: max,
            });
        }
        let mut out = Vec::with_capacity(md.size as usize);
        self.open_file(path)?
            .take(max)
            .read_to_end(&mut out)
            .map_err(|e| Error::corrupt("file data", 0, format!("{path}: {e}")))?;
        Ok(out)
    }
}

/// Identify what `dev` holds from its superblocks. Unknown content is
/// [`FsKind::Unknown`], not an error.
pub fn probe(dev: &dyn ReadAt) -> Result<FsProbe> {
    probe::probe(dev)
}

/// Open `dev` as the filesystem `probe` found. `Ok(None)` when the kind has no reader
/// (swap, LUKS, BitLocker, ISO 9660, exFAT, unknown).
pub fn open(dev: Arc<dyn ReadAt>, probe: &FsProbe) -> Result<Option<Arc<dyn FileSystem>>> {
    Ok(Some(match probe.kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => ext::open(dev, probe.clone())?,
        FsKind::Xfs => xfs::open(dev, probe.clone())?,
        FsKind::Btrfs => btrfs::open(dev, probe.clone())?,
        FsKind::Ntfs => ntfs::open(dev, probe.clone())?,
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => fat::open(dev, probe.clone())?,
        _ => return Ok(None),
    }))
}
