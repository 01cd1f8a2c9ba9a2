//! Progress of one job attempt: the current phase, percent and bytes on the image row
//! (DescribeImages shows them), and one timing row per phase (`job_phases`) plus the
//! phase-duration metric when the phase ends. A progress write that finds the lease
//! gone marks the job as interrupted.

use super::source::StopFlags;
use super::Phase;
use crate::AppState;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Least time between two byte-progress writes.
const BYTES_EVERY: Duration = Duration::from_millis(500);

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Current {
    phase: Phase,
    started: Instant,
    started_ms: i64,
    bytes_done: u64,
    bytes_total: u64,
    last_write: Instant,
}

/// The progress reporter of one attempt.
pub struct Progress {
    st: AppState,
    image_id: String,
    owner: String,
    attempt: i64,
    stop: Arc<StopFlags>,
    cur: Mutex<Option<Current>>,
    /// Bytes shown on the image row (the conversion's, kept through later phases).
    shown: Mutex<(u64, u64)>,
}

impl Progress {
    pub fn new(
        st: &AppState,
        image_id: &str,
        owner: &str,
        attempt: i64,
        stop: Arc<StopFlags>,
    ) -> Progress {
        Progress {
            st: st.clone(),
            image_id: image_id.to_string(),
            owner: owner.to_string(),
            attempt,
            stop,
            cur: Mutex::new(None),
            shown: Mutex::new((0, 0)),
        }
    }

    fn write(&self, phase: Phase, percent: i64, done: u64, total: u64) {
        let lease = self.st.config.job_lease_secs as i64;
        match self.st.db.job_progress(
            &self.image_id,
            &self.owner,
            lease,
            phase.as_str(),
            percent.clamp(0, 99),
            done as i64,
            total as i64,
        ) {
            Ok(true) => {}
            Ok(false) => self.stop.lease_lost.store(true, Ordering::Relaxed),
            Err(e) => tracing::warn!("recording progress: {e}"),
        }
    }

    fn close(&self, c: &Current, outcome: &str) {
        let secs = c.started.elapsed().as_secs_f64();
        crate::metrics::phase_time(c.phase.as_str(), secs);
        if let Err(e) = self.st.db.record_phase(
            &self.image_id,
            self.attempt,
            c.phase.as_str(),
            &self.owner,
            c.started_ms,
            (secs * 1000.0) as i64,
            c.bytes_done as i64,
            outcome,
        ) {
            tracing::warn!("recording a phase: {e}");
        }
        tracing::info!(
            phase = c.phase.as_str(),
            outcome,
            ms = (secs * 1000.0) as u64,
            bytes = c.bytes_done,
            "phase ended"
        );
    }

    /// Start `phase` (ending the current one as `ok`).
    pub fn enter(&self, phase: Phase) {
        let mut g = self.cur.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = g.take() {
            if c.phase == phase {
                *g = Some(c);
                return;
            }
            self.close(&c, "ok");
        }
        let (done, total) = *self.shown.lock().unwrap_or_else(|e| e.into_inner());
        self.write(phase, phase.start_percent(), done, total);
        *g = Some(Current {
            phase,
            started: Instant::now(),
            started_ms: unix_ms(),
            bytes_done: 0,
            bytes_total: 0,
            last_write: Instant::now(),
        });
    }

    /// Bytes done of the current phase (written at most every [`BYTES_EVERY`]).
    pub fn bytes(&self, done: u64, total: u64) {
        let mut g = self.cur.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = g.as_mut() else { return };
        c.bytes_done = done;
        c.bytes_total = total;
        *self.shown.lock().unwrap_or_else(|e| e.into_inner()) = (done, total);
        if c.last_write.elapsed() < BYTES_EVERY {
            return;
        }
        c.last_write = Instant::now();
        let (phase, start, end) = (c.phase, c.phase.start_percent(), c.phase.end_percent());
        let frac = if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).min(1.0)
        };
        let pct = start + ((end - start) as f64 * frac) as i64;
        drop(g);
        self.write(phase, pct, done, total);
    }

    /// The phase running now.
    pub fn phase(&self) -> Option<Phase> {
        self.cur
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.phase)
    }

    /// End the current phase with `outcome` (`ok`, `failed`, `interrupted`).
    pub fn end(&self, outcome: &str) {
        let mut g = self.cur.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = g.take() {
            self.close(&c, outcome);
        }
    }
}
