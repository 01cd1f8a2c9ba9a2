//! The lease heartbeat: while a worker runs a job, a small thread renews the job's
//! lease every third of its length, so long phases (inspection of a large initramfs,
//! conversion of a big disk) never let it expire while the worker is alive. When a
//! renewal finds the lease gone, the job is told to stop ([`StopFlags::lease_lost`]).
//! A worker that dies takes its heartbeat with it: the lease then expires and the
//! job is retaken.

use super::source::StopFlags;
use crate::AppState;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Renews a lease until dropped.
pub struct Heartbeat {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(st: &AppState, image_id: &str, owner: &str, flags: Arc<StopFlags>) -> Heartbeat {
        let lease = st.config.job_lease_secs.max(1) as i64;
        let every = Duration::from_millis((lease as u64 * 1000 / 3).max(200));
        let (tx, rx) = channel::<()>();
        let (st, id, owner) = (st.clone(), image_id.to_string(), owner.to_string());
        let thread = std::thread::Builder::new()
            .name("lease-heartbeat".into())
            .spawn(move || loop {
                match rx.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // Stopped (or the job's worker is gone).
                    _ => return,
                }
                match st.db.heartbeat(&id, &owner, lease) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(image_id = %id, "lease lost: stopping this attempt");
                        flags.lease_lost.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => tracing::warn!(image_id = %id, "renewing the lease: {e}"),
                }
            })
            .ok();
        Heartbeat {
            stop: Some(tx),
            thread,
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
