//! A block cache in front of any [`ReadAt`]: aligned blocks, least-recently-used
//! eviction under a byte bound, safe to share between threads.
//!
//! Remote sources pay a round trip per read; format readers read small headers and
//! tables many times. The cache turns those into a few aligned range requests (DESIGN:
//! "HTTP range + block cache"), and coalesces a read that spans several missing blocks
//! into one inner read.
//!
//! Hand-written (a map plus a use-ordered tree, ~60 lines) rather than a crate: the
//! byte bound, the read coalescing and the statistics are the point of this type, and
//! general LRU crates count entries, not bytes.

use super::{check_bounds, HostExtent, ReadAt};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Default block size: 64 KiB (qemu's qcow2 cluster). Sequential reads coalesce into
/// one inner read whatever the block size, so small blocks cost extra requests only
/// where small reads fall close together; with 256 KiB blocks every scattered metadata
/// read of a check (XFS inodes, LVM metadata, directory blocks) fetched 256 KiB.
pub const DEFAULT_BLOCK_SIZE: u64 = 64 * 1024;
/// Default cache bound: 64 MiB of block data.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Default bound on one coalesced inner read: 16 MiB.
pub const DEFAULT_MAX_FETCH: u64 = 16 * 1024 * 1024;
/// Default bound on the readahead window of a sequential stream: 4 MiB.
pub const DEFAULT_READAHEAD: u64 = 4 * 1024 * 1024;
/// Inner reads a [`ReadAt::prefetch`] runs at once (the connections it may open).
pub const PREFETCH_PARALLELISM: usize = 8;
/// Missing blocks at most this many blocks apart are fetched with the blocks between
/// them by a prefetch (one request instead of two); 0: adjacent blocks only, so a
/// prefetch never fetches a byte that was not asked for.
const PREFETCH_GAP_BLOCKS: u64 = 0;

/// How a [`BlockCache`] reads and keeps blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCacheOptions {
    /// Size of an aligned block (the unit of inner reads and of caching); at least 512.
    pub block_size: u64,
    /// Bound on the bytes of block data kept (least recently used evicted first).
    pub capacity: u64,
    /// Bound on one coalesced inner read (a run of missing blocks is split into
    /// reads of at most this many bytes, rounded down to whole blocks, at least one).
    pub max_fetch: u64,
    /// Reads of at least this many bytes go straight to the inner source and are not
    /// cached (streamed file data would only evict the metadata worth keeping);
    /// `u64::MAX`: every read is cached.
    pub bypass_len: u64,
    /// Bound on readahead (issue 16): while the misses stay sequential (each starts at
    /// the block after the previous inner read), each inner read fetches that many more
    /// blocks past the read, doubling from one block (at the second sequential miss) up
    /// to this many bytes (and at most a quarter of `capacity`); 0: none. A stream of N bytes then costs about
    /// log2(window) + N / window round trips instead of N / block_size.
    pub readahead: u64,
}

impl Default for BlockCacheOptions {
    fn default() -> Self {
        BlockCacheOptions {
            block_size: DEFAULT_BLOCK_SIZE,
            capacity: DEFAULT_CACHE_BYTES,
            max_fetch: DEFAULT_MAX_FETCH,
            bypass_len: u64::MAX,
            readahead: 0,
        }
    }
}

impl BlockCacheOptions {
    /// The options for a remote source, where each inner read is a round trip:
    /// the defaults with a [`DEFAULT_READAHEAD`] window.
    pub fn remote() -> Self {
        BlockCacheOptions {
            readahead: DEFAULT_READAHEAD,
            ..Self::default()
        }
    }
}

/// Cached blocks by index, and the same indices ordered by last use.
#[derive(Default)]
struct Lru {
    blocks: HashMap<u64, (Arc<[u8]>, u64)>,
    by_use: BTreeMap<u64, u64>,
    bytes: u64,
    clock: u64,
}

impl Lru {
    fn get(&mut self, index: u64) -> Option<Arc<[u8]>> {
        let (data, used) = self.blocks.get_mut(&index)?;
        self.by_use.remove(used);
        self.clock += 1;
        *used = self.clock;
        self.by_use.insert(self.clock, index);
        Some(data.clone())
    }

