//! The stored object as a job reads it: every read first checks the job's stop flag,
//! so a job whose lease was lost (or whose server is shutting down) stops at its next
//! read — inside the check engine or the conversion — without those crates knowing
//! about jobs. Reads are counted for progress and metrics, and optionally paced to a
//! byte rate (`IMGPORT_JOB_READ_RATE`, see [`super::read_rate`]) so background imports
//! leave disk bandwidth to uploads.

use imgport_disk::source::HostExtent;
use imgport_disk::{Error, ReadAt, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a job stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// Another worker took the job (this worker stalled past its lease).
    LeaseLost,
    /// The server is shutting down: the job is given back.
    Shutdown,
}

/// The flags a running job watches.
#[derive(Debug, Default)]
pub struct StopFlags {
    pub lease_lost: AtomicBool,
    pub shutdown: Arc<AtomicBool>,
}

impl StopFlags {
    pub fn new(shutdown: Arc<AtomicBool>) -> Arc<StopFlags> {
        Arc::new(StopFlags {
            lease_lost: AtomicBool::new(false),
            shutdown,
        })
    }

    /// Why the job must stop, if it must.
    pub fn interrupted(&self) -> Option<Interrupt> {
        if self.lease_lost.load(Ordering::Relaxed) {
            Some(Interrupt::LeaseLost)
        } else if self.shutdown.load(Ordering::Relaxed) {
            Some(Interrupt::Shutdown)
        } else {
            None
        }
    }
}

/// A [`ReadAt`] that fails once the job must stop, and counts what it read.
pub struct JobSource {
    inner: Arc<dyn ReadAt>,
    stop: Arc<StopFlags>,
    read: AtomicU64,
    /// Bytes per second, when paced.
    rate: Option<u64>,
    started: Instant,
}

impl JobSource {
    pub fn new(inner: Arc<dyn ReadAt>, stop: Arc<StopFlags>, rate: Option<u64>) -> Arc<JobSource> {
        Arc::new(JobSource {
            inner,
            stop,
            read: AtomicU64::new(0),
            rate: rate.filter(|r| *r > 0),
            started: Instant::now(),
        })
    }

    /// Sleep until `total` bytes are within the rate (waking early when the job stops).
    fn pace(&self, total: u64, rate: u64) {
        let due = Duration::from_secs_f64(total as f64 / rate as f64);
        loop {
            let elapsed = self.started.elapsed();
            if elapsed >= due || self.stop.interrupted().is_some() {
                return;
            }
            std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
        }
    }

    /// Bytes read through this source.
    pub fn read_bytes(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

impl ReadAt for JobSource {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        if let Some(why) = self.stop.interrupted() {
            return Err(Error::Io {
                what: self.inner.describe(),
                source: std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    format!("import job stopped: {why:?}"),
                ),
            });
        }
        self.inner.read_exact_at(buf, offset)?;
        let total = self.read.fetch_add(buf.len() as u64, Ordering::Relaxed) + buf.len() as u64;
        if let Some(rate) = self.rate {
            self.pace(total, rate);
        }
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.read_bytes()
    }

    fn host_extents(&self, offset: u64, len: u64) -> Option<Vec<HostExtent>> {
        self.inner.host_extents(offset, len)
    }

    fn allocated_bytes(&self) -> Option<u64> {
        self.inner.allocated_bytes()
    }

