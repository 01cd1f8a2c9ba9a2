//! Subvolumes: ROOT_ITEMs of the root tree (cached per view), the `default` entry of
//! the root tree directory, ROOT_BACKREF items and INODE_REF paths giving each
//! subvolume's path from the top level, and walking a path to the subvolume it ends in
//! (btrfs "On-disk format": root tree, ROOT_ITEM, ROOT_REF/ROOT_BACKREF, INODE_REF).

use super::items::{self, RootItem};
use super::key::{Key, DIR_ITEM, INODE_REF, ROOT_BACKREF, ROOT_ITEM};
use super::tree::{self, TreeRoot};
use super::{
    components, crc32c, root_tree, Btrfs, Subvolume, FS_TREE_OBJECTID, LAST_FREE_OBJECTID,
    MAX_COMPONENTS, MAX_SUBVOLUMES, ROOT_TREE_DIR_OBJECTID,
};
use crate::fs::FileType;
use crate::{Error, Result};
use std::collections::HashMap;

impl Btrfs {
    /// The ROOT_ITEM of tree `id` (the last one: snapshots' keys carry a transid).
    pub(super) fn root_of(&self, id: u64) -> Result<RootItem> {
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

    /// Where tree `id`'s root block is (from its ROOT_ITEM).
    pub(super) fn tree_root(&self, id: u64) -> Result<TreeRoot> {
        let r = self.root_of(id)?;
        Ok(TreeRoot {
            bytenr: r.bytenr,
            level: r.level,
        })
    }

    /// The `default` entry of the root tree directory; the top level without one.
    pub(super) fn default_subvolume(&self) -> Result<u64> {
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

    /// Walk `path` from this view's root, noting the last subvolume entered:
    /// (tree id, directory inode) where the path ends.
    pub(super) fn subvolume_at(&self, path: &str) -> Result<(u64, u64)> {
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

    /// Path of directory `ino` inside tree `tree` (by INODE_REF items up to `root_dir`).
    pub(super) fn dir_path(&self, tree: TreeRoot, root_dir: u64, mut ino: u64) -> Result<String> {
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
    pub(super) fn subvolumes(&self) -> Result<Vec<Subvolume>> {
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
}
