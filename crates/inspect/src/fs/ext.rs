//! Read-only ext2/3/4 through the `ext4-view` crate (pinned `=1.0.0`).
//!
//! `ext4-view` reads ext2, ext3 and ext4 alike (it requires the `filetype`
//! feature, which mke2fs has set by default since 1.x, and refuses
//! `inline_data`, `meta_bg`, `largedir`, `ea_inode`, `mmp`, `casefold`,
//! compression and external journals with [`Error::Unsupported`]). It replays a
//! journal that needs recovery in memory.
//!
//! Three of those incompat features do not change how a reader finds a file's
//! bytes, so it is shown a superblock without them ([`READ_ONLY_SAFE_INCOMPAT`],
//! checksum recomputed): `mmp` (a block that guards against two writers),
//! `ea_inode` (large xattr values in their own inodes; xattrs are not read) and
//! `largedir` (htrees of three levels, which its lookup walks at any depth).
//! The device is never written; only `ext4-view`'s reads of the superblock see
//! the change.
//!
//! Its `Ext4` handle is `Rc`-based (neither `Send` nor `Sync`), while
//! [`FileSystem`] must be both; so each opened filesystem gets a worker thread
//! that owns an `Ext4` and runs the requests sent to it over a channel. Open
//! files (the streaming readers of [`FileSystem::open_file`]) live in the thread
//! that opened them, addressed by a handle. Callers that come while every worker
//! is busy get another one (its own `Ext4`, loaded through the same cached device),
//! up to [`MAX_WORKERS`], so concurrent lookups — the Linux inspection gathers its
//! facts in parallel — overlap their reads, which over a remote source are round
//! trips (issue 16). One caller at a time only ever uses the first worker. The
//! threads end when the filesystem and all its readers are dropped. Should `ext4-view` panic on damaged metadata, only that
//! thread dies and every call returns [`Error::Corrupt`] (fuzzing aborts on the
//! panic instead, so such bugs are still found).
//!
//! Contract details (see [`super`]): `ext4-view` follows symlinks in intermediate
//! path components itself, so every lookup first checks that the parent path is
//! symlink-free (one `canonicalize` of the parent; component by component only
//! when that differs); a symlink in the middle is [`Error::NotADirectory`].
//!
//! Bounds, checked before `ext4-view` sees the superblock (it allocates the block
//! group descriptor table by the superblock's counts): block size ≤ 64 KiB, the
//! filesystem fits in the device, at least 256 blocks per group (mke2fs's
//! minimum), at most [`MAX_GROUPS`] groups. Each request may read at most
//! [`READ_BUDGET`] bytes from the device (a loop in damaged metadata ends).

use super::chunks::{fill, ChunkReader, Chunks};
use super::{DirEntry, FileSystem, FileType, FsProbe, Metadata, MAX_DIR_ENTRIES};
use crate::{Error, Result};
use ext4_view::{Ext4, Ext4Error, Ext4Read};
use imgport_disk::ReadAt;
use std::cell::Cell;
use std::collections::HashMap;
use std::io::Read;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// Most block groups accepted (2^21 groups of 128 MiB = 256 TiB at 4 KiB blocks).
pub const MAX_GROUPS: u64 = 1 << 21;
/// Most bytes one request (a lookup, a listing, one chunk of a file) may fetch.
pub const READ_BUDGET: u64 = 512 << 20;
/// Bytes a streaming reader fetches from the worker at once.
const CHUNK: usize = 1 << 20;
/// Most worker threads (each with its own `Ext4`) serving one filesystem.
pub const MAX_WORKERS: usize = 8;
/// A filesystem with more block groups than this keeps one worker: each `Ext4`
/// holds the group descriptor table (up to 64 bytes a group: 1 MiB here).
const POOL_MAX_GROUPS: u64 = 1 << 14;

/// A request run in the worker thread.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The worker thread's state.
struct Worker {
    fs: Ext4,
    budget: Rc<Cell<u64>>,
    files: HashMap<u64, ext4_view::File>,
    next_handle: u64,
}

/// `ext4-view`'s view of the device: positioned reads with a per-request budget,
/// and the superblock as [`masked_superblock`] made it, if it did.
struct DevReader {
    dev: Arc<dyn ReadAt>,
    budget: Rc<Cell<u64>>,
    superblock: Option<Vec<u8>>,
}

