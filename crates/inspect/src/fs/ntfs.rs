//! Read-only NTFS through the `ntfs` crate (pinned `=0.4.0`).
//!
//! - Lookups are case-insensitive with Windows semantics: each component is found
//!   in the parent's `$I30` index B-tree with the volume's `$UpCase` table.
//! - Files are the unnamed `$DATA` stream (resident or non-resident, sparse runs
//!   read as zeros, attribute lists followed by the crate). Compressed and
//!   encrypted streams are refused ([`Error::Unsupported`]); WOF-compressed files
//!   (CompactOS) read as their (empty or sparse) unnamed stream.
//! - Listings come from the `$I30` index: DOS 8.3 duplicates and the metafiles
//!   (`$MFT` … record numbers below 16) are left out.
//! - Links: a reparse point tagged `IO_REPARSE_TAG_SYMLINK` or
//!   `IO_REPARSE_TAG_MOUNT_POINT` (junction), and an Interix symlink (what ntfs-3g
//!   creates: a SYSTEM file whose data is `IntxLNK\1` + UTF-16 target) are
//!   [`FileType::Symlink`]. [`FileSystem::read_link`] returns Interix targets and
//!   relative Windows symlinks (`\` turned into `/`); absolute Windows targets
//!   (`C:\…`) are [`Error::Unsupported`]. A link in an intermediate path component
//!   is [`Error::NotADirectory`] (literal lookups). Other reparse tags (dedup,
//!   WOF, cloud files) are treated as the plain file or directory they are.
//!
//! The `ntfs` crate reads through `Read + Seek`: every request gets a fresh *soft*
//! [`ReadAtCursor`] with a read budget of [`READ_BUDGET`] bytes (plus the file
//! data it returns), which also ends loops on damaged, cyclic index B-trees. Soft,
//! because `ntfs` 0.4.0 panics (`unreachable!` in `From<binrw::Error>`) when a read
//! error surfaces inside a `binrw`-derived structure: the cursor hands out zeros
//! instead and every request checks [`ReadAtCursor::failure`] afterwards. The boot
//! sector is parsed from an in-memory copy for the same reason. A
//! streaming reader re-opens the file record for each [`CHUNK`] (the multi-MB
//! registry hives are read in 4 MiB steps).

use super::chunks::{fill, ChunkReader, Chunks, Span};
use super::io_adapter::ReadAtCursor;
use super::{DirEntry, FileSystem, FileType, FsProbe, Metadata, MAX_DIR_ENTRIES};
use crate::{Error, Result};
use imgport_disk::ReadAt;
use ntfs::indexes::NtfsFileNameIndex;
use ntfs::structured_values::{NtfsFileAttributeFlags, NtfsFileNamespace};
use ntfs::{Ntfs, NtfsAttributeFlags, NtfsAttributeType, NtfsError, NtfsFile, NtfsReadSeek};
use std::io::{Read, SeekFrom};
use std::sync::Arc;

/// Most bytes one request may read (besides the file data it returns).
pub const READ_BUDGET: u64 = 256 << 20;
/// Bytes a streaming reader reads per re-open.
const CHUNK: usize = 4 << 20;
/// First MFT record number of an ordinary file (0–15 are metafiles).
const FIRST_USER_RECORD: u64 = 16;
/// Largest reparse point or Interix symlink read.
const MAX_LINK_DATA: u64 = 16 * 1024;
const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
const IO_REPARSE_TAG_MOUNT_POINT: u32 = 0xA000_0003;
const INTERIX_SYMLINK: &[u8] = b"IntxLNK\x01";
/// Bytes of the boot sector `Ntfs::new` parses.
const BOOT_SECTOR: u64 = 512;

/// An NTFS volume.
struct NtfsFs {
    probe: FsProbe,
    dev: Arc<dyn ReadAt>,
    ntfs: Ntfs,
}

fn corrupt(path: &str, e: impl std::fmt::Display) -> Error {
    Error::corrupt("NTFS filesystem", 0, format!("{path}: {e}"))
}

