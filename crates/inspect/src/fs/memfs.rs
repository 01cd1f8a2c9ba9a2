//! An in-memory [`FileSystem`] for tests and fuzzing: a tree of directories,
//! regular files and symlinks built in code. It honours the trait contract
//! (literal lookups: a symlink in an intermediate component is
//! [`Error::NotADirectory`]; `metadata` is lstat).

use super::{DirEntry, FileSystem, FileType, FsKind, FsProbe, Metadata, MAX_DIR_ENTRIES};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File(Arc<Vec<u8>>),
    Symlink(String),
    Other,
}

/// An in-memory filesystem. Paths are absolute and `/`-separated.
#[derive(Debug, Clone)]
pub struct MemFs {
    probe: FsProbe,
    /// Normalised absolute path (root is `/`) → node.
    nodes: BTreeMap<String, Node>,
}

impl Default for MemFs {
    fn default() -> Self {
        Self::new()
    }
}

/// `/a//b/` → `/a/b`; `.` components dropped (no `..` handling: literal paths only).
fn normalise(path: &str) -> String {
    let mut out = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        out.push('/');
        out.push_str(comp);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => path.get(..i),
        None => None,
    }
}

impl MemFs {
    /// An empty ext4-looking filesystem (no UUID, no label).
    pub fn new() -> Self {
        Self::with_probe(FsProbe {
            kind: FsKind::Ext4,
            uuid: None,
            label: None,
        })
    }

    /// An empty filesystem that reports `probe`.
    pub fn with_probe(probe: FsProbe) -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Node::Dir);
        MemFs { probe, nodes }
    }

    fn insert(&mut self, path: &str, node: Node) -> &mut Self {
        let path = normalise(path);
        let mut parent = parent_of(&path).map(str::to_string);
        while let Some(p) = parent {
            self.nodes.entry(p.clone()).or_insert(Node::Dir);
            parent = parent_of(&p).map(str::to_string);
        }
        self.nodes.insert(path, node);
        self
    }

    /// Add a directory (and its missing parents).
    pub fn add_dir(&mut self, path: &str) -> &mut Self {
        self.insert(path, Node::Dir)
    }

    /// Add a regular file (and its missing parent directories).
    pub fn add_file(&mut self, path: &str, data: impl Into<Vec<u8>>) -> &mut Self {
        self.insert(path, Node::File(Arc::new(data.into())))
    }

    /// Add a symlink whose target is stored as given.
    pub fn add_symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.insert(path, Node::Symlink(target.to_string()))
    }

    /// Add a special file (device node, fifo, socket).
    pub fn add_other(&mut self, path: &str) -> &mut Self {
        self.insert(path, Node::Other)
    }

    /// Literal lookup: every ancestor must be a directory.
    fn lookup(&self, path: &str) -> Result<(String, &Node)> {
        let path = normalise(path);
        let mut prefix = String::new();
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        for (i, comp) in comps.iter().enumerate() {
            prefix.push('/');
            prefix.push_str(comp);
            let node = self
                .nodes
                .get(&prefix)
                .ok_or_else(|| Error::NotFound(path.clone()))?;
            if i + 1 < comps.len() && !matches!(node, Node::Dir) {
                return Err(Error::NotADirectory(prefix));
            }
        }
        let node = self
            .nodes
            .get(&path)
            .ok_or_else(|| Error::NotFound(path.clone()))?;
        Ok((path, node))
    }
}

/// File contents shared with the tree (no copy per open).
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn file_type(node: &Node) -> FileType {
    match node {
        Node::Dir => FileType::Dir,
        Node::File(_) => FileType::File,
        Node::Symlink(_) => FileType::Symlink,
        Node::Other => FileType::Other,
    }
}

impl FileSystem for MemFs {
    fn probe(&self) -> &FsProbe {
        &self.probe
    }

    fn metadata(&self, path: &str) -> Result<Metadata> {
        let (_, node) = self.lookup(path)?;
        let size = match node {
            Node::File(d) => d.len() as u64,
            Node::Symlink(t) => t.len() as u64,
            _ => 0,
        };
        Ok(Metadata {
            file_type: file_type(node),
            size,
        })
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let (path, node) = self.lookup(path)?;
        if !matches!(node, Node::Dir) {
            return Err(Error::NotADirectory(path));
        }
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let mut out = Vec::new();
        for (p, n) in self.nodes.range(prefix.clone()..) {
            let Some(rest) = p.strip_prefix(&prefix) else {
                break;
            };
            if rest.is_empty() || rest.contains('/') {
                continue;
            }
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(Error::Limit {
                    what: format!("entries of {path}"),
                    limit: MAX_DIR_ENTRIES as u64,
                });
            }
            out.push(DirEntry {
                name: rest.to_string(),
                file_type: file_type(n),
            });
        }
        Ok(out)
    }

    fn read_link(&self, path: &str) -> Result<String> {
        match self.lookup(path)? {
            (_, Node::Symlink(t)) => Ok(t.clone()),
            (p, _) => Err(Error::corrupt("symlink", 0, format!("{p}: not a symlink"))),
        }
    }

    fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        match self.lookup(path)? {
            (_, Node::File(d)) => Ok(Box::new(Cursor::new(SharedBytes(Arc::clone(d))))),
            (p, _) => Err(Error::NotAFile(p)),
        }
    }
}