/// Byte offset of the superblock in the filesystem.
const SUPERBLOCK_AT: u64 = 1024;
/// `s_feature_incompat`, `s_feature_ro_compat` and `s_checksum` in the superblock.
const S_FEATURE_INCOMPAT: usize = 0x60;
const S_FEATURE_RO_COMPAT: usize = 0x64;
const S_CHECKSUM: usize = 0x3fc;
/// `RO_COMPAT_METADATA_CSUM`.
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
/// Incompat features that do not change how files are read: `INCOMPAT_MMP`
/// (0x100), `INCOMPAT_EA_INODE` (0x400), `INCOMPAT_LARGEDIR` (0x4000).
pub const READ_ONLY_SAFE_INCOMPAT: u32 = 0x100 | 0x400 | 0x4000;

/// ext4's superblock checksum: crc32c (seed ~0, no final inversion) of the bytes
/// before `s_checksum`.
fn superblock_checksum(sb: &[u8]) -> u32 {
    const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    !CRC32C.checksum(&sb[..S_CHECKSUM])
}

/// `sb` without the [`READ_ONLY_SAFE_INCOMPAT`] features, or `None` when it has none
/// of them, or when its checksum does not verify as it is (then `ext4-view` reports
/// the damage itself).
fn masked_superblock(sb: &[u8]) -> Option<Vec<u8>> {
    let u32_at = |o: usize| u32::from_le_bytes([sb[o], sb[o + 1], sb[o + 2], sb[o + 3]]);
    let incompat = u32_at(S_FEATURE_INCOMPAT);
    if sb.len() != 1024 || incompat & READ_ONLY_SAFE_INCOMPAT == 0 {
        return None;
    }
    let csum = u32_at(S_FEATURE_RO_COMPAT) & RO_COMPAT_METADATA_CSUM != 0;
    if csum && superblock_checksum(sb) != u32_at(S_CHECKSUM) {
        return None;
    }
    let mut out = sb.to_vec();
    out[S_FEATURE_INCOMPAT..S_FEATURE_INCOMPAT + 4]
        .copy_from_slice(&(incompat & !READ_ONLY_SAFE_INCOMPAT).to_le_bytes());
    if csum {
        let c = superblock_checksum(&out);
        out[S_CHECKSUM..S_CHECKSUM + 4].copy_from_slice(&c.to_le_bytes());
    }
    Some(out)
}

impl Ext4Read for DevReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        let n = dst.len() as u64;
        let left = self.budget.get();
        if n > left {
            return Err(format!(
                "read budget of {READ_BUDGET} bytes per request exhausted at offset {start_byte}"
            )
            .into());
        }
        self.budget.set(left - n);
        self.dev.read_exact_at(dst, start_byte)?;
        if let Some(sb) = &self.superblock {
            // Overlay the part of [1024, 2048) that this read covers.
            let end = start_byte.saturating_add(n);
            let (lo, hi) = (
                start_byte.max(SUPERBLOCK_AT),
                end.min(SUPERBLOCK_AT + sb.len() as u64),
            );
            if lo < hi {
                dst[(lo - start_byte) as usize..(hi - start_byte) as usize].copy_from_slice(
                    &sb[(lo - SUPERBLOCK_AT) as usize..(hi - SUPERBLOCK_AT) as usize],
                );
            }
        }
        Ok(())
    }
}

/// An ext2/3/4 filesystem served by worker threads.
struct ExtFs {
    probe: FsProbe,
    pool: Pool,
}

/// One worker thread: where its jobs go, and how many callers are waiting on it.
struct Lane {
    jobs: Jobs,
    busy: AtomicUsize,
}

impl Lane {
    /// Run `f` in this worker and wait for its answer.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.busy.fetch_add(1, Ordering::SeqCst);
        let r = call(&self.jobs, f);
        self.busy.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

/// The workers of one filesystem, started as concurrent callers need them.
struct Pool {
    dev: Arc<dyn ReadAt>,
    superblock: Option<Vec<u8>>,
    max: usize,
    lanes: Mutex<Vec<Arc<Lane>>>,
}

impl Pool {
    /// An idle worker — the first idle one, so a lone caller always gets the first —
    /// a new one while fewer than `max` run, or else the least busy.
    fn lane(&self) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(idle) = lanes.iter().find(|l| l.busy.load(Ordering::SeqCst) == 0) {
            return Arc::clone(idle);
        }
        if lanes.len() < self.max {
            // A worker that cannot start (no thread) is no error: the others serve.
            if let Ok(jobs) = start_worker(Arc::clone(&self.dev), self.superblock.clone()) {
                let lane = Arc::new(Lane {
                    jobs,
                    busy: AtomicUsize::new(0),
                });
                lanes.push(Arc::clone(&lane));
                return lane;
            }
        }
        let least = lanes.iter().min_by_key(|l| l.busy.load(Ordering::SeqCst));
        // The pool always holds the first worker.
        Arc::clone(least.unwrap_or(&lanes[0]))
    }

    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.lane().call(f)
    }
}