/// Open `dev` as NTFS: boot sector, `$UpCase`, root directory.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    if dev.size() < BOOT_SECTOR {
        return Err(Error::corrupt("NTFS boot sector", 0, "device too small"));
    }
    let mut boot = vec![0u8; BOOT_SECTOR as usize];
    dev.read_exact_at(&mut boot, 0)?;
    let mut ntfs = Ntfs::new(&mut std::io::Cursor::new(boot))
        .map_err(|e| Error::corrupt("NTFS boot sector", 0, e.to_string()))?;
    let mut c = ReadAtCursor::soft(Arc::clone(&dev), READ_BUDGET);
    let r = ntfs.read_upcase_table(&mut c);
    if let Some(f) = c.failure() {
        return Err(corrupt("$UpCase", f));
    }
    r.map_err(|e| corrupt("$UpCase", e))?;
    let fs = NtfsFs { probe, dev, ntfs };
    fs.with_cursor(0, "/", |c| {
        let root = fs.ntfs.root_directory(c).map_err(|e| corrupt("/", e))?;
        if root.is_directory() {
            Ok(())
        } else {
            Err(corrupt("/", "the root record is not a directory"))
        }
    })?;
    Ok(Arc::new(fs))
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

/// A link found on a file.
enum Link {
    /// A Windows reparse point (symlink or junction): its reparse data.
    Reparse(Vec<u8>),
    /// An Interix symlink: its target.
    Interix(String),
}

fn utf16le(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

impl Link {
    /// The target as [`FileSystem::read_link`] returns it, or why not.
    fn target(&self, path: &str) -> Result<String> {
        match self {
            Link::Interix(t) => Ok(t.clone()),
            Link::Reparse(d) => {
                let le16 = |o: usize| {
                    d.get(o..o + 2)
                        .map_or(0, |s| usize::from(u16::from_le_bytes([s[0], s[1]])))
                };
                let tag = d
                    .get(..4)
                    .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
                // REPARSE_DATA_BUFFER: tag, length, reserved, then the names' offsets.
                let (buffer, relative) = if tag == IO_REPARSE_TAG_SYMLINK {
                    let flags = d.get(16..20).map_or(0, |s| s[0] & 1);
                    (20, flags == 1)
                } else {
                    (16, false)
                };
                let (off, len) = (le16(12), le16(14)); // print name
                let print = d
                    .get(buffer + off..buffer + off + len)
                    .map(utf16le)
                    .ok_or_else(|| corrupt(path, "reparse point name outside its data"))?;
                if relative {
                    Ok(print.replace('\\', "/"))
                } else {
                    Err(Error::Unsupported(format!(
                        "{path}: Windows link to absolute path {print:?}"
                    )))
                }
            }
        }
    }
}

impl NtfsFs {
    /// Run `f` with a fresh soft cursor; a read failure the cursor papered over
    /// turns the answer into an error.
    fn with_cursor<R>(
        &self,
        extra: u64,
        path: &str,
        f: impl FnOnce(&mut ReadAtCursor) -> Result<R>,
    ) -> Result<R> {
        let mut c = ReadAtCursor::soft(Arc::clone(&self.dev), READ_BUDGET.saturating_add(extra));
        let r = f(&mut c);
        match c.failure() {
            Some(fail) => Err(corrupt(path, fail)),
            None => r,
        }
    }

    /// Walk `path` from the root. Every component but the last must be a
    /// directory that is not a link.
    fn lookup(&self, c: &mut ReadAtCursor, path: &str) -> Result<NtfsFile<'_>> {
        let comps = components(path)?;
        let mut file = self.ntfs.root_directory(c).map_err(|e| corrupt("/", e))?;
        let mut prefix = String::new();
        for name in comps {
            if !file.is_directory() || (!prefix.is_empty() && link(&file, c, &prefix)?.is_some()) {
                return Err(Error::NotADirectory(prefix));
            }
            prefix.push('/');
            prefix.push_str(name);
            let next = {
                let index = file.directory_index(c).map_err(|e| corrupt(&prefix, e))?;
                let mut finder = index.finder();
                let entry = NtfsFileNameIndex::find(&mut finder, &self.ntfs, c, name)
                    .ok_or_else(|| Error::NotFound(path.to_string()))?
                    .map_err(|e| corrupt(&prefix, e))?;
                entry
                    .to_file(&self.ntfs, c)
                    .map_err(|e| corrupt(&prefix, e))?
            };
            file = next;
        }
        Ok(file)
    }

    /// lstat-like facts of `file`.
    fn stat(&self, file: &NtfsFile<'_>, c: &mut ReadAtCursor, path: &str) -> Result<Metadata> {
        if let Some(l) = link(file, c, path)? {
            let size = l.target(path).map_or(0, |t| t.len() as u64);
            return Ok(Metadata {
                file_type: FileType::Symlink,
                size,
            });
        }
        if file.is_directory() {
            return Ok(Metadata {
                file_type: FileType::Dir,
                size: 0,
            });
        }
        let size = match file.data(c, "") {
            None => 0,
            Some(item) => {
                let item = item.map_err(|e| corrupt(path, e))?;
                let attr = item.to_attribute().map_err(|e| corrupt(path, e))?;
                attr.value_length()
            }
        };
        Ok(Metadata {
            file_type: FileType::File,
            size,
        })
    }
}

