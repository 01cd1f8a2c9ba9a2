//! Read-only btrfs: single-device filesystems (SINGLE and DUP chunks), the
//! default subvolume (the `default` entry of the root tree directory, which
//! follows `btrfs subvolume set-default`, e.g. openSUSE's
//! `@/.snapshots/N/snapshot`) or any subvolume by path or id ([`open_subvolume`],
//! [`list_subvolumes`], and [`FileSystem::open_subvolume`] on an opened view);
//! directories through DIR_INDEX/DIR_ITEM, subvolume
//! boundaries crossed like directories, symlinks (inline extents), files with
//! inline, regular, prealloc (zeros) and hole extents and zlib/LZO/zstd
//! compression. Tree-block checksums are not verified (the superblock's crc32c
//! is; block headers, levels, key order and item bounds are checked).
//!
//! Written here rather than taken from crates.io: the pure-Rust btrfs readers
//! there (`btrfs-core`, `lambutter`, `rust-fs-btrfs`, all 0.x and months old,
//! single maintainers) have no track record, and this reader has to read
//! through the project's shared positioned-read source, follow the
//! [`FileSystem`] contract (literal lookups, lstat, bounded listings) and keep
//! the project's hostile-input bounds, which are tested and fuzzed here.
//! Format reference: btrfs documentation "On-disk format", kernel
//! `include/uapi/linux/btrfs_tree.h`.

mod chunk;
mod compress;
mod crc32c;
mod items;
mod key;
mod superblock;
mod tree;

use super::{DirEntry, FileSystem, FileType, FsProbe, Metadata, SubvolumeRef, MAX_DIR_ENTRIES};
use crate::{Error, Result};
use chunk::{chunk_item_len, ChunkMap};
use imgport_disk::{ReadAt, ReadAtExt};
use items::{DirItem, ExtentKind, FileExtent, InodeItem, RootItem};
use key::{
    Key, CHUNK_ITEM, DIR_INDEX, DIR_ITEM, EXTENT_DATA, INODE_ITEM, INODE_REF, ROOT_BACKREF,
    ROOT_ITEM,
};
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use superblock::Superblock;
use tree::{TreeRoot, Volume};

const FS_TREE_OBJECTID: u64 = 5;
const ROOT_TREE_DIR_OBJECTID: u64 = 6;
const FIRST_CHUNK_TREE_OBJECTID: u64 = 256;
/// The placeholder inode a snapshot shows for a nested subvolume.
const EMPTY_SUBVOL_DIR_OBJECTID: u64 = 2;
/// Subvolume ids are in `[256, LAST_FREE]`, plus the top level (5).
const LAST_FREE_OBJECTID: u64 = u64::MAX - 256;
/// Most path components followed in one lookup (subvolume hops included).
const MAX_COMPONENTS: usize = 256;
/// Most extent items mapped for one file.
const MAX_FILE_EXTENTS: usize = 1 << 20;
/// Most inline extent bytes kept for one file (real files have one inline
/// extent of at most a sector, at offset 0).
const MAX_INLINE_BYTES: usize = 1 << 20;
/// Most subvolumes listed.
const MAX_SUBVOLUMES: usize = 10_000;

pub use super::Subvolume;

/// One btrfs subvolume seen as a [`FileSystem`].
pub struct Btrfs {
    vol: Arc<Volume>,
    /// Tree id and root directory inode of the subvolume this view starts at.
    tree: u64,
    root_dir: u64,
    roots: Mutex<HashMap<u64, RootItem>>,
    probe: FsProbe,
}

/// An inode in some tree.
#[derive(Debug, Clone, Copy)]
struct Node {
    tree: TreeRoot,
    ino: u64,
    item: InodeItem,
}

/// Open `dev` as btrfs, at its default subvolume.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    let vol = Arc::new(open_volume(dev)?);
    let top = Btrfs::at(vol.clone(), FS_TREE_OBJECTID, probe.clone())?;
    let id = top.default_subvolume()?;
    Ok(Arc::new(Btrfs::at(vol, id, probe)?))
}

/// Open the subvolume at `path` (from the top level: `@`, `@home`,
/// `@/.snapshots/1/snapshot`; `/` or empty is the top level itself), crossing
/// nested subvolumes. A path inside a subvolume that is a plain directory is
/// [`Error::NotFound`] for this purpose.
pub fn open_subvolume(
    dev: Arc<dyn ReadAt>,
    probe: FsProbe,
    path: &str,
) -> Result<Arc<dyn FileSystem>> {
    let vol = Arc::new(open_volume(dev)?);
    let top = Btrfs::at(vol, FS_TREE_OBJECTID, probe)?;
    top.open_subvolume(SubvolumeRef::Path(path))
}

