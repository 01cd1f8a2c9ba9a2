//! One import worker: fail the jobs whose workers kept dying, lease the next job, run
//! it under a heartbeat, and end it — NORMAL or IMPORTFAILED with its messages in one
//! transaction — or give it back when interrupted.

use super::heartbeat::Heartbeat;
use super::pipeline::{self, Attempt, Outcome};
use super::progress::Progress;
use super::source::{Interrupt, StopFlags};
use super::{Phase, MAX_ATTEMPTS};
use crate::db::images::{Image, IMPORTING, NORMAL};
use crate::db::jobs::{JobEnd, Lease};
use crate::AppState;
use imgport_policy::{BootFacts, Code, Finding};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Worker {
    pub st: AppState,
    pub owner: String,
    pub draining: Arc<AtomicBool>,
    pub abort: Arc<AtomicBool>,
    pub threads_per_job: usize,
    pub read_rate: Option<u64>,
}

fn findings_json(f: &[Finding]) -> String {
    serde_json::to_string(f).unwrap_or_else(|_| "[]".into())
}

/// The boot test's result as stored (`images.boot_result`).
fn boot_json(b: Option<&BootFacts>) -> Option<String> {
    b.and_then(|b| serde_json::to_string(b).ok())
}

impl Worker {
    pub fn run(self) {
        let lease = self.st.config.job_lease_secs.max(1) as i64;
        while !self.draining.load(Ordering::Relaxed) {
            self.fail_exhausted();
            match self.st.db.lease_job(&self.owner, lease, MAX_ATTEMPTS) {
                Ok(Some(job)) => {
                    let span = tracing::info_span!(
                        "job",
                        image_id = %job.image_id,
                        request_id = %job.request_id,
                        attempt = job.attempts
                    );
                    let _g = span.enter();
                    self.run_job(job);
                }
                Ok(None) => self.st.wait_for_work(Duration::from_millis(1000)),
                Err(e) => {
                    tracing::error!("leasing a job: {e}");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    /// Jobs taken [`MAX_ATTEMPTS`] times whose last lease expired: fail them.
    fn fail_exhausted(&self) {
        let Ok(stuck) = self.st.db.exhausted_jobs(MAX_ATTEMPTS) else {
            return;
        };
        for job in stuck {
            let message = format!(
                "the import was interrupted {} times (the service stopped while it ran) and was given up; import the image again",
                job.attempts
            );
            let notice = crate::messages::failure(&job, Code::InternalError, &message, &[], None);
            let end = JobEnd::Failed {
                code: Code::InternalError.as_str(),
                message: &message,
                findings_json: "[]",
                boot_json: None,
            };
            let lease = Lease::Exhausted {
                max_attempts: MAX_ATTEMPTS,
            };
            if let Ok(true) = self.st.db.finish_job(&job.image_id, lease, &end, &notice) {
                tracing::warn!(image_id = %job.image_id, attempts = job.attempts, "import given up");
                super::files::remove_image(&self.st, &job.image_id);
                crate::metrics::job_finished(Code::InternalError.as_str(), age(&job));
            }
        }
    }

    fn run_job(&self, mut job: Image) {
        if job.attempts > 1 {
            crate::metrics::retake();
            tracing::info!("retaking an import whose previous attempt stopped");
        }
        let stop = StopFlags::new(self.abort.clone());
        let _heartbeat = Heartbeat::start(&self.st, &job.image_id, &self.owner, stop.clone());
        let progress = Progress::new(
            &self.st,
            &job.image_id,
            &self.owner,
            job.attempts,
            stop.clone(),
        );
        let outcome = pipeline::run(&Attempt {
            st: &self.st,
            job: &job,
            progress: &progress,
            stop: stop.clone(),
            threads: self.threads_per_job,
            read_rate: self.read_rate,
        });
        let lease = Lease::Owner(&self.owner);
        let (ended, outcome_label) = match outcome {
            Outcome::Interrupted(why) => {
                progress.end("interrupted");
                self.interrupted(&job, why);
                return;
            }
            Outcome::Normal {
                stored_size,
                virtual_size,
                findings,
                boot,
            } => {
                progress.enter(Phase::Notify);
                let notice = crate::messages::success(&job, virtual_size, &findings, boot.as_ref());
                let fj = findings_json(&findings);
                let bj = boot_json(boot.as_ref());
                let end = JobEnd::Normal {
                    stored_size: stored_size as i64,
                    virtual_size: virtual_size as i64,
                    findings_json: &fj,
                    boot_json: bj.as_deref(),
                };
                (
                    self.st.db.finish_job(&job.image_id, lease, &end, &notice),
                    "normal".to_string(),
                )
            }
            Outcome::Failed {
                code,
                message,
                findings,
                boot,
            } => {
                if let Some(p) = progress.phase() {
                    job.phase = p.as_str().to_string();
                }
                progress.end("failed");
                super::files::remove_image(&self.st, &job.image_id);
                let notice =
                    crate::messages::failure(&job, code, &message, &findings, boot.as_ref());
                let fj = findings_json(&findings);
                let bj = boot_json(boot.as_ref());
                let end = JobEnd::Failed {
                    code: code.as_str(),
                    message: &message,
                    findings_json: &fj,
                    boot_json: bj.as_deref(),
                };
                tracing::info!(code = %code, phase = %job.phase, "import refused: {message}");
                (
                    self.st.db.finish_job(&job.image_id, lease, &end, &notice),
                    code.as_str().to_string(),
                )
            }
        };
        match ended {
            Ok(true) => {
                progress.end("ok");
                crate::metrics::job_finished(&outcome_label, age(&job));
                tracing::info!(outcome = %outcome_label, "import finished");
            }
            Ok(false) => {
                progress.end("interrupted");
                self.interrupted(&job, Interrupt::LeaseLost);
            }
            Err(e) => {
                // The lease stays with this worker until it expires; the job is then
                // retaken (at most MAX_ATTEMPTS times), so it cannot stay IMPORTING.
                progress.end("interrupted");
                tracing::error!("recording the end of the import: {e}");
            }
        }
    }

    /// The attempt stopped before recording an end.
    fn interrupted(&self, job: &Image, why: Interrupt) {
        match why {
            Interrupt::Shutdown => {
                super::files::remove_image(&self.st, &job.image_id);
                match self.st.db.release_job(&job.image_id, &self.owner) {
                    Ok(true) => tracing::info!("import given back for the next start"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("giving the import back: {e}"),
                }
            }
            Interrupt::LeaseLost => {
                // Another worker owns the job: it replaces or removes the stored file.
                // Only when nobody will (the job ended without NORMAL) is it removed here.
                tracing::warn!("lease lost; this attempt's result is discarded");
                if let Ok(Some(img)) = self.st.db.image_any(&job.image_id) {
                    if img.state != IMPORTING && img.state != NORMAL {
                        super::files::remove_image(&self.st, &job.image_id);
                    }
                }
            }
        }
    }
}

/// Seconds since the job was submitted.
fn age(job: &Image) -> f64 {
    (crate::db::now() - job.created_at).max(0) as f64
}