    /// Passed on (issue 16: the formats' metadata fetched in a few coalesced requests
    /// from a remote store), unless the job must stop: then the reads fail anyway.
    fn prefetch(&self, ranges: &[(u64, u64)]) -> Result<()> {
        if self.stop.interrupted().is_some() {
            return Ok(());
        }
        self.inner.prefetch(ranges)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgport_disk::MemSource;

    #[test]
    fn reads_stop_when_the_job_must() {
        let shutdown = Arc::new(AtomicBool::new(false));
        let flags = StopFlags::new(shutdown.clone());
        let src = JobSource::new(
            Arc::new(MemSource::new(vec![7u8; 4096])),
            flags.clone(),
            None,
        );
        let mut b = [0u8; 512];
        src.read_exact_at(&mut b, 512).unwrap();
        assert_eq!((b[0], src.bytes_read()), (7, 512));
        shutdown.store(true, Ordering::Relaxed);
        assert!(src.read_exact_at(&mut b, 0).is_err());
        assert_eq!(flags.interrupted(), Some(Interrupt::Shutdown));
        flags.lease_lost.store(true, Ordering::Relaxed);
        assert_eq!(flags.interrupted(), Some(Interrupt::LeaseLost));
    }

    /// A conversion stops at its next batch once the job must stop (issue 18 item
    /// 6): the flag set after the first progress report leaves most of a 64 MiB disk
    /// unread, and the conversion fails (the caller sees why: the flags).
    #[test]
    fn a_conversion_stops_between_batches() {
        let shutdown = Arc::new(AtomicBool::new(false));
        let flags = StopFlags::new(shutdown.clone());
        let size = 64u64 << 20;
        let src = JobSource::new(
            Arc::new(MemSource::new(vec![0x5a; size as usize])),
            flags.clone(),
            None,
        );
        let disk = imgport_disk::open(src.clone() as Arc<dyn ReadAt>).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let opts = imgport_disk::convert::ConvertOptions {
            threads: 1,
            ..Default::default()
        };
        let r = imgport_disk::convert::convert_to_path(
            &*disk,
            &dir.path().join("out.qcow2"),
            &opts,
            false,
            &|done, _| {
                if done > 0 {
                    shutdown.store(true, Ordering::Relaxed);
                }
            },
        );
        assert!(r.is_err(), "the conversion ran to its end");
        assert_eq!(flags.interrupted(), Some(Interrupt::Shutdown));
        assert!(
            src.read_bytes() < size / 2,
            "{} of {size} bytes read after the stop",
            src.read_bytes()
        );
        assert!(!dir.path().join("out.qcow2").exists());
    }

    /// A source that records the prefetch hints it is given.
    struct Hinted(MemSource, std::sync::Mutex<Vec<(u64, u64)>>);

    impl ReadAt for Hinted {
        fn size(&self) -> u64 {
            self.0.size()
        }
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
            self.0.read_exact_at(buf, offset)
        }
        fn prefetch(&self, ranges: &[(u64, u64)]) -> Result<()> {
            self.1.lock().unwrap().extend_from_slice(ranges);
            Ok(())
        }
    }

    #[test]
    fn prefetch_hints_reach_the_store_until_the_job_stops() {
        let shutdown = Arc::new(AtomicBool::new(false));
        let inner = Arc::new(Hinted(MemSource::new(vec![0; 4096]), Default::default()));
        let src = JobSource::new(inner.clone(), StopFlags::new(shutdown.clone()), None);
        src.prefetch(&[(0, 512), (2048, 512)]).unwrap();
        shutdown.store(true, Ordering::Relaxed);
        src.prefetch(&[(1024, 512)]).unwrap();
        assert_eq!(*inner.1.lock().unwrap(), vec![(0, 512), (2048, 512)]);
    }

    #[test]
    fn reads_are_paced_to_the_rate() {
        let flags = StopFlags::new(Arc::new(AtomicBool::new(false)));
        let src = JobSource::new(
            Arc::new(MemSource::new(vec![0u8; 1 << 20])),
            flags.clone(),
            Some(1 << 20),
        );
        let t = Instant::now();
        let mut b = vec![0u8; 256 << 10];
        src.read_exact_at(&mut b, 0).unwrap();
        src.read_exact_at(&mut b, 0).unwrap();
        // 512 KiB at 1 MiB/s: about half a second.
        assert!(
            t.elapsed() >= Duration::from_millis(450),
            "{:?}",
            t.elapsed()
        );
        // A stopped job is not kept waiting.
        flags.shutdown.store(true, Ordering::Relaxed);
        let t = Instant::now();
        let _ = src.read_exact_at(&mut b, 0);
        assert!(t.elapsed() < Duration::from_millis(200));
    }
}
