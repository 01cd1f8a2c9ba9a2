//! Path lookup and directory listing: INODE_ITEMs, DIR_ITEMs by name hash, DIR_INDEX
//! items in index order, and crossing into a subvolume's root directory as into a
//! directory (btrfs "On-disk format": INODE_ITEM, DIR_ITEM/DIR_INDEX).

use super::items::{self, DirItem, InodeItem};
use super::key::{Key, DIR_INDEX, DIR_ITEM, INODE_ITEM, ROOT_ITEM};
use super::tree::TreeRoot;
use super::{components, crc32c, Btrfs, Node, EMPTY_SUBVOL_DIR_OBJECTID, MAX_COMPONENTS};
use crate::fs::{FileType, MAX_DIR_ENTRIES};
use crate::{Error, Result};

impl Btrfs {
    /// The INODE_ITEM of `ino` in `tree`, if there is one.
    pub(super) fn inode(&self, tree: TreeRoot, ino: u64) -> Result<Option<InodeItem>> {
        let k = Key::new(ino, INODE_ITEM, 0);
        match self.vol.get(tree, k)? {
            Some(d) => Ok(Some(InodeItem::parse(&k, &d)?)),
            None => Ok(None),
        }
    }

    /// Entry `name` of directory `dir` (DIR_ITEM, keyed by the name's hash).
    pub(super) fn dir_lookup(
        &self,
        tree: TreeRoot,
        dir: u64,
        name: &[u8],
    ) -> Result<Option<DirItem>> {
        let k = Key::new(dir, DIR_ITEM, crc32c::name_hash(name));
        let Some(d) = self.vol.get(tree, k)? else {
            return Ok(None);
        };
        Ok(items::dir_items(&k, &d)?
            .into_iter()
            .find(|e| e.name == name))
    }

    /// Follow a directory entry: into its inode, or into a subvolume's root directory.
    pub(super) fn enter(&self, tree: TreeRoot, e: &DirItem, path: &str) -> Result<Node> {
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
    pub(super) fn lookup(&self, path: &str) -> Result<Node> {
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

    /// Entries of directory `dir` in index order (DIR_INDEX items).
    pub(super) fn list(&self, tree: TreeRoot, dir: u64) -> Result<Vec<DirItem>> {
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
}
