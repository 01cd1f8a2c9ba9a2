//! The durable import pipeline (R-FLOW-ASYNC, DESIGN.md "Pipeline").
//!
//! A job is an IMPORTING image row ([`crate::db::jobs`]). `--workers N` threads each
//! lease one job at a time and run its phases ([`Phase`], [`pipeline`]): fetch →
//! format → size → inspect → policy → convert → register → notify. Every phase
//! updates the row's phase, percent and bytes and records its timing; the verdict's
//! findings are stored on the image.
//!
//! Durability: a heartbeat ([`heartbeat`]) renews the lease while the worker lives. A
//! worker or server that dies (SIGKILL) leaves the lease to expire; another worker or
//! the restarted server retakes the job and redoes it from its first phase — the
//! conversion starts from scratch into a new unnamed file, and the leftovers of the
//! dead attempt are removed ([`files`]). A stored file is linked in place only when
//! complete, and NORMAL is recorded only after it is; so an image is never stuck
//! IMPORTING and never NORMAL without a complete qcow2. A job taken [`MAX_ATTEMPTS`]
//! times without ending fails with `InternalError`. A graceful shutdown interrupts
//! running jobs at once and gives them back without counting the attempt.

pub mod files;
pub mod heartbeat;
pub mod pipeline;
pub mod progress;
pub mod source;
mod worker;

use crate::AppState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Takes of one job before it is failed (a job whose workers keep dying).
pub const MAX_ATTEMPTS: i64 = 3;

/// The environment variable capping how fast one import job reads its stored object,
/// in bytes per second (unset or 0: no cap).
pub const READ_RATE_ENV: &str = "IMGPORT_JOB_READ_RATE";

/// The read-rate cap of import jobs ([`READ_RATE_ENV`]).
pub fn read_rate() -> Option<u64> {
    std::env::var(READ_RATE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|r| *r > 0)
}

/// The phases of an import job, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Open the stored object the ImageUrl named (R-ERR InvalidUrl when deleted).
    Fetch,
    /// Detect and open the format (R-FMT).
    Format,
    /// Walk the mapping tables, measure (R-SIZE-*).
    Size,
    /// Partitions, filesystems, OS facts.
    Inspect,
    /// The rules: the verdict.
    Policy,
    /// Write the qcow2.
    Convert,
    /// Verify the stored file; record NORMAL.
    Register,
    /// Boot the stored qcow2 under QEMU (R-BOOT), when the import asked for it.
    Boot,
    /// Messages to subscribed users (with the NORMAL record, one transaction).
    Notify,
}

/// The check's phases are the job's (one check engine for the CLI and the job).
impl From<imgport_check::Phase> for Phase {
    fn from(p: imgport_check::Phase) -> Phase {
        match p {
            imgport_check::Phase::Format => Phase::Format,
            imgport_check::Phase::Size => Phase::Size,
            imgport_check::Phase::Inspect => Phase::Inspect,
            imgport_check::Phase::Policy => Phase::Policy,
        }
    }
}

impl Phase {
    pub const ALL: &'static [Phase] = &[
        Phase::Fetch,
        Phase::Format,
        Phase::Size,
        Phase::Inspect,
        Phase::Policy,
        Phase::Convert,
        Phase::Register,
        Phase::Boot,
        Phase::Notify,
    ];

    /// The name DescribeImages' `ImportPhase` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Fetch => "fetch",
            Phase::Format => "format",
            Phase::Size => "size",
            Phase::Inspect => "inspect",
            Phase::Policy => "policy",
            Phase::Convert => "convert",
            Phase::Register => "register",
            Phase::Boot => "boot",
            Phase::Notify => "notify",
        }
    }

    /// `ImportProgress` when the phase starts.
    pub fn start_percent(self) -> i64 {
        match self {
            Phase::Fetch => 1,
            Phase::Format => 2,
            Phase::Size => 4,
            Phase::Inspect => 8,
            Phase::Policy => 15,
            Phase::Convert => 18,
            Phase::Register => 96,
            Phase::Boot => 97,
            Phase::Notify => 98,
        }
    }

    /// `ImportProgress` when the phase ends (the next phase's start).
    pub fn end_percent(self) -> i64 {
        match self {
            Phase::Convert => 95,
            Phase::Notify => 99,
            p => Phase::ALL
                .iter()
                .find(|q| **q > p)
                .map(|q| q.start_percent())
                .unwrap_or(99),
        }
    }
}