/// Whether `file` is a link we recognise (see the module doc).
fn link(file: &NtfsFile<'_>, c: &mut ReadAtCursor, path: &str) -> Result<Option<Link>> {
    let attrs = file.info().map_err(|e| corrupt(path, e))?.file_attributes();
    if attrs.contains(NtfsFileAttributeFlags::REPARSE_POINT) {
        let mut it = file.attributes();
        while let Some(item) = it.next(c) {
            let item = item.map_err(|e| corrupt(path, e))?;
            let attr = item.to_attribute().map_err(|e| corrupt(path, e))?;
            if !matches!(attr.ty(), Ok(NtfsAttributeType::ReparsePoint)) {
                continue;
            }
            let data = read_value(attr, c, path, MAX_LINK_DATA)?;
            let tag = data
                .get(..4)
                .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
            return Ok(
                (tag == IO_REPARSE_TAG_SYMLINK || tag == IO_REPARSE_TAG_MOUNT_POINT)
                    .then_some(Link::Reparse(data)),
            );
        }
        return Ok(None);
    }
    if attrs.contains(NtfsFileAttributeFlags::SYSTEM) && !file.is_directory() {
        let Some(item) = file.data(c, "") else {
            return Ok(None);
        };
        let item = item.map_err(|e| corrupt(path, e))?;
        let attr = item.to_attribute().map_err(|e| corrupt(path, e))?;
        let len = attr.value_length();
        if len < INTERIX_SYMLINK.len() as u64 + 2 || len > MAX_LINK_DATA {
            return Ok(None);
        }
        let data = read_value(attr, c, path, MAX_LINK_DATA)?;
        if let Some(t) = data.strip_prefix(INTERIX_SYMLINK) {
            return Ok(Some(Link::Interix(utf16le(t))));
        }
    }
    Ok(None)
}

/// The whole value of `attr`, at most `max` bytes.
fn read_value(
    attr: ntfs::NtfsAttribute<'_, '_>,
    c: &mut ReadAtCursor,
    path: &str,
    max: u64,
) -> Result<Vec<u8>> {
    let len = attr.value_length();
    if len > max {
        return Err(Error::Limit {
            what: format!("{path}: attribute of {len} bytes"),
            limit: max,
        });
    }
    let mut v = attr.value(c).map_err(|e| corrupt(path, e))?;
    let mut out = vec![0u8; len as usize];
    v.read_exact(c, &mut out).map_err(|e| corrupt(path, e))?;
    Ok(out)
}

impl FileSystem for NtfsFs {
    fn probe(&self) -> &FsProbe {
        &self.probe
    }

    fn metadata(&self, path: &str) -> Result<Metadata> {
        self.with_cursor(0, path, |c| {
            let file = self.lookup(c, path)?;
            self.stat(&file, c, path)
        })
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        self.with_cursor(0, path, |c| self.list(c, path))
    }

    fn read_link(&self, path: &str) -> Result<String> {
        self.with_cursor(0, path, |c| {
            let file = self.lookup(c, path)?;
            match link(&file, c, path)? {
                Some(l) => l.target(path),
                None => Err(Error::corrupt(
                    "symlink",
                    0,
                    format!("{path}: not a symlink"),
                )),
            }
        })
    }

    fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        let (record, size) = self.with_cursor(0, path, |c| self.open_data(c, path))?;
        Ok(Box::new(ChunkReader::new(NtfsChunks {
            fs: self,
            record,
            span: Span {
                structure: "NTFS filesystem",
                path: path.to_string(),
                size,
                pos: 0,
                chunk: CHUNK,
            },
        })))
    }
}

