//! A guest's file tree: filesystems mounted as the guest would (root, then fstab),
//! paths resolved with symlinks followed inside the guest root, never on the host.
//!
//! Resolution is component by component, like the kernel's path walk: an absolute
//! symlink target restarts at the guest root, `..` never climbs above `/`, at most
//! [`MAX_SYMLINK_HOPS`] symlinks are followed (Linux `ELOOP`), paths are at most
//! [`MAX_PATH_LEN`] bytes, and a mount point hides the directory it is mounted on
//! (the longest mount-point prefix wins).

use crate::fs::{DirEntry, FileSystem, FileType, FsProbe, Metadata};
use crate::{Error, Result};
use serde::Serialize;
use std::io::Read;
use std::sync::Arc;

/// Symlinks followed in one resolution before giving up (Linux `MAXSYMLINKS`).
pub const MAX_SYMLINK_HOPS: usize = 40;
/// Longest path accepted, before and during resolution (Linux `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;
/// Most directory entries a [`Guest::glob`] looks at.
const MAX_GLOB_MATCHES: usize = 10_000;

/// One block device of the image that may hold a filesystem.
#[derive(Clone)]
pub struct Volume {
    /// Human-readable name: `"partition 2"`, `"lv vg0/root"`.
    pub name: String,
    /// Byte offset on the virtual disk (0 for logical volumes).
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// What the superblock says.
    pub probe: FsProbe,
    /// The opened filesystem when we can read it.
    pub fs: Option<Arc<dyn FileSystem>>,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("name", &self.name)
            .field("offset", &self.offset)
            .field("size", &self.size)
            .field("probe", &self.probe)
            .field("readable", &self.fs.is_some())
            .finish()
    }
}

/// Why we believe a fact: the guest path (or volume) looked at and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub path: String,
    pub what: String,
}

impl Evidence {
    pub fn new(path: impl Into<String>, what: impl Into<String>) -> Self {
        Evidence {
            path: path.into(),
            what: what.into(),
        }
    }
}

/// A filesystem mounted in the guest tree.
#[derive(Clone)]
pub struct Mount {
    /// Canonical guest path (`/boot`).
    pub mountpoint: String,
    pub fs: Arc<dyn FileSystem>,
    /// Where it came from (`"partition 1"`).
    pub source: String,
}

/// A guest's file tree: a root filesystem plus mounts.
#[derive(Clone)]
pub struct Guest {
    root: Arc<dyn FileSystem>,
    /// Sorted longest mount point first.
    mounts: Vec<Mount>,
}

/// Shows a sub-directory of a filesystem as its root (an OSTree deployment).
/// Symlinks inside keep their stored targets, so absolute ones resolve against
/// the sub-directory, as they do in the booted system.
pub struct SubtreeFs {
    inner: Arc<dyn FileSystem>,
    prefix: String,
}

impl SubtreeFs {
    /// `prefix` is a literal, symlink-free directory path of `inner`.
    pub fn new(inner: Arc<dyn FileSystem>, prefix: &str) -> Self {
        SubtreeFs {
            inner,
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    fn full(&self, path: &str) -> String {
        if path == "/" || path.is_empty() {
            if self.prefix.is_empty() {
                "/".to_string()
            } else {
                self.prefix.clone()
            }
        } else {
            format!("{}{}", self.prefix, path)
        }
    }
}

impl FileSystem for SubtreeFs {
    fn probe(&self) -> &FsProbe {
        self.inner.probe()
    }
    fn metadata(&self, path: &str) -> Result<Metadata> {
        self.inner.metadata(&self.full(path))
    }
    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        self.inner.read_dir(&self.full(path))
    }
    fn read_link(&self, path: &str) -> Result<String> {
        self.inner.read_link(&self.full(path))
    }
    fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        self.inner.open_file(&self.full(path))
    }
    fn read_file(&self, path: &str, max: u64) -> Result<Vec<u8>> {
        self.inner.read_file(&self.full(path), max)
    }
}