/// The running workers (and the webhook thread) of a server.
pub struct Workers {
    /// Workers take no new jobs.
    draining: Arc<AtomicBool>,
    /// Running jobs stop at their next read and are given back.
    abort: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    webhooks: Option<JoinHandle<()>>,
    webhooks_stop: Arc<AtomicBool>,
    st: AppState,
}

/// Start `n` workers (at least one) and the webhook delivery thread. Leftover files
/// of earlier runs are swept first.
pub fn start(st: &AppState, n: usize) -> Workers {
    // Role `api` (issue 13): no import workers; the workers own the stored images.
    let n = if st.config.role.runs_jobs() {
        let swept = files::sweep(st);
        if swept > 0 {
            tracing::info!(files = swept, "removed leftovers of interrupted imports");
        }
        n.max(1)
    } else {
        0
    };
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let threads_per_job = (cores / n.max(1)).max(1);
    let read_rate = read_rate();
    if let Some(r) = read_rate {
        tracing::info!(
            bytes_per_sec = r,
            "import jobs read at most this fast ({READ_RATE_ENV})"
        );
    }
    let draining = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(AtomicBool::new(false));
    let threads = (0..n)
        .map(|i| {
            let w = worker::Worker {
                st: st.clone(),
                owner: format!("{}-w{i}-{}", std::process::id(), crate::db::random_id(6)),
                draining: draining.clone(),
                abort: abort.clone(),
                threads_per_job,
                read_rate,
            };
            std::thread::Builder::new()
                .name(format!("import-worker-{i}"))
                .spawn(move || w.run())
                .expect("spawn an import worker")
        })
        .collect();
    let webhooks_stop = Arc::new(AtomicBool::new(false));
    let webhooks = Some(crate::messages::webhook::start(st, webhooks_stop.clone()));
    Workers {
        draining,
        abort,
        threads,
        webhooks,
        webhooks_stop,
        st: st.clone(),
    }
}

impl Workers {
    /// Import workers running (0 for role `api`).
    pub fn count(&self) -> usize {
        self.threads.len()
    }

    /// Stop (issue 18 item 6): take no new jobs and interrupt running ones at once —
    /// each stops at its next read of the stored object (inside the check engine, or
    /// between two batches of the conversion), removes its partial file and releases
    /// its lease, so another server or the next start retakes it at once. Waits up to
    /// `bound` for the workers and the webhook thread; a worker still busy then is left
    /// behind (its lease expires and the job is retaken, as after a crash).
    pub fn shutdown(mut self, bound: Duration) {
        let t = Instant::now();
        self.draining.store(true, Ordering::Relaxed);
        self.abort.store(true, Ordering::Relaxed);
        self.webhooks_stop.store(true, Ordering::Relaxed);
        self.st.wake_workers();
        let mut all: Vec<JoinHandle<()>> = self.threads.drain(..).collect();
        all.extend(self.webhooks.take());
        while t.elapsed() < bound && all.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (done, busy): (Vec<_>, Vec<_>) = all.into_iter().partition(|h| h.is_finished());
        for h in done {
            let _ = h.join();
        }
        if !busy.is_empty() {
            tracing::warn!(
                threads = busy.len(),
                "import or webhook threads did not stop in time; their jobs are retaken when their leases expire"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_increase_through_the_phases() {
        let mut last = 0;
        for p in Phase::ALL {
            assert!(p.start_percent() > last, "{p:?}");
            assert!(p.end_percent() > p.start_percent(), "{p:?}");
            last = p.start_percent();
        }
        assert_eq!(Phase::Policy.end_percent(), Phase::Convert.start_percent());
        assert!(Phase::Notify.end_percent() < 100);
    }
}