fn stopped() -> Error {
    Error::corrupt(
        "ext filesystem",
        0,
        "the ext4-view worker stopped (it panicked on damaged metadata)",
    )
}

/// Run `f` in the worker and wait for its answer.
fn call<R: Send + 'static>(
    jobs: &Jobs,
    f: impl FnOnce(&mut Worker) -> Result<R> + Send + 'static,
) -> Result<R> {
    let (tx, rx) = mpsc::sync_channel(1);
    jobs.send(Box::new(move |w: &mut Worker| {
        w.budget.set(READ_BUDGET);
        let _ = tx.send(f(w));
    }))
    .map_err(|_| stopped())?;
    rx.recv().map_err(|_| stopped())?
}

/// Map an `ext4-view` error on `path` to ours.
fn map_err(e: Ext4Error, path: &str) -> Error {
    match e {
        Ext4Error::NotFound => Error::NotFound(path.to_string()),
        Ext4Error::NotADirectory => Error::NotADirectory(path.to_string()),
        Ext4Error::IsADirectory | Ext4Error::IsASpecialFile => Error::NotAFile(path.to_string()),
        Ext4Error::Incompatible(i) => Error::Unsupported(format!("ext filesystem: {i}")),
        Ext4Error::Encrypted => Error::Unsupported(format!("{path}: encrypted (fscrypt) file")),
        Ext4Error::Io(io) => Error::corrupt("ext filesystem", 0, format!("{path}: {io}")),
        other => Error::corrupt("ext filesystem", 0, format!("{path}: {other}")),
    }
}