    fn contains(&self, index: u64) -> bool {
        self.blocks.contains_key(&index)
    }

    fn remove(&mut self, index: u64) {
        if let Some((data, used)) = self.blocks.remove(&index) {
            self.by_use.remove(&used);
            self.bytes -= data.len() as u64;
        }
    }

    fn put(&mut self, index: u64, data: Arc<[u8]>, capacity: u64) {
        let len = data.len() as u64;
        if len > capacity {
            return;
        }
        self.remove(index);
        // Bounded: each step removes one cached block.
        while self.bytes + len > capacity {
            match self.by_use.pop_first() {
                Some((_, oldest)) => self.remove(oldest),
                None => break,
            }
        }
        self.clock += 1;
        self.by_use.insert(self.clock, index);
        self.blocks.insert(index, (data, self.clock));
        self.bytes += len;
    }
}

/// The cached blocks and the blocks some thread is fetching right now.
#[derive(Default)]
struct State {
    lru: Lru,
    in_flight: HashSet<u64>,
    /// The sequential streams being followed, at most [`STREAMS`].
    streams: Vec<Stream>,
    /// Counts inner reads, to find the stream used least recently.
    tick: u64,
}

/// Sequential streams followed at once: concurrent readers (the Linux inspection
/// gathers its facts in parallel) each keep their own readahead instead of breaking
/// each other's.
const STREAMS: usize = 16;

/// One sequential stream: the block after its last inner read, and how many inner
/// reads in a row started where the previous one ended.
#[derive(Clone, Copy)]
struct Stream {
    next: u64,
    streak: u32,
    used: u64,
}

impl State {
    /// Record `stream` in `slot` (the stream it continues), or in a free slot, or in
    /// place of the stream used least recently.
    fn follow(&mut self, slot: Option<usize>, stream: Stream) {
        let slot = slot.or_else(|| {
            (self.streams.len() >= STREAMS).then(|| {
                let oldest = self.streams.iter().enumerate().min_by_key(|(_, s)| s.used);
                oldest.map_or(0, |(i, _)| i)
            })
        });
        match slot.and_then(|i| self.streams.get_mut(i)) {
            Some(s) => *s = stream,
            None => self.streams.push(stream),
        }
    }
}

/// A [`ReadAt`] that reads `inner` in aligned blocks and keeps recently used blocks.
///
/// [`ReadAt::bytes_read`] reports the inner source's count, i.e. the bytes actually
/// fetched from the medium. A thread that needs a block another thread is fetching
/// waits for it instead of fetching it again.
pub struct BlockCache<S> {
    inner: S,
    block_size: u64,
    capacity: u64,
    max_fetch_blocks: u64,
    bypass_len: u64,
    readahead_blocks: u64,
    state: Mutex<State>,
    fetched: Condvar,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Clears a run's in-flight marks and wakes waiters, also when the fetch fails.
struct InFlight<'a, S> {
    cache: &'a BlockCache<S>,
    first: u64,
    last: u64,
}

impl<S> Drop for InFlight<'_, S> {
    fn drop(&mut self) {
        let mut st = self.cache.state.lock().unwrap_or_else(|e| e.into_inner());
        for b in self.first..=self.last {
            st.in_flight.remove(&b);
        }
        drop(st);
        self.cache.fetched.notify_all();
    }
}

impl<S: ReadAt> BlockCache<S> {
    /// A cache with the default options (64 KiB blocks, 64 MiB).
    pub fn new(inner: S) -> Self {
        Self::with_options(inner, BlockCacheOptions::default())
    }