impl NtfsFs {
    /// The entries of directory `path`.
    fn list(&self, c: &mut ReadAtCursor, path: &str) -> Result<Vec<DirEntry>> {
        let file = self.lookup(c, path)?;
        if !file.is_directory() || link(&file, c, path)?.is_some() {
            return Err(Error::NotADirectory(path.to_string()));
        }
        let index = file.directory_index(c).map_err(|e| corrupt(path, e))?;
        let mut entries = index.entries();
        let mut out = Vec::new();
        while let Some(e) = entries.next(c) {
            let e = e.map_err(|e| corrupt(path, e))?;
            let Some(key) = e.key() else { continue };
            let name = key.map_err(|e| corrupt(path, e))?;
            if name.namespace() == NtfsFileNamespace::Dos
                || e.file_reference().file_record_number() < FIRST_USER_RECORD
            {
                continue;
            }
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(Error::Limit {
                    what: format!("entries of {path}"),
                    limit: MAX_DIR_ENTRIES as u64,
                });
            }
            let flags = name.file_attributes();
            let file_type = if flags.contains(NtfsFileAttributeFlags::REPARSE_POINT)
                || (flags.contains(NtfsFileAttributeFlags::SYSTEM) && !name.is_directory())
            {
                // Possibly a link: ask the file record.
                let f = e.to_file(&self.ntfs, c).map_err(|e| corrupt(path, e))?;
                if link(&f, c, path)?.is_some() {
                    FileType::Symlink
                } else if f.is_directory() {
                    FileType::Dir
                } else {
                    FileType::File
                }
            } else if name.is_directory() {
                FileType::Dir
            } else {
                FileType::File
            };
            out.push(DirEntry {
                name: name.name().to_string_lossy(),
                file_type,
            });
        }
        Ok(out)
    }

    /// Record number and size of regular file `path`, refusing compressed and
    /// encrypted data.
    fn open_data(&self, c: &mut ReadAtCursor, path: &str) -> Result<(u64, u64)> {
        let file = self.lookup(c, path)?;
        let md = self.stat(&file, c, path)?;
        if md.file_type != FileType::File {
            return Err(Error::NotAFile(path.to_string()));
        }
        if let Some(item) = file.data(c, "") {
            let item = item.map_err(|e| corrupt(path, e))?;
            let attr = item.to_attribute().map_err(|e| corrupt(path, e))?;
            let flags = attr.flags();
            if flags.intersects(NtfsAttributeFlags::COMPRESSED | NtfsAttributeFlags::ENCRYPTED) {
                return Err(Error::Unsupported(format!(
                    "{path}: NTFS compressed or encrypted data ({flags:?})"
                )));
            }
        }
        Ok((file.file_record_number(), md.size))
    }
}

/// Streams a file's unnamed `$DATA`, re-opening its record for each chunk.
struct NtfsChunks<'a> {
    fs: &'a NtfsFs,
    record: u64,
    span: Span,
}

impl Chunks for NtfsChunks<'_> {
    fn next_chunk(&mut self, buf: &mut Vec<u8>, _hint: usize) -> Result<()> {
        let want = self.span.want();
        if want == 0 {
            return Ok(());
        }
        let (fs, record, pos, path) = (self.fs, self.record, self.span.pos, &self.span.path);
        buf.resize(want, 0);
        let got = fs.with_cursor(want as u64, path, |c| {
            read_chunk(fs, c, record, pos, buf, path)
        })?;
        self.span.advance(got, want, "data")
    }
}

/// Fill `buf` from byte `pos` of record `record`'s unnamed `$DATA`; the bytes read.
fn read_chunk(
    fs: &NtfsFs,
    c: &mut ReadAtCursor,
    record: u64,
    pos: u64,
    buf: &mut [u8],
    path: &str,
) -> Result<usize> {
    {
        let file = fs.ntfs.file(c, record).map_err(|e| corrupt(path, e))?;
        let item = file
            .data(c, "")
            .ok_or_else(|| corrupt(path, "the $DATA stream went away"))?
            .map_err(|e| corrupt(path, e))?;
        let attr = item.to_attribute().map_err(|e| corrupt(path, e))?;
        let mut v = attr.value(c).map_err(|e| corrupt(path, e))?;
        v.seek(c, SeekFrom::Start(pos))
            .map_err(|e| corrupt(path, e))?;
        fill(buf, |b| {
            v.read(c, b).map_err(|e: NtfsError| corrupt(path, e))
        })
    }
}