/// Check the superblock fields that size `ext4-view`'s allocations and loops; the
/// superblock to show it instead, if masked, and the number of block groups.
fn check_superblock(dev: &dyn ReadAt) -> Result<(Option<Vec<u8>>, u64)> {
    let at = 1024u64;
    if dev.size() < 2048 {
        return Err(Error::corrupt("ext superblock", at, "device too small"));
    }
    let mut sb = vec![0u8; 1024];
    dev.read_exact_at(&mut sb, at)?;
    let u32_at = |o: usize| {
        sb.get(o..o + 4)
            .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let bad = |d: String| Err(Error::corrupt("ext superblock", at, d));
    if sb.get(0x38..0x3a) != Some(&[0x53, 0xef]) {
        return bad("no ext magic 0xEF53".into());
    }
    let log = u32_at(0x18);
    if log > 6 {
        return bad(format!("block size 2^{} is over 64 KiB", log + 10));
    }
    let block = 1024u64 << log;
    let blocks = (u64::from(u32_at(0x150)) << 32) | u64::from(u32_at(0x4));
    match blocks.checked_mul(block) {
        Some(bytes) if bytes <= dev.size() => {}
        _ => {
            return bad(format!(
                "{blocks} blocks of {block} bytes do not fit in the {}-byte device",
                dev.size()
            ))
        }
    }
    let per_group = u64::from(u32_at(0x20));
    if per_group < 256 {
        return bad(format!(
            "{per_group} blocks per group (mke2fs's minimum is 256)"
        ));
    }
    let groups = blocks.div_ceil(per_group);
    if groups > MAX_GROUPS {
        return bad(format!("{groups} block groups (limit {MAX_GROUPS})"));
    }
    Ok((masked_superblock(&sb), groups))
}

/// Open `dev` as ext2/3/4.
pub fn open(dev: Arc<dyn ReadAt>, probe: FsProbe) -> Result<Arc<dyn FileSystem>> {
    let (superblock, groups) = check_superblock(&*dev)?;
    let first = start_worker(Arc::clone(&dev), superblock.clone())?;
    let pool = Pool {
        dev,
        superblock,
        max: if groups <= POOL_MAX_GROUPS {
            MAX_WORKERS
        } else {
            1
        },
        lanes: Mutex::new(vec![Arc::new(Lane {
            jobs: first,
            busy: AtomicUsize::new(0),
        })]),
    };
    Ok(Arc::new(ExtFs { probe, pool }))
}

/// Where a worker's jobs go: its thread's channel.
#[cfg(not(target_family = "wasm"))]
type Jobs = mpsc::Sender<Job>;

/// `ext4-view`'s reader of `dev` with a fresh per-request budget.
fn dev_reader(dev: Arc<dyn ReadAt>, superblock: Option<Vec<u8>>) -> (DevReader, Rc<Cell<u64>>) {
    let budget = Rc::new(Cell::new(READ_BUDGET));
    let reader = DevReader {
        dev,
        budget: Rc::clone(&budget),
        superblock,
    };
    (reader, budget)
}

/// A worker thread with its own `Ext4` over `dev`, once it has loaded.
#[cfg(not(target_family = "wasm"))]
fn start_worker(dev: Arc<dyn ReadAt>, superblock: Option<Vec<u8>>) -> Result<Jobs> {
    let (jobs, inbox) = mpsc::channel::<Job>();
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
    std::thread::Builder::new()
        .name("imgport-ext4".into())
        .spawn(move || {
            let (reader, budget) = dev_reader(dev, superblock);
            let fs = match Ext4::load(Box::new(reader)) {
                Ok(fs) => fs,
                Err(e) => {
                    let _ = ready_tx.send(Err(map_err(e, "/")));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let mut w = Worker {
                fs,
                budget,
                files: HashMap::new(),
                next_handle: 0,
            };
            while let Ok(job) = inbox.recv() {
                job(&mut w);
            }
        })
        .map_err(|e| Error::Unsupported(format!("cannot start the ext reader thread: {e}")))?;
    ready_rx.recv().map_err(|_| stopped())??;
    Ok(jobs)
}

/// Without threads (wasm32, the in-browser check) a worker is a value of this thread,
/// kept in [`LOCAL_WORKERS`] under its key, and a job runs when it is sent.
#[cfg(target_family = "wasm")]
struct Jobs(u64);

#[cfg(target_family = "wasm")]
thread_local! {
    static LOCAL_WORKERS: std::cell::RefCell<(u64, HashMap<u64, Worker>)> =
        std::cell::RefCell::new((0, HashMap::new()));
}

#[cfg(target_family = "wasm")]
impl Jobs {
    /// Run `job` with the worker (taken out while it runs: a job may read the device,
    /// which may be another filesystem's file).
    fn send(&self, job: Job) -> std::result::Result<(), ()> {
        let mut w = LOCAL_WORKERS
            .with(|m| m.borrow_mut().1.remove(&self.0))
            .ok_or(())?;
        job(&mut w);
        LOCAL_WORKERS.with(|m| m.borrow_mut().1.insert(self.0, w));
        Ok(())
    }
}

#[cfg(target_family = "wasm")]
impl Drop for Jobs {
    fn drop(&mut self) {
        LOCAL_WORKERS.with(|m| m.borrow_mut().1.remove(&self.0));
    }
}

/// A worker of this thread with its own `Ext4` over `dev`, once it has loaded.
#[cfg(target_family = "wasm")]
fn start_worker(dev: Arc<dyn ReadAt>, superblock: Option<Vec<u8>>) -> Result<Jobs> {
    let (reader, budget) = dev_reader(dev, superblock);
    let fs = Ext4::load(Box::new(reader)).map_err(|e| map_err(e, "/"))?;
    let w = Worker {
        fs,
        budget,
        files: HashMap::new(),
        next_handle: 0,
    };
    Ok(LOCAL_WORKERS.with(|m| {
        let mut m = m.borrow_mut();
        m.0 += 1;
        let key = m.0;
        m.1.insert(key, w);
        Jobs(key)
    }))
}

/// `/a//b/./c` → `["a", "b", "c"]`; `..` is refused (paths are resolved by the caller).
fn components(path: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            return Err(Error::NotFound(path.to_string()));
        }
        out.push(c.to_string());
    }
    Ok(out)
}

fn join(comps: &[String]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(c);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

fn file_type(t: ext4_view::FileType) -> FileType {
    if t.is_regular_file() {
        FileType::File
    } else if t.is_dir() {
        FileType::Dir
    } else if t.is_symlink() {
        FileType::Symlink
    } else {
        FileType::Other
    }
}

impl Worker {
    /// The normalised path after checking that none of its ancestors is a symlink
    /// or a non-directory (literal lookup).
    fn literal(&self, path: &str) -> Result<String> {
        let comps = components(path)?;
        let full = join(&comps);
        if comps.len() < 2 {
            return Ok(full);
        }
        let parent = join(&comps[..comps.len() - 1]);
        if let Ok(canon) = self.fs.canonicalize(parent.as_str()) {
            if canon.as_ref() == parent.as_bytes() {
                return Ok(full);
            }
        }
        for i in 1..comps.len() {
            let prefix = join(&comps[..i]);
            let md = self
                .fs
                .symlink_metadata(prefix.as_str())
                .map_err(|e| match e {
                    Ext4Error::NotFound => Error::NotFound(full.clone()),
                    e => map_err(e, &prefix),
                })?;
            if !md.is_dir() {
                return Err(Error::NotADirectory(prefix));
            }
        }
        Ok(full)
    }

    fn lstat(&self, path: &str) -> Result<(String, ext4_view::Metadata)> {
        let p = self.literal(path)?;
        let md = self
            .fs
            .symlink_metadata(p.as_str())
            .map_err(|e| map_err(e, &p))?;
        Ok((p, md))
    }
}

impl FileSystem for ExtFs {
    fn probe(&self) -> &FsProbe {
        &self.probe
    }

    fn metadata(&self, path: &str) -> Result<Metadata> {
        let path = path.to_string();
        self.pool.call(move |w| {
            let (_, md) = w.lstat(&path)?;
            Ok(Metadata {
                file_type: file_type(md.file_type()),
                size: md.len(),
            })
        })
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let path = path.to_string();
        self.pool.call(move |w| {
            let (p, md) = w.lstat(&path)?;
            if !md.is_dir() {
                return Err(Error::NotADirectory(p));
            }
            let mut out = Vec::new();
            for e in w.fs.read_dir(p.as_str()).map_err(|e| map_err(e, &p))? {
                let e = e.map_err(|e| map_err(e, &p))?;
                let name = e.file_name();
                let name = name.as_ref();
                if name == b"." || name == b".." {
                    continue;
                }
                if out.len() >= MAX_DIR_ENTRIES {
                    return Err(Error::Limit {
                        what: format!("entries of {p}"),
                        limit: MAX_DIR_ENTRIES as u64,
                    });
                }
                let ty = e.file_type().map_err(|e| map_err(e, &p))?;
                out.push(DirEntry {
                    name: String::from_utf8_lossy(name).into_owned(),
                    file_type: file_type(ty),
                });
            }
            Ok(out)
        })
    }

    fn read_link(&self, path: &str) -> Result<String> {
        let path = path.to_string();
        self.pool.call(move |w| {
            let (p, md) = w.lstat(&path)?;
            if !md.is_symlink() {
                return Err(Error::corrupt("symlink", 0, format!("{p}: not a symlink")));
            }
            let target = w.fs.read_link(p.as_str()).map_err(|e| map_err(e, &p))?;
            Ok(String::from_utf8_lossy(target.as_ref()).into_owned())
        })
    }

    fn open_file(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        let path = path.to_string();
        // The file stays in the worker that opened it.
        let lane = self.pool.lane();
        let handle = lane.call(move |w| {
            let (p, md) = w.lstat(&path)?;
            if !md.file_type().is_regular_file() {
                return Err(Error::NotAFile(p));
            }
            let file = w.fs.open(p.as_str()).map_err(|e| map_err(e, &p))?;
            let h = w.next_handle;
            w.next_handle += 1;
            w.files.insert(h, file);
            Ok((h, p))
        })?;
        Ok(Box::new(ChunkReader::new(ExtChunks {
            lane,
            handle: handle.0,
            path: handle.1,
        })))
    }
}

/// A file held open in the worker, read a chunk per call.
struct ExtChunks {
    lane: Arc<Lane>,
    handle: u64,
    path: String,
}

impl Chunks for ExtChunks {
    fn next_chunk(&mut self, buf: &mut Vec<u8>, hint: usize) -> Result<()> {
        let (h, path) = (self.handle, self.path.clone());
        let want = hint.clamp(64 << 10, CHUNK);
        *buf = self.lane.call(move |w| {
            let f = w
                .files
                .get_mut(&h)
                .ok_or_else(|| Error::corrupt("ext filesystem", 0, "file handle gone"))?;
            let mut data = vec![0u8; want];
            let got = fill(&mut data, |b| {
                f.read_bytes(b).map_err(|e| map_err(e, &path))
            })?;
            data.truncate(got);
            Ok(data)
        })?;
        Ok(())
    }
}

impl Drop for ExtChunks {
    fn drop(&mut self) {
        let h = self.handle;
        let _ = self.lane.jobs.send(Box::new(move |w: &mut Worker| {
            w.files.remove(&h);
        }));
    }
}
