//! Read-only FAT12/16/32 through the `fatfs` crate (pinned `=0.3.6`), with long
//! (VFAT) names and case-insensitive lookups as FAT has them (a long or the 8.3
//! short name matches, ignoring case).
//!
//! `fatfs` wants a `Read + Write + Seek` device: it gets a
//! [`ReadAtCursor`](super::io_adapter::ReadAtCursor) whose writes fail (a read-only
//! mount never writes: the dirty flag and FSInfo are only written after a write).
//! Its `FileSystem` is neither `Send` nor `Sync` (it holds `RefCell`s and
//! non-`Sync` option objects), so every call opens it anew — that reads only the
//! boot sector and, on FAT32, the FSInfo sector. A streaming reader re-opens it
//! for each chunk of [`CHUNK`] bytes.
//!
//! Bounds: each request may read at most [`READ_BUDGET`] bytes (plus the chunk it
//! returns), which also ends loops on cyclic cluster chains; listings stop at
//! [`MAX_DIR_ENTRIES`].

use super::chunks::{fill, ChunkReader, Chunks, Span};
use super::io_adapter::ReadAtCursor;
use super::{DirEntry, FileSystem, FileType, FsProbe, Metadata, MAX_DIR_ENTRIES};
use crate::{Error, Result};
use imgport_disk::ReadAt;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

/// Most bytes one request may read (besides the file data it returns).
pub const READ_BUDGET: u64 = 256 << 20;
/// Bytes a streaming reader reads per re-open.
const CHUNK: usize = 4 << 20;

type Fat = fatfs::FileSystem<ReadAtCursor>;
type FatEntry<'a> = fatfs::DirEntry<'a, ReadAtCursor>;

/// A FAT filesystem.
struct FatFs {
    probe: FsProbe,
    dev: Arc<dyn ReadAt>,
}

fn corrupt(path: &str, e: impl std::fmt::Display) -> Error {
    Error::corrupt("FAT filesystem", 0, format!("{path}: {e}"))
}

fn mount(dev: &Arc<dyn ReadAt>, budget: u64) -> Result<Fat> {
    fatfs::FileSystem::new(
        ReadAtCursor::with_budget(Arc::clone(dev), budget),
        fatfs::FsOptions::new(),
    )
    .map_err(|e| Error::corrupt("FAT boot sector", 0, e.to_string()))
}

/// Open `dev` as FAT.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    let fs = mount(&dev, READ_BUDGET)?;
    // Reading the root directory's first entry proves the layout is usable.
    if let Some(Err(e)) = fs.root_dir().iter().next() {
        return Err(corrupt("/", e));
    }
    drop(fs);
    Ok(Arc::new(FatFs { probe, dev }))
}

/// `/a//b/./c` → `["a", "b", "c"]`; `..` is refused (paths are resolved by the caller).
fn components(path: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            return Err(Error::NotFound(path.to_string()));
        }
        out.push(c);
    }
    Ok(out)
}

/// FAT's case-insensitive name comparison.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_uppercase() == b.to_uppercase()
}

/// What a path names.
enum Node<'a> {
    Root,
    Entry(FatEntry<'a>),
}

/// Entries of `dir` without `.` and `..`, at most [`MAX_DIR_ENTRIES`].
fn entries<'a>(dir: &fatfs::Dir<'a, ReadAtCursor>, path: &str) -> Result<Vec<FatEntry<'a>>> {
    let mut out = Vec::new();
    for e in dir.iter() {
        let e = e.map_err(|e| corrupt(path, e))?;
        let name = e.file_name();
        if name == "." || name == ".." {
            continue;
        }
        if out.len() >= MAX_DIR_ENTRIES {
            return Err(Error::Limit {
                what: format!("entries of {path}"),
                limit: MAX_DIR_ENTRIES as u64,
            });
        }
        out.push(e);
    }
    Ok(out)
}

/// Walk `path` from the root: every component but the last must be a directory.
fn lookup<'a>(fs: &'a Fat, path: &str) -> Result<Node<'a>> {
    let comps = components(path)?;
    let mut dir = fs.root_dir();
    let mut node = Node::Root;
    let mut prefix = String::new();
    for (i, c) in comps.iter().enumerate() {
        prefix.push('/');
        prefix.push_str(c);
        let mut found = None;
        for e in dir.iter() {
            let e = e.map_err(|e| corrupt(&prefix, e))?;
            if same_name(&e.file_name(), c) || same_name(&e.short_file_name(), c) {
                found = Some(e);
                break;
            }
        }
        let e = found.ok_or_else(|| Error::NotFound(path.to_string()))?;
        if i + 1 < comps.len() {
            if !e.is_dir() {
                return Err(Error::NotADirectory(prefix));
            }
            dir = e.to_dir();
        }
        node = Node::Entry(e);
    }
    Ok(node)
}

fn entry_type(e: &FatEntry<'_>) -> FileType {
    if e.is_dir() {
        FileType::Dir
    } else {
        FileType::File
    }
}

impl FileSystem for FatFs {
    fn probe(&self) -> &FsProbe {
        &self.probe
    }

    fn metadata(&self, path: &str) -> Result<Metadata> {
        let fs = mount(&self.dev, READ_BUDGET)?;
        Ok(match lookup(&fs, path)? {
            Node::Root => Metadata {
                file_type: FileType::Dir,
                size: 0,
            },
            Node::Entry(e) => Metadata {
                file_type: entry_type(&e),
                size: if e.is_dir() { 0 } else { e.len() },
            },
        })
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let fs = mount(&self.dev, READ_BUDGET)?;
        let dir = match lookup(&fs, path)? {
            Node::Root => fs.root_dir(),
            Node::Entry(e) if e.is_dir() => e.to_dir(),
            Node::Entry(_) => return Err(Error::NotADirectory(path.to_string())),
        };
        Ok(entries(&dir, path)?
            .iter()
            .map(|e| DirEntry {
                name: e.file_name(),
                file_type: entry_type(e),
            })
            .collect())
    }

    fn read_link(&self, path: &str) -> Result<String> {
        self.metadata(path)?;
        Err(Error::corrupt(
            "symlink",
            0,
            format!("{path}: not a symlink (FAT has none)"),
        ))
    }

    fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        let fs = mount(&self.dev, READ_BUDGET)?;
        let size = match lookup(&fs, path)? {
            Node::Entry(e) if !e.is_dir() => e.len(),
            _ => return Err(Error::NotAFile(path.to_string())),
        };
        Ok(Box::new(ChunkReader::new(FatChunks {
            fs: self,
            span: Span {
                structure: "FAT filesystem",
                path: path.to_string(),
                size,
                pos: 0,
                chunk: CHUNK,
            },
        })))
    }
}

/// Streams a file by re-opening the filesystem for each chunk.
struct FatChunks<'a> {
    fs: &'a FatFs,
    span: Span,
}

impl Chunks for FatChunks<'_> {
    fn next_chunk(&mut self, buf: &mut Vec<u8>, _hint: usize) -> Result<()> {
        let want = self.span.want();
        if want == 0 {
            return Ok(());
        }
        let path = &self.span.path;
        let fs = mount(&self.fs.dev, READ_BUDGET + want as u64)?;
        let Node::Entry(e) = lookup(&fs, path)? else {
            return Err(Error::NotAFile(path.clone()));
        };
        let mut f = e.to_file();
        f.seek(SeekFrom::Start(self.span.pos))
            .map_err(|e| corrupt(path, e))?;
        buf.resize(want, 0);
        let got = fill(buf, |b| f.read(b).map_err(|e| corrupt(path, e)))?;
        self.span.advance(got, want, "cluster chain")
    }
}