/// Join canonical components into an absolute path.
fn join(comps: &[String]) -> String {
    if comps.is_empty() {
        return "/".to_string();
    }
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(c);
    }
    s
}

/// Lexically normalise `path` (no symlinks): `.`/empty dropped, `..` never above `/`.
pub fn normalize_path(path: &str) -> String {
    let mut comps: Vec<String> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                comps.pop();
            }
            c => comps.push(c.to_string()),
        }
    }
    join(&comps)
}

impl Guest {
    /// A guest with `root` mounted at `/` and nothing else.
    pub fn new(root: Arc<dyn FileSystem>) -> Self {
        Guest {
            root,
            mounts: Vec::new(),
        }
    }

    /// Mount `fs` at `mountpoint` (resolved in the guest when it exists, else
    /// normalised lexically). A later mount on the same point replaces the earlier.
    pub fn mount(
        &mut self,
        mountpoint: &str,
        fs: Arc<dyn FileSystem>,
        source: &str,
    ) -> Result<String> {
        let mp = match self.realpath(mountpoint) {
            Ok(p) => p,
            Err(_) => normalize_path(mountpoint),
        };
        if mp == "/" {
            self.root = fs;
            return Ok(mp);
        }
        self.mounts.retain(|m| m.mountpoint != mp);
        self.mounts.push(Mount {
            mountpoint: mp.clone(),
            fs,
            source: source.to_string(),
        });
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.mountpoint.len()));
        Ok(mp)
    }

    /// The mounts (not the root), longest mount point first.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The root filesystem.
    pub fn root_fs(&self) -> &Arc<dyn FileSystem> {
        &self.root
    }

    /// Which filesystem holds canonical path `canon`, and the path inside it.
    fn locate<'s, 'p>(&'s self, canon: &'p str) -> (&'s dyn FileSystem, &'p str) {
        for m in &self.mounts {
            if let Some(rest) = canon.strip_prefix(m.mountpoint.as_str()) {
                if rest.is_empty() {
                    return (&*m.fs, "/");
                }
                if rest.starts_with('/') {
                    return (&*m.fs, rest);
                }
            }
        }
        (&*self.root, canon)
    }

    /// lstat a canonical (symlink-free but for the last component) path.
    fn lstat_canon(&self, canon: &str) -> Result<Metadata> {
        let (fs, p) = self.locate(canon);
        fs.metadata(p).map_err(|e| rename_err(e, canon))
    }

    /// Resolve `path` to a canonical guest path: every intermediate symlink followed
    /// inside the guest; the last one followed when `follow_last`. A missing final
    /// component is not an error here (the caller's operation reports it); a missing
    /// intermediate one is.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<String> {
        if path.len() > MAX_PATH_LEN {
            return Err(Error::Limit {
                what: "guest path length".into(),
                limit: MAX_PATH_LEN as u64,
            });
        }
        let mut done: Vec<String> = Vec::new();
        // Components still to walk, in reverse order (next one last).
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .rev()
            .map(str::to_string)
            .collect();
        let mut hops = 0usize;
        while let Some(comp) = todo.pop() {
            if comp == "." {
                continue;
            }
            if comp == ".." {
                done.pop();
                continue;
            }
            done.push(comp);
            let is_last = todo.is_empty();
            if is_last && !follow_last {
                break;
            }
            let canon = join(&done);
            let md = match self.lstat_canon(&canon) {
                Ok(md) => md,
                Err(Error::NotFound(_)) if is_last => break,
                Err(e) => return Err(e),
            };
            if md.file_type != FileType::Symlink {
                continue;
            }
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(Error::Limit {
                    what: format!("symlinks followed resolving {path} (loop?)"),
                    limit: MAX_SYMLINK_HOPS as u64,
                });
            }
            let (fs, p) = self.locate(&canon);
            let target = fs.read_link(p).map_err(|e| rename_err(e, &canon))?;
            if target.is_empty() {
                return Err(Error::NotFound(format!("{canon} (empty symlink)")));
            }
            done.pop();
            if target.starts_with('/') {
                done.clear();
            }
            let pending: usize = todo.iter().map(|c| c.len() + 1).sum();
            if target.len() + pending + canon.len() > MAX_PATH_LEN {
                return Err(Error::Limit {
                    what: format!("guest path length resolving {path}"),
                    limit: MAX_PATH_LEN as u64,
                });
            }
            todo.extend(
                target
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .rev()
                    .map(str::to_string),
            );
        }
        Ok(join(&done))
    }

    /// The canonical path of an existing `path` (all symlinks followed).
    pub fn realpath(&self, path: &str) -> Result<String> {
        let canon = self.resolve(path, true)?;
        self.lstat_canon(&canon)?;
        Ok(canon)
    }

    /// stat: metadata with symlinks followed.
    pub fn metadata(&self, path: &str) -> Result<Metadata> {
        let canon = self.resolve(path, true)?;
        self.lstat_canon(&canon)
    }

    /// lstat: metadata of the last component itself.
    pub fn lstat(&self, path: &str) -> Result<Metadata> {
        let canon = self.resolve(path, false)?;
        self.lstat_canon(&canon)
    }

    /// Whether `path` exists (symlinks followed; a dangling link does not exist).
    pub fn exists(&self, path: &str) -> bool {
        self.metadata(path).is_ok()
    }

    /// Whether `path` is a directory (symlinks followed).
    pub fn is_dir(&self, path: &str) -> bool {
        matches!(self.metadata(path), Ok(m) if m.file_type == FileType::Dir)
    }

    /// Whether `path` is a regular file (symlinks followed).
    pub fn is_file(&self, path: &str) -> bool {
        matches!(self.metadata(path), Ok(m) if m.file_type == FileType::File)
    }

    /// Entries of directory `path` (symlinks followed), sorted by name.
    pub fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let canon = self.resolve(path, true)?;
        let (fs, p) = self.locate(&canon);
        let mut entries = fs.read_dir(p).map_err(|e| rename_err(e, &canon))?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Target of symlink `path` as stored.
    pub fn read_link(&self, path: &str) -> Result<String> {
        let canon = self.resolve(path, false)?;
        let (fs, p) = self.locate(&canon);
        fs.read_link(p).map_err(|e| rename_err(e, &canon))
    }

    /// The whole regular file `path` (symlinks followed) if at most `max` bytes.
    pub fn read_file(&self, path: &str, max: u64) -> Result<Vec<u8>> {
        let canon = self.resolve(path, true)?;
        let (fs, p) = self.locate(&canon);
        fs.read_file(p, max).map_err(|e| rename_err(e, &canon))
    }

    /// A streaming reader over regular file `path` (symlinks followed).
    pub fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        let canon = self.resolve(path, true)?;
        let md = self.lstat_canon(&canon)?;
        if md.file_type != FileType::File {
            return Err(Error::NotAFile(canon));
        }
        let (fs, p) = self.locate(&canon);
        fs.open_file(p).map_err(|e| rename_err(e, &canon))
    }

    /// Names in directory `dir` matching `prefix*suffix`, as full guest paths
    /// (`glob("/boot", "vmlinuz-", "")`), sorted. A missing directory gives none.
    pub fn glob(&self, dir: &str, prefix: &str, suffix: &str) -> Vec<String> {
        let Ok(entries) = self.read_dir(dir) else {
            return Vec::new();
        };
        let base = dir.trim_end_matches('/');
        entries
            .into_iter()
            .filter(|e| e.name.len() >= prefix.len() + suffix.len())
            .filter(|e| e.name.starts_with(prefix) && e.name.ends_with(suffix))
            .take(MAX_GLOB_MATCHES)
            .map(|e| format!("{base}/{}", e.name))
            .collect()
    }
}

/// Errors from a filesystem name the path inside it; name the guest path instead.
fn rename_err(e: Error, guest_path: &str) -> Error {
    match e {
        Error::NotFound(_) => Error::NotFound(guest_path.to_string()),
        Error::NotAFile(_) => Error::NotAFile(guest_path.to_string()),
        other => other,
    }
}