/// All subvolumes with their paths from the top level (the top level itself
/// excluded), and the id of the default one.
pub fn list_subvolumes(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<(Vec<Subvolume>, u64)> {
    let vol = Arc::new(open_volume(dev)?);
    let top = Btrfs::at(vol, FS_TREE_OBJECTID, probe)?;
    Ok((top.subvolumes()?, top.default_subvolume()?))
}

/// Superblock, bootstrap chunks, then the whole chunk tree.
fn open_volume(dev: Arc<dyn ReadAt>) -> Result<Volume> {
    let b = dev.read_vec(superblock::SB_OFFSET, superblock::SB_LEN)?;
    let sb = Superblock::parse(&b)?;
    let mut chunks = ChunkMap::default();
    let mut arr = &sb.sys_chunk_array[..];
    while !arr.is_empty() {
        if arr.len() < key::KEY_LEN {
            return Err(Error::corrupt(
                "btrfs sys_chunk_array",
                superblock::SB_OFFSET,
                "truncated key",
            ));
        }
        let k = Key::parse(arr, 0);
        let rest = &arr[key::KEY_LEN..];
        let len = chunk_item_len(rest).ok_or_else(|| {
            Error::corrupt(
                "btrfs sys_chunk_array",
                superblock::SB_OFFSET,
                "truncated chunk",
            )
        })?;
        if k.ty != CHUNK_ITEM {
            return Err(Error::corrupt(
                "btrfs sys_chunk_array",
                superblock::SB_OFFSET,
                format!("item type {}", k.ty),
            ));
        }
        chunks.add(&k, &rest[..len], sb.devid)?;
        arr = &rest[len..];
    }
    let chunk_root = TreeRoot {
        bytenr: sb.chunk_root,
        level: sb.chunk_root_level,
    };
    let boot = Volume::new(dev.clone(), sb.clone(), chunks.clone());
    let min = Key::new(FIRST_CHUNK_TREE_OBJECTID, CHUNK_ITEM, 0);
    let max = Key::new(FIRST_CHUNK_TREE_OBJECTID, CHUNK_ITEM, u64::MAX);
    boot.search(chunk_root, min, max, &mut |k, d| {
        chunks.add(&k, d, sb.devid)?;
        Ok(true)
    })?;
    Ok(Volume::new(dev, sb, chunks))
}

fn root_tree(vol: &Volume) -> TreeRoot {
    TreeRoot {
        bytenr: vol.sb.root,
        level: vol.sb.root_level,
    }
}

fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

impl Btrfs {
    fn at(vol: Arc<Volume>, tree: u64, probe: FsProbe) -> Result<Self> {
        let mut fs = Btrfs {
            vol,
            tree,
            root_dir: 0,
            roots: Mutex::new(HashMap::new()),
            probe,
        };
        fs.root_dir = fs.root_of(tree)?.root_dirid;
        Ok(fs)
    }

    /// The ROOT_ITEM of tree `id` (the last one: snapshots' keys carry a transid).
    fn root_of(&self, id: u64) -> Result<RootItem> {
        if let Some(r) = self.roots.lock().ok().and_then(|m| m.get(&id).copied()) {
            return Ok(r);
        }
        if id != FS_TREE_OBJECTID && !(256..=LAST_FREE_OBJECTID).contains(&id) {
            return Err(Error::corrupt("btrfs root item", id, "not a subvolume id"));
        }
        let mut found = None;
        let min = Key::new(id, ROOT_ITEM, 0);
        let max = Key::new(id, ROOT_ITEM, u64::MAX);
        self.vol
            .search(root_tree(&self.vol), min, max, &mut |k, d| {
                found = Some(RootItem::parse(&k, d)?);
                Ok(true)
            })?;
        let r = found.ok_or_else(|| Error::NotFound(format!("btrfs subvolume {id}")))?;
        if r.level > tree::MAX_LEVEL {
            return Err(Error::corrupt(
                "btrfs root item",
                id,
                format!("level {}", r.level),
            ));
        }
        if let Ok(mut m) = self.roots.lock() {
            if m.len() > MAX_SUBVOLUMES {
                m.clear();
            }
            m.insert(id, r);
        }
        Ok(r)
    }

    fn tree_root(&self, id: u64) -> Result<TreeRoot> {
        let r = self.root_of(id)?;
        Ok(TreeRoot {
            bytenr: r.bytenr,
            level: r.level,
        })
    }

    /// The `default` entry of the root tree directory; the top level without one.
    fn default_subvolume(&self) -> Result<u64> {
        let hash = crc32c::name_hash(b"default");
        let k = Key::new(ROOT_TREE_DIR_OBJECTID, DIR_ITEM, hash);
        let Some(d) = self.vol.get(root_tree(&self.vol), k)? else {
            return Ok(FS_TREE_OBJECTID);
        };
        let hit = items::dir_items(&k, &d)?
            .into_iter()
            .find(|e| e.name == b"default");
        Ok(hit.map_or(FS_TREE_OBJECTID, |e| e.location.objectid))
    }

    fn inode(&self, tree: TreeRoot, ino: u64) -> Result<Option<InodeItem>> {
        let k = Key::new(ino, INODE_ITEM, 0);
        match self.vol.get(tree, k)? {
            Some(d) => Ok(Some(InodeItem::parse(&k, &d)?)),
            None => Ok(None),
        }
    }

    /// Entry `name` of directory `dir` (DIR_ITEM, keyed by the name's hash).
    fn dir_lookup(&self, tree: TreeRoot, dir: u64, name: &[u8]) -> Result<Option<DirItem>> {
        let k = Key::new(dir, DIR_ITEM, crc32c::name_hash(name));
        let Some(d) = self.vol.get(tree, k)? else {
            return Ok(None);
        };
        Ok(items::dir_items(&k, &d)?
            .into_iter()
            .find(|e| e.name == name))
    }

    /// Follow a directory entry: into its inode, or into a subvolume's root directory.
    fn enter(&self, tree: TreeRoot, e: &DirItem, path: &str) -> Result<Node> {
        let (tree, ino) = match e.location.ty {
            INODE_ITEM => (tree, e.location.objectid),
            ROOT_ITEM => {
                let r = self.root_of(e.location.objectid)?;
                (
                    TreeRoot {
                        bytenr: r.bytenr,
                        level: r.level,
                    },
                    r.root_dirid,
                )
            }
            t => {
                return Err(Error::corrupt(
                    "btrfs dir item",
                    e.location.objectid,
                    format!("{path}: location type {t}"),
                ))
            }
        };
        match self.inode(tree, ino)? {
            Some(item) => Ok(Node { tree, ino, item }),
            // A snapshot's stand-in for a nested subvolume: an empty directory.
            None if ino == EMPTY_SUBVOL_DIR_OBJECTID => Ok(Node {
                tree,
                ino,
                item: InodeItem {
                    size: 0,
                    mode: 0o040755,
                },
            }),
            None => Err(Error::corrupt(
                "btrfs inode",
                ino,
                format!("{path}: no inode item"),
            )),
        }
    }

    /// The inode at `path` from this view's root, literally (no symlink followed).
    fn lookup(&self, path: &str) -> Result<Node> {
        let tree = self.tree_root(self.tree)?;
        let item = self.inode(tree, self.root_dir)?.ok_or_else(|| {
            Error::corrupt("btrfs inode", self.root_dir, "no root directory inode")
        })?;
        let mut cur = Node {
            tree,
            ino: self.root_dir,
            item,
        };
        for (i, comp) in components(path).enumerate() {
            if i >= MAX_COMPONENTS {
                return Err(Error::Limit {
                    what: format!("path components in {path}"),
                    limit: MAX_COMPONENTS as u64,
                });
            }
            if cur.item.file_type() != FileType::Dir {
                return Err(Error::NotADirectory(path.to_string()));
            }
            let e = self
                .dir_lookup(cur.tree, cur.ino, comp.as_bytes())?
                .ok_or_else(|| Error::NotFound(path.to_string()))?;
            cur = self.enter(cur.tree, &e, path)?;
        }
        Ok(cur)
    }

    /// Walk `path` from this view's root, noting the last subvolume entered:
    /// (tree id, directory inode) where the path ends.
    fn subvolume_at(&self, path: &str) -> Result<(u64, u64)> {
        let mut id = self.tree;
        let mut tree = self.tree_root(id)?;
        let mut ino = self.root_dir;
        for (i, comp) in components(path).enumerate() {
            if i >= MAX_COMPONENTS {
                return Err(Error::Limit {
                    what: format!("path components in {path}"),
                    limit: MAX_COMPONENTS as u64,
                });
            }
            let e = self
                .dir_lookup(tree, ino, comp.as_bytes())?
                .ok_or_else(|| Error::NotFound(path.to_string()))?;
            if e.file_type != FileType::Dir {
                return Err(Error::NotADirectory(path.to_string()));
            }
            if e.location.ty == ROOT_ITEM {
                id = e.location.objectid;
            }
            let n = self.enter(tree, &e, path)?;
            tree = n.tree;
            ino = n.ino;
        }
        Ok((id, ino))
    }

    /// Entries of directory `dir` in index order (DIR_INDEX items).
    fn list(&self, tree: TreeRoot, dir: u64) -> Result<Vec<DirItem>> {
        let mut out = Vec::new();
        let min = Key::new(dir, DIR_INDEX, 0);
        let max = Key::new(dir, DIR_INDEX, u64::MAX);
        self.vol.search(tree, min, max, &mut |k, d| {
            for e in items::dir_items(&k, d)? {
                if out.len() >= MAX_DIR_ENTRIES {
                    return Err(Error::Limit {
                        what: "btrfs directory entries".into(),
                        limit: MAX_DIR_ENTRIES as u64,
                    });
                }
                out.push(e);
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Path of directory `ino` inside tree `tree` (by INODE_REF items up to `root_dir`).
    fn dir_path(&self, tree: TreeRoot, root_dir: u64, mut ino: u64) -> Result<String> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        while ino != root_dir {
            if parts.len() >= MAX_COMPONENTS {
                return Err(Error::Limit {
                    what: "btrfs directory depth".into(),
                    limit: MAX_COMPONENTS as u64,
                });
            }
            let mut next = None;
            let min = Key::new(ino, INODE_REF, 0);
            let max = Key::new(ino, INODE_REF, u64::MAX);
            self.vol.search(tree, min, max, &mut |k, d| {
                next = Some((k.offset, items::inode_ref_name(&k, d)?));
                Ok(false)
            })?;
            let (parent, name) = next.ok_or_else(|| {
                Error::corrupt("btrfs inode ref", ino, "directory without a parent")
            })?;
            if parent == ino {
                return Err(Error::corrupt(
                    "btrfs inode ref",
                    ino,
                    "directory is its own parent",
                ));
            }
            parts.push(name);
            ino = parent;
        }
        parts.reverse();
        Ok(parts
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>()
            .join("/"))
    }

    /// Every subvolume reachable from the top level, by ROOT_BACKREF items.
    fn subvolumes(&self) -> Result<Vec<Subvolume>> {
        // (id, parent id, directory in parent, name)
        let mut refs: Vec<(u64, u64, u64, Vec<u8>)> = Vec::new();
        let min = Key::new(256, ROOT_BACKREF, 0);
        let max = Key::new(LAST_FREE_OBJECTID, ROOT_BACKREF, u64::MAX);
        self.vol
            .search(root_tree(&self.vol), min, max, &mut |k, d| {
                if k.ty == ROOT_BACKREF {
                    if refs.len() >= MAX_SUBVOLUMES {
                        return Err(Error::Limit {
                            what: "btrfs subvolumes".into(),
                            limit: MAX_SUBVOLUMES as u64,
                        });
                    }
                    let (dirid, name) = items::root_ref(&k, d)?;
                    refs.push((k.objectid, k.offset, dirid, name));
                }
                Ok(true)
            })?;
        let mut paths: HashMap<u64, String> = HashMap::new();
        paths.insert(FS_TREE_OBJECTID, String::new());
        // Parents are resolved before children: repeat passes, at most one per nesting level.
        for _ in 0..refs.len() {
            let mut progress = false;
            for (id, parent, dirid, name) in &refs {
                if paths.contains_key(id) {
                    continue;
                }
                let Some(base) = paths.get(parent).cloned() else {
                    continue;
                };
                let pr = self.root_of(*parent)?;
                let dir = self.dir_path(
                    TreeRoot {
                        bytenr: pr.bytenr,
                        level: pr.level,
                    },
                    pr.root_dirid,
                    *dirid,
                )?;
                let mut p = base;
                for part in [dir.as_str(), &String::from_utf8_lossy(name)] {
                    if !part.is_empty() {
                        if !p.is_empty() {
                            p.push('/');
                        }
                        p.push_str(part);
                    }
                }
                paths.insert(*id, p);
                progress = true;
            }
            if !progress {
                break;
            }
        }
        let mut out: Vec<Subvolume> = paths
            .into_iter()
            .filter(|(id, _)| *id != FS_TREE_OBJECTID)
            .map(|(id, path)| Subvolume { id, path })
            .collect();
        out.sort_by_key(|s| s.id);
        Ok(out)
    }

    fn extents(&self, n: &Node) -> Result<Vec<FileExtent>> {
        let mut out: Vec<FileExtent> = Vec::new();
        let mut inline_bytes = 0usize;
        let min = Key::new(n.ino, EXTENT_DATA, 0);
        let max = Key::new(n.ino, EXTENT_DATA, u64::MAX);
        self.vol.search(n.tree, min, max, &mut |k, d| {
            if out.len() >= MAX_FILE_EXTENTS {
                return Err(Error::Limit {
                    what: format!("btrfs inode {} extents", n.ino),
                    limit: MAX_FILE_EXTENTS as u64,
                });
            }
            let e = FileExtent::parse(&k, d)?;
            if let ExtentKind::Inline { data } = &e.kind {
                inline_bytes += data.len();
                if inline_bytes > MAX_INLINE_BYTES {
                    return Err(Error::Limit {
                        what: format!("btrfs inode {} inline extent bytes", n.ino),
                        limit: MAX_INLINE_BYTES as u64,
                    });
                }
            }
            if out.last().is_some_and(|p| p.start + p.len > e.start) {
                return Err(Error::corrupt(
                    "btrfs file extent",
                    n.ino,
                    format!("overlapping extents at {}", e.start),
                ));
            }
            out.push(e);
            Ok(true)
        })?;
        Ok(out)
    }
}

impl FileSystem for Btrfs {
    fn probe(&self) -> &FsProbe {
        &self.probe
    }

    fn subvolumes(&self) -> Result<Vec<Subvolume>> {
        Btrfs::at(self.vol.clone(), FS_TREE_OBJECTID, self.probe.clone())?.subvolumes()
    }

    fn open_subvolume(&self, which: SubvolumeRef<'_>) -> Result<Arc<dyn FileSystem>> {
        let top = Btrfs::at(self.vol.clone(), FS_TREE_OBJECTID, self.probe.clone())?;
        let id = match which {
            SubvolumeRef::Path(path) => {
                let (id, dir) = top.subvolume_at(path)?;
                if dir != top.root_of(id)?.root_dirid {
                    return Err(Error::NotFound(format!("{path}: not a subvolume")));
                }
                id
            }
            SubvolumeRef::Id(id) => id,
        };
        Ok(Arc::new(Btrfs::at(
            self.vol.clone(),
            id,
            self.probe.clone(),
        )?))
    }

    fn subvolume_id(&self) -> Option<u64> {
        Some(self.tree)
    }

    fn metadata(&self, path: &str) -> Result<Metadata> {
        let n = self.lookup(path)?;
        Ok(Metadata {
            file_type: n.item.file_type(),
            size: n.item.size,
        })
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let n = self.lookup(path)?;
        if n.item.file_type() != FileType::Dir {
            return Err(Error::NotADirectory(path.to_string()));
        }
        if n.ino == EMPTY_SUBVOL_DIR_OBJECTID {
            return Ok(Vec::new());
        }
        Ok(self
            .list(n.tree, n.ino)?
            .into_iter()
            .map(|e| DirEntry {
                name: String::from_utf8_lossy(&e.name).into_owned(),
                file_type: e.file_type,
            })
            .collect())
    }

    fn read_link(&self, path: &str) -> Result<String> {
        let n = self.lookup(path)?;
        if n.item.file_type() != FileType::Symlink {
            return Err(Error::corrupt(
                "btrfs symlink",
                n.ino,
                format!("{path}: not a symlink"),
            ));
        }
        if n.item.size > u64::from(self.vol.sb.node_size) {
            return Err(Error::corrupt(
                "btrfs symlink",
                n.ino,
                format!("{path}: length {}", n.item.size),
            ));
        }
        let mut r = FileReader::new(self, self.extents(&n)?, n.item.size);
        let mut t = Vec::new();
        r.read_to_end(&mut t)
            .map_err(|e| Error::corrupt("btrfs symlink", n.ino, format!("{path}: {e}")))?;
        Ok(String::from_utf8_lossy(&t).into_owned())
    }

    fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        let n = self.lookup(path)?;
        if n.item.file_type() != FileType::File {
            return Err(Error::NotAFile(path.to_string()));
        }
        Ok(Box::new(FileReader::new(
            self,
            self.extents(&n)?,
            n.item.size,
        )))
    }
}

/// Streams a file through its EXTENT_DATA items; the last decompressed extent is kept.
struct FileReader<'a> {
    fs: &'a Btrfs,
    extents: Vec<FileExtent>,
    size: u64,
    pos: u64,
    /// (index into `extents`, its decompressed bytes)
    cached: Option<(usize, Vec<u8>)>,
}

/// Largest single device read for a file.
const READ_CHUNK: usize = 1 << 20;

impl<'a> FileReader<'a> {
    fn new(fs: &'a Btrfs, extents: Vec<FileExtent>, size: u64) -> Self {
        FileReader {
            fs,
            extents,
            size,
            pos: 0,
            cached: None,
        }
    }

    /// Fill `buf` (at most up to the end of the piece at `pos`); returns bytes filled.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let pos = self.pos;
        let i = self.extents.partition_point(|e| e.start <= pos);
        let hit = i
            .checked_sub(1)
            .filter(|&j| self.extents.get(j).is_some_and(|e| pos - e.start < e.len));
        let Some(j) = hit else {
            // A hole up to the next extent.
            let next = self.extents.get(i).map_or(u64::MAX, |e| e.start);
            let n = buf
                .len()
                .min(usize::try_from(next - pos).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            return Ok(n);
        };
        let e = &self.extents[j];
        let within = pos - e.start;
        let n = buf
            .len()
            .min(usize::try_from(e.len - within).unwrap_or(usize::MAX));
        let sector = self.fs.vol.sb.sector_size;
        match (&e.kind, e.compression) {
            (ExtentKind::Zero, _) => buf[..n].fill(0),
            (ExtentKind::Inline { data }, items::COMPRESS_NONE) => {
                let src = data.get(within as usize..).unwrap_or_default();
                let m = n.min(src.len());
                buf[..m].copy_from_slice(&src[..m]);
                buf[m..n].fill(0);
            }
            (
                ExtentKind::Regular {
                    disk_bytenr,
                    offset,
                    ..
                },
                items::COMPRESS_NONE,
            ) => {
                let at = disk_bytenr
                    .checked_add(*offset)
                    .and_then(|a| a.checked_add(within))
                    .ok_or_else(|| {
                        Error::corrupt("btrfs file extent", *disk_bytenr, "address overflow")
                    })?;
                self.fs.vol.read_logical(at, &mut buf[..n])?;
            }
            (kind, c) => {
                if self.cached.as_ref().is_none_or(|(k, _)| *k != j) {
                    let data = match kind {
                        ExtentKind::Inline { data } => {
                            compress::decompress(c, data, e.ram_bytes, sector)?
                        }
                        ExtentKind::Regular {
                            disk_bytenr,
                            disk_num_bytes,
                            ..
                        } => {
                            if *disk_num_bytes > compress::MAX_RAM_BYTES {
                                return Err(Error::corrupt(
                                    "btrfs file extent",
                                    *disk_bytenr,
                                    format!("{disk_num_bytes} compressed bytes"),
                                ));
                            }
                            let mut raw = vec![0u8; *disk_num_bytes as usize];
                            self.fs.vol.read_logical(*disk_bytenr, &mut raw)?;
                            compress::decompress(c, &raw, e.ram_bytes, sector)?
                        }
                        ExtentKind::Zero => Vec::new(),
                    };
                    self.cached = Some((j, data));
                }
                let skip = match kind {
                    ExtentKind::Regular { offset, .. } => *offset,
                    _ => 0,
                };
                let data = self
                    .cached
                    .as_ref()
                    .map(|(_, d)| d.as_slice())
                    .unwrap_or_default();
                let from = skip.saturating_add(within);
                let src = usize::try_from(from)
                    .ok()
                    .and_then(|f| data.get(f..))
                    .unwrap_or_default();
                let m = n.min(src.len());
                buf[..m].copy_from_slice(&src[..m]);
                buf[m..n].fill(0);
            }
        }
        Ok(n)
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.size.saturating_sub(self.pos);
        let n = buf
            .len()
            .min(READ_CHUNK)
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let got = self.fill(&mut buf[..n]).map_err(std::io::Error::other)?;
        self.pos += got as u64;
        Ok(got)
    }
}