    /// A cache with explicit options (block size raised to at least 512 bytes).
    pub fn with_options(inner: S, opts: BlockCacheOptions) -> Self {
        let block_size = opts.block_size.max(512);
        BlockCache {
            inner,
            block_size,
            capacity: opts.capacity,
            max_fetch_blocks: (opts.max_fetch / block_size).max(1),
            bypass_len: opts.bypass_len,
            readahead_blocks: opts.readahead.min(opts.capacity / 4) / block_size,
            state: Mutex::new(State::default()),
            fetched: Condvar::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The wrapped source.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The block size in use.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Blocks served from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Blocks that had to be read from the inner source.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes of block data currently cached.
    pub fn cached_bytes(&self) -> u64 {
        self.lock().lru.bytes
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The maps are consistent after every method returns; a panic elsewhere while
        // holding the lock cannot leave them half-updated in a way that matters.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copy the part of block `index` (holding `data`) that overlaps the read
    /// `[offset, offset + buf.len())` into `buf`.
    fn copy_block(&self, buf: &mut [u8], offset: u64, index: u64, data: &[u8]) -> Result<()> {
        let block_start = index * self.block_size;
        let end = offset + buf.len() as u64;
        let lo = block_start.max(offset);
        let hi = (block_start + data.len() as u64).min(end);
        let src = data.get((lo - block_start) as usize..(hi - block_start) as usize);
        let dst = buf.get_mut((lo - offset) as usize..(hi - offset) as usize);
        match (src, dst) {
            (Some(s), Some(d)) => {
                d.copy_from_slice(s);
                Ok(())
            }
            _ => Err(Error::Io {
                what: self.describe(),
                source: std::io::Error::other(format!(
                    "block cache: block {index} is shorter than expected"
                )),
            }),
        }
    }
}

impl<S: ReadAt> ReadAt for BlockCache<S> {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let size = self.inner.size();
        check_bounds(&|| self.describe(), offset, buf.len(), size)?;
        if buf.is_empty() {
            return Ok(());
        }
        if buf.len() as u64 >= self.bypass_len {
            return self.inner.read_exact_at(buf, offset);
        }
        let bs = self.block_size;
        let first = offset / bs;
        let last = (offset + buf.len() as u64 - 1) / bs;
        let mut index = first;
        // Bounded: each iteration either advances `index` or waits for another
        // thread's fetch of block `index` to finish (which always finishes: its guard
        // clears the mark on success, error and panic).
        while index <= last {
            let mut st = self.lock();
            if let Some(data) = st.lru.get(index) {
                drop(st);
                self.hits.fetch_add(1, Ordering::Relaxed);
                self.copy_block(buf, offset, index, &data)?;
                index += 1;
                continue;
            }
            if st.in_flight.contains(&index) {
                // Wait, then look again (the block may also have been evicted already
                // or its fetch failed; then this thread fetches it).
                let _st = self
                    .fetched
                    .wait_while(st, |st| st.in_flight.contains(&index))
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // A run of blocks [index, run_end] that are neither cached nor being
            // fetched, read with one inner read; past `last` by the readahead window
            // when the misses are sequential.
            let blocks = size.div_ceil(bs);
            // Two sequential misses make a stream: then 1, 2, 4, … blocks ahead.
            let slot = st.streams.iter().position(|s| s.next == index && index > 0);
            let streak = slot
                .and_then(|i| st.streams.get(i))
                .map_or(0, |s| s.streak.saturating_add(1));
            let window = match streak {
                0 | 1 => 0,
                n => 1u64
                    .checked_shl(n - 2)
                    .unwrap_or(u64::MAX)
                    .min(self.readahead_blocks),
            };
            let stop_at = last.saturating_add(window).min(blocks.saturating_sub(1));
            let mut run_end = index;
            while run_end < stop_at
                && run_end - index + 1 < self.max_fetch_blocks
                && !st.lru.contains(run_end + 1)
                && !st.in_flight.contains(&(run_end + 1))
            {
                run_end += 1;
            }
            if run_end >= last {
                st.tick += 1;
                let stream = Stream {
                    next: run_end + 1,
                    streak,
                    used: st.tick,
                };
                st.follow(slot, stream);
            }
            for b in index..=run_end {
                st.in_flight.insert(b);
            }
            drop(st);
            let _guard = InFlight {
                cache: self,
                first: index,
                last: run_end,
            };
            self.misses
                .fetch_add(run_end - index + 1, Ordering::Relaxed);
            let start = index * bs;
            let stop = (run_end + 1).saturating_mul(bs).min(size);
            let mut tmp = vec![0u8; (stop - start) as usize];
            self.inner.read_exact_at(&mut tmp, start)?;
            let mut st = self.lock();
            for (k, chunk) in tmp.chunks(bs as usize).enumerate() {
                st.lru
                    .put(index + k as u64, Arc::from(chunk), self.capacity);
            }
            drop(st);
            for (k, chunk) in tmp.chunks(bs as usize).enumerate() {
                if index + k as u64 <= last {
                    self.copy_block(buf, offset, index + k as u64, chunk)?;
                }
            }
            index = run_end + 1;
        }
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    /// Fetch the missing blocks of `ranges` now: runs of adjacent missing blocks (split
    /// at `max_fetch`) read by up to
    /// [`PREFETCH_PARALLELISM`] concurrent inner reads. Bounded: at most half the
    /// cache's capacity is prefetched (the rest is read on demand, as before).
    fn prefetch(&self, ranges: &[(u64, u64)]) -> Result<()> {
        let size = self.inner.size();
        let bs = self.block_size;
        let mut wanted: Vec<u64> = Vec::new();
        let budget = (self.capacity / 2) / bs;
        {
            let st = self.lock();
            for &(offset, len) in ranges {
                if len == 0 || offset >= size {
                    continue;
                }
                let end = offset.saturating_add(len).min(size);
                for b in offset / bs..=(end - 1) / bs {
                    if wanted.len() as u64 >= budget {
                        break;
                    }
                    if !st.lru.contains(b) && !st.in_flight.contains(&b) {
                        wanted.push(b);
                    }
                }
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        // Runs [first, last] of blocks to fetch, gaps of PREFETCH_GAP_BLOCKS joined.
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for b in wanted {
            match runs.last_mut() {
                Some((first, last))
                    if b <= *last + 1 + PREFETCH_GAP_BLOCKS
                        && b - *first < self.max_fetch_blocks =>
                {
                    *last = b
                }
                _ => runs.push((b, b)),
            }
        }
        if runs.is_empty() {
            return Ok(());
        }
        {
            // Blocks another thread fetched meanwhile are fetched again: harmless.
            let mut st = self.lock();
            for &(first, last) in &runs {
                for b in first..=last {
                    st.in_flight.insert(b);
                }
            }
        }
        let _guards: Vec<InFlight<'_, S>> = runs
            .iter()
            .map(|&(first, last)| InFlight {
                cache: self,
                first,
                last,
            })
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let fetch_all = || -> Result<()> {
            // Bounded: each iteration takes one run off the shared list.
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(first, last)) = runs.get(i) else {
                    return Ok(());
                };
                let start = first * bs;
                let stop = (last + 1).saturating_mul(bs).min(size);
                let mut tmp = vec![0u8; (stop - start) as usize];
                self.inner.read_exact_at(&mut tmp, start)?;
                self.misses.fetch_add(last - first + 1, Ordering::Relaxed);
                let mut st = self.lock();
                for (k, chunk) in tmp.chunks(bs as usize).enumerate() {
                    st.lru
                        .put(first + k as u64, Arc::from(chunk), self.capacity);
                }
            }
        };
        let workers = PREFETCH_PARALLELISM.min(runs.len());
        crate::par::scope(|scope| {
            let handles: Vec<_> = (1..workers).map(|_| scope.spawn(fetch_all)).collect();
            let mut result = fetch_all();
            for h in handles {
                let r = h.try_join().unwrap_or_else(|_| {
                    Err(Error::Io {
                        what: self.describe(),
                        source: std::io::Error::other("a prefetch thread panicked"),
                    })
                });
                if result.is_ok() {
                    result = r;
                }
            }
            result
        })
    }

    fn host_extents(&self, offset: u64, len: u64) -> Option<Vec<HostExtent>> {
        self.inner.host_extents(offset, len)
    }

    fn allocated_bytes(&self) -> Option<u64> {
        self.inner.allocated_bytes()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    /// Counts inner reads to check coalescing and caching.
    struct Counting {
        inner: MemSource,
        reads: AtomicU64,
        bytes: AtomicU64,
    }

    impl ReadAt for Counting {
        fn size(&self) -> u64 {
            self.inner.size()
        }
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
            self.inner.read_exact_at(buf, offset)
        }
        fn bytes_read(&self) -> u64 {
            self.bytes.load(Ordering::Relaxed)
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn cache(n: usize, opts: BlockCacheOptions) -> (Vec<u8>, BlockCache<Counting>) {
        let d = data(n);
        let c = BlockCache::with_options(
            Counting {
                inner: MemSource::new(d.clone()),
                reads: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            },
            opts,
        );
        (d, c)
    }

    const OPTS: BlockCacheOptions = BlockCacheOptions {
        block_size: 1024,
        capacity: 8 * 1024,
        max_fetch: 4 * 1024,
        bypass_len: u64::MAX,
        readahead: 0,
    };

    #[test]
    fn reads_match_and_coalesce() {
        let (d, c) = cache(10_000, OPTS);
        let mut buf = vec![0u8; 2500];
        c.read_exact_at(&mut buf, 100).unwrap();
        assert_eq!(buf, d[100..2600]);
        // Blocks 0..=2 fetched with one read.
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), 1);
        assert_eq!(c.bytes_read(), 3072);
        assert_eq!(c.misses(), 3);
        // Fully cached now.
        c.read_exact_at(&mut buf, 200).unwrap();
        assert_eq!(buf, d[200..2700]);
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), 1);
        assert_eq!(c.hits(), 3);
        // Tail block is partial (10_000 is not a multiple of 1024).
        let mut tail = vec![0u8; 300];
        c.read_exact_at(&mut tail, 9700).unwrap();
        assert_eq!(tail, d[9700..]);
        assert!(c.read_exact_at(&mut tail, 9701).is_err());
    }

    #[test]
    fn long_reads_bypass_the_cache() {
        let opts = BlockCacheOptions {
            bypass_len: 2048,
            ..OPTS
        };
        let (d, c) = cache(10_000, opts);
        let mut big = vec![0u8; 3000];
        c.read_exact_at(&mut big, 1500).unwrap();
        assert_eq!(big, d[1500..4500]);
        // Exactly the bytes asked for, nothing kept.
        assert_eq!(c.bytes_read(), 3000);
        assert_eq!(c.cached_bytes(), 0);
        let mut small = vec![0u8; 100];
        c.read_exact_at(&mut small, 1500).unwrap();
        c.read_exact_at(&mut small, 1500).unwrap();
        assert_eq!(small, d[1500..1600]);
        assert_eq!((c.misses(), c.hits()), (1, 1));
    }

    #[test]
    fn max_fetch_splits_and_hits_in_middle() {
        let (d, c) = cache(10_000, OPTS);
        let mut one = [0u8; 1];
        c.read_exact_at(&mut one, 5 * 1024).unwrap(); // block 5 cached
        let mut buf = vec![0u8; 10_000];
        c.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(buf, d);
        // 1 (block 5) + blocks 0..=3 + block 4 + blocks 6..=9 = 4 reads.
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), 4);
        assert_eq!(c.bytes_read(), 10_000);
    }

