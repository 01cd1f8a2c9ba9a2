//! Hostile-input helpers shared by the filesystem reader tests: a device that
//! corrupts chosen bytes of a real image (or cuts it short), a bounded tree walk,
//! and the corrupt-then-walk loop aimed at the metadata a clean walk read.

use imgport_disk::ReadAt;
use imgport_inspect::fs::{FileSystem, FileType};
use std::io::Read;
use std::sync::{Arc, Mutex};

/// A device over a real image with some bytes replaced and/or a shorter size;
/// records which ranges were read (to aim corruption at metadata).
pub struct Damaged {
    inner: Arc<dyn ReadAt>,
    size: u64,
    patches: Vec<(u64, u8)>,
    pub reads: Mutex<Vec<(u64, usize)>>,
}

impl Damaged {
    pub fn new(inner: Arc<dyn ReadAt>, size: u64, patches: Vec<(u64, u8)>) -> Self {
        Damaged {
            inner,
            size,
            patches,
            reads: Mutex::new(Vec::new()),
        }
    }
}

impl ReadAt for Damaged {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> imgport_disk::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.size)
        {
            return Err(imgport_disk::Error::OutOfBounds {
                what: "damaged".into(),
                offset,
                len: buf.len() as u64,
                size: self.size,
            });
        }
        self.inner.read_exact_at(buf, offset)?;
        self.reads.lock().unwrap().push((offset, buf.len()));
        for &(at, v) in &self.patches {
            if at >= offset && at < offset + buf.len() as u64 {
                buf[(at - offset) as usize] = v;
            }
        }
        Ok(())
    }
}

/// Walk the tree depth-first (at most `max` entries), reading links and the
/// first 64 KiB of files; errors are fine, panics and hangs are not.
pub fn bounded_walk(fs: &dyn FileSystem, max: usize) -> usize {
    let mut queue = vec!["/".to_string()];
    let mut seen = 0;
    while let Some(dir) = queue.pop() {
        let Ok(entries) = fs.read_dir(&dir) else {
            continue;
        };
        for e in entries {
            seen += 1;
            if seen > max {
                return seen;
            }
            let p = if dir == "/" {
                format!("/{}", e.name)
            } else {
                format!("{dir}/{}", e.name)
            };
            let _ = fs.metadata(&p);
            match e.file_type {
                FileType::Dir => queue.push(p),
                FileType::Symlink => {
                    let _ = fs.read_link(&p);
                }
                FileType::File => {
                    if let Ok(r) = fs.open_file(&p) {
                        let _ = r.take(64 << 10).read_to_end(&mut Vec::new());
                    }
                }
                FileType::Other => {}
            }
        }
    }
    seen
}

/// Tiny deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// How hard to hit an image.
pub struct Attack<'a> {
    /// Rounds of 1–8 random byte changes in the metadata a clean walk read.
    pub rounds: usize,
    /// Entries each walk may visit.
    pub walk: usize,
    pub seed: u64,
    /// Sizes the image is cut to (clamped to its size).
    pub cuts: &'a [u64],
}

/// Open `base` cleanly and walk it, then corrupt random bytes of the (small, i.e.
/// metadata) reads that walk made, `attack.rounds` times over, and cut the image at
/// `attack.cuts`: every open and walk must end without a panic or hang.
pub fn corrupt_and_walk(
    base: Arc<dyn ReadAt>,
    opener: &dyn Fn(Arc<dyn ReadAt>) -> Option<Arc<dyn FileSystem>>,
    attack: &Attack<'_>,
) {
    let clean = Arc::new(Damaged::new(base.clone(), base.size(), vec![]));
    let fs = opener(clean.clone()).expect("clean image opens");
    bounded_walk(&*fs, attack.walk);
    drop(fs);
    let mut reads = clean.reads.lock().unwrap().clone();
    reads.retain(|&(_, len)| len <= 65536);
    reads.sort();
    reads.dedup();
    assert!(!reads.is_empty());
    let mut rng = Rng(attack.seed);
    for round in 0..attack.rounds {
        let mut patches = Vec::new();
        for _ in 0..1 + round % 8 {
            let (off, len) = reads[(rng.next() % reads.len() as u64) as usize];
            let at = off + rng.next() % len as u64;
            patches.push((at, (rng.next() & 0xff) as u8));
        }
        let d = Arc::new(Damaged::new(base.clone(), base.size(), patches));
        if let Some(fs) = opener(d) {
            bounded_walk(&*fs, attack.walk);
        }
    }
    for &cut in attack.cuts {
        let d = Arc::new(Damaged::new(base.clone(), cut.min(base.size()), vec![]));
        if let Some(fs) = opener(d) {
            bounded_walk(&*fs, attack.walk);
        }
    }
}