    #[test]
    fn byte_bound_evicts_least_recently_used() {
        let (_, c) = cache(64 * 1024, OPTS);
        let mut one = [0u8; 1];
        for b in 0..8u64 {
            c.read_exact_at(&mut one, b * 1024).unwrap();
        }
        assert_eq!(c.cached_bytes(), 8 * 1024);
        c.read_exact_at(&mut one, 0).unwrap(); // touch block 0
        c.read_exact_at(&mut one, 8 * 1024).unwrap(); // evicts block 1
        assert_eq!(c.cached_bytes(), 8 * 1024);
        let before = c.inner().reads.load(Ordering::Relaxed);
        c.read_exact_at(&mut one, 0).unwrap();
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), before);
        c.read_exact_at(&mut one, 1024).unwrap();
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), before + 1);
    }

    #[test]
    fn sequential_misses_read_ahead_geometrically_within_the_window() {
        let opts = BlockCacheOptions {
            capacity: 64 * 1024,
            max_fetch: 64 * 1024,
            readahead: 8 * 1024,
            ..OPTS
        };
        let (d, c) = cache(100_000, opts);
        let mut buf = vec![0u8; 1024];
        for b in 0..40u64 {
            c.read_exact_at(&mut buf, b * 1024).unwrap();
            assert_eq!(buf, d[b as usize * 1024..(b as usize + 1) * 1024]);
        }
        // 40 blocks: 1 + 1 (the stream is recognised) + 2 + 3 + 5 + 9 + 9 + 9 (window 8
        // blocks) + the last 1: 9 inner reads instead of 40.
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), 9);
        // At most one window past what was read.
        assert!(c.bytes_read() <= 48 * 1024, "{}", c.bytes_read());
        // A jump ends the stream: no readahead for a random read.
        let before = c.bytes_read();
        c.read_exact_at(&mut buf, 90 * 1024).unwrap();
        assert_eq!(c.bytes_read() - before, 1024);
    }

    #[test]
    fn interleaved_streams_each_keep_their_readahead() {
        // Two readers stream two files at once (the concurrent inspection), a random
        // read between them: each stream is still recognised and read ahead.
        let opts = BlockCacheOptions {
            capacity: 128 * 1024,
            max_fetch: 64 * 1024,
            readahead: 8 * 1024,
            ..OPTS
        };
        let (d, c) = cache(200_000, opts);
        let mut buf = vec![0u8; 1024];
        for b in 0..40u64 {
            for (base, random) in [(0u64, 150u64), (60, 190)] {
                c.read_exact_at(&mut buf, (base + b) * 1024).unwrap();
                assert_eq!(
                    buf,
                    d[(base + b) as usize * 1024..(base + b + 1) as usize * 1024]
                );
                if b == 20 {
                    c.read_exact_at(&mut buf, random * 1024).unwrap();
                }
            }
        }
        // 9 inner reads a stream alone (the test above), 2 random reads; one stream
        // tracking reset both at every switch: 80 reads.
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), 2 * 9 + 2);
    }

    #[test]
    fn no_readahead_by_default() {
        let (_, c) = cache(100_000, OPTS);
        let mut buf = vec![0u8; 1024];
        for b in 0..20u64 {
            c.read_exact_at(&mut buf, b * 1024).unwrap();
        }
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), 20);
        assert_eq!(c.bytes_read(), 20 * 1024);
    }

    #[test]
    fn prefetch_coalesces_missing_blocks_and_later_reads_hit() {
        let opts = BlockCacheOptions {
            capacity: 64 * 1024,
            ..OPTS
        };
        let (d, c) = cache(100_000, opts);
        let mut one = [0u8; 1];
        c.read_exact_at(&mut one, 5 * 1024).unwrap(); // block 5 cached
                                                      // Blocks 0 and 2 (a gap of one block: joined), 5 (cached), 10..=11, 50, and a
                                                      // range past the end (ignored).
        c.prefetch(&[
            (0, 10),
            (1024 + 5, 1),
            (3 * 1024, 1),
            (5 * 1024, 1024),
            (10 * 1024, 2048),
            (50 * 1024, 1),
            (200_000, 10),
        ])
        .unwrap();
        // 1 + runs 0..=1, 3, 10..=11, 50.
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), 5);
        assert_eq!(c.bytes_read(), 7 * 1024);
        let reads = c.inner().reads.load(Ordering::Relaxed);
        let mut buf = vec![0u8; 1024];
        for off in [0u64, 1024, 3 * 1024, 10 * 1024, 11 * 1024, 50 * 1024] {
            c.read_exact_at(&mut buf, off).unwrap();
            assert_eq!(buf, d[off as usize..off as usize + 1024]);
        }
        assert_eq!(c.inner().reads.load(Ordering::Relaxed), reads);
    }

    #[test]
    fn prefetch_is_bounded_by_half_the_capacity() {
        let (_, c) = cache(100_000, OPTS);
        c.prefetch(&[(0, 100_000)]).unwrap();
        assert_eq!(c.bytes_read(), 4 * 1024);
    }

    #[test]
    fn shared_between_threads() {
        let (d, c) = cache(200_000, OPTS);
        let c = Arc::new(c);
        let d = Arc::new(d);
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let (c, d) = (c.clone(), d.clone());
                std::thread::spawn(move || {
                    for i in 0..200u64 {
                        let off = (i * 977 + t * 13_331) % 190_000;
                        let mut buf = vec![0u8; 3000];
                        c.read_exact_at(&mut buf, off).unwrap();
                        assert_eq!(buf, d[off as usize..off as usize + 3000]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(c.cached_bytes() <= 8 * 1024);
    }
}
