//! Import jobs (R-FLOW-ASYNC): leases on image rows, progress, per-phase timings.
//!
//! A job is the IMPORTING image row. A worker takes it with one atomic `UPDATE … WHERE
//! image_id = (SELECT … WHERE lease_until < now … LIMIT 1)` (on PostgreSQL the
//! sub-select is `FOR UPDATE SKIP LOCKED`: workers racing for jobs take different rows
//! instead of waiting on one), holds it by
//! renewing `lease_until` from a heartbeat, and ends it with an `UPDATE … WHERE
//! lease_owner = me`: a worker that lost its lease (it stalled, another worker took
//! the job) can never overwrite the outcome. A worker or server that dies leaves the
//! lease to expire; the next take counts one more attempt, and a job taken
//! `max_attempts` times without ending is failed (`InternalError`) instead of looping.
//! Ending a job and writing its messages (R-FLOW-ASYNC) is one transaction, so a crash
//! cannot lose the notice of a finished import nor send one for an unfinished import.

use super::images::{row, rows, Image, COLS};
use super::messages::{deliver_tx, Notice};
use super::sql::{args, Backend, DbError};
use super::{now, Db};
use serde::Serialize;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS job_phases (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id    TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    phase       TEXT NOT NULL,
    worker      TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    elapsed_ms  INTEGER NOT NULL,
    bytes       INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_phases_by_image ON job_phases(image_id, id);
";

/// Timing rows kept per image (bounds a job that is retaken many times).
const MAX_PHASE_ROWS: i64 = 200;

/// Which lease may end a job.
#[derive(Debug, Clone, Copy)]
pub enum Lease<'a> {
    /// The worker holding the lease.
    Owner(&'a str),
    /// Nobody: the lease expired after `max_attempts` takes (the workers kept dying).
    Exhausted { max_attempts: i64 },
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum JobEnd<'a> {
    Normal {
        stored_size: i64,
        virtual_size: i64,
        findings_json: &'a str,
        /// The boot test's result (R-BOOT), when the import ran one.
        boot_json: Option<&'a str>,
    },
    Failed {
        code: &'a str,
        message: &'a str,
        findings_json: &'a str,
        boot_json: Option<&'a str>,
    },
}

/// One phase of one attempt, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    pub attempt: i64,
    pub phase: String,
    pub worker: String,
    /// Unix milliseconds.
    pub started_ms: i64,
    pub elapsed_ms: i64,
    pub bytes: i64,
    /// `ok`, `failed` or `interrupted`.
    pub outcome: String,
}

impl Db {
    /// Take the oldest IMPORTING job whose lease is free or expired and that has been
    /// taken fewer than `max_attempts` times, for `secs` seconds.
    pub fn lease_job(
        &self,
        owner: &str,
        secs: i64,
        max_attempts: i64,
    ) -> Result<Option<Image>, DbError> {
        self.with(|c| {
            let t = now();
            // One statement: SQLite runs it under its write lock; on PostgreSQL the row
            // is locked by the sub-select (rows other workers hold are skipped) and the
            // outer conditions are checked again on the locked row.
            let lock = match c.backend() {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            };
            let taken = c.opt_row(
                &format!(
                    "UPDATE images SET lease_owner = ?1, lease_until = ?2, attempts = attempts + 1, updated_at = ?3 \
                     WHERE image_id = (SELECT image_id FROM images WHERE state = 'IMPORTING' AND lease_until < ?3 AND attempts < ?4 ORDER BY created_at, image_id LIMIT 1{lock}) \
                     AND state = 'IMPORTING' AND lease_until < ?3 AND attempts < ?4 RETURNING {COLS}"
                ),
                args![owner, t + secs, t, max_attempts],
            )?;
            taken.as_ref().map(row).transpose()
        })
    }

    /// IMPORTING jobs whose lease expired after `max_attempts` takes.
    pub fn exhausted_jobs(&self, max_attempts: i64) -> Result<Vec<Image>, DbError> {
        self.with(|c| {
            rows(&c.rows(
                &format!(
                    "SELECT {COLS} FROM images WHERE state = 'IMPORTING' AND lease_until < ?1 AND attempts >= ?2 ORDER BY created_at LIMIT 100"
                ),
                args![now(), max_attempts],
            )?)
        })
    }

    /// Renew `owner`'s lease on `id` for `secs` seconds; false when it was lost.
    pub fn heartbeat(&self, id: &str, owner: &str, secs: i64) -> Result<bool, DbError> {
        self.with(|c| {
            Ok(c.exec(
                "UPDATE images SET lease_until = ?3 WHERE image_id = ?1 AND lease_owner = ?2 AND state = 'IMPORTING'",
                args![id, owner, now() + secs],
            )? > 0)
        })
    }

    /// Record progress (and renew the lease); false when the lease was lost.
    #[allow(clippy::too_many_arguments)]
    pub fn job_progress(
        &self,
        id: &str,
        owner: &str,
        secs: i64,
        phase: &str,
        progress: i64,
        bytes_done: i64,
        bytes_total: i64,
    ) -> Result<bool, DbError> {
        self.with(|c| {
            let t = now();
            Ok(c.exec(
                // The percent never goes back (issue 13 item 5): a retaken job shows
                // its phase again from the start, but not less progress than before.
                "UPDATE images SET lease_until = ?3, phase = ?4, progress = CASE WHEN ?5 > progress THEN ?5 ELSE progress END, bytes_done = ?6, bytes_total = ?7, updated_at = ?8 WHERE image_id = ?1 AND lease_owner = ?2 AND state = 'IMPORTING'",
                args![id, owner, t + secs, phase, progress, bytes_done, bytes_total, t],
            )? > 0)
        })
    }

    /// Give a job back without counting the attempt (graceful shutdown): another
    /// worker, or this server when it restarts, takes it at once.
    pub fn release_job(&self, id: &str, owner: &str) -> Result<bool, DbError> {
        self.with(|c| {
            Ok(c.exec(
                "UPDATE images SET lease_owner = NULL, lease_until = 0, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, phase = 'queued', bytes_done = 0, updated_at = ?3 WHERE image_id = ?1 AND lease_owner = ?2 AND state = 'IMPORTING'",
                args![id, owner, now()],
            )? > 0)
        })
    }

    /// End job `id` as `end` if `lease` still allows it, and in the same transaction
    /// write `notice` to the account's subscribed users (R-FLOW-ASYNC). Returns false
    /// (and changes nothing) when the lease was lost or the job already ended.
    pub fn finish_job(
        &self,
        id: &str,
        lease: Lease<'_>,
        end: &JobEnd<'_>,
        notice: &Notice,
    ) -> Result<bool, DbError> {
        self.tx(|c| {
            let t = now();
            let guard = match lease {
                Lease::Owner(o) => (o.to_string(), i64::MAX, i64::MAX),
                // No owner matches '' (owners are never empty): the other branch applies.
                Lease::Exhausted { max_attempts } => (String::new(), t, max_attempts),
            };
            let cond = "image_id = ?1 AND state = 'IMPORTING' AND (lease_owner = ?2 OR (?2 = '' AND lease_until < ?3 AND attempts >= ?4))";
            let n = match end {
                JobEnd::Normal {
                    stored_size,
                    virtual_size,
                    findings_json,
                    boot_json,
                } => c.exec(
                    &format!("UPDATE images SET state = 'NORMAL', phase = 'done', progress = 100, size_bytes = ?5, virtual_size = ?6, findings = ?7, error_code = NULL, error_message = NULL, lease_owner = NULL, lease_until = 0, finished_at = ?8, updated_at = ?8, boot_result = ?9 WHERE {cond}"),
                    args![id, &guard.0, guard.1, guard.2, *stored_size, *virtual_size, *findings_json, t, *boot_json],
                )?,
                JobEnd::Failed {
                    code,
                    message,
                    findings_json,
                    boot_json,
                } => c.exec(
                    &format!("UPDATE images SET state = 'IMPORTFAILED', error_code = ?5, error_message = ?6, findings = ?7, lease_owner = NULL, lease_until = 0, finished_at = ?8, updated_at = ?8, boot_result = ?9 WHERE {cond}"),
                    args![id, &guard.0, guard.1, guard.2, *code, *message, *findings_json, t, *boot_json],
                )?,
            };
            if n == 0 {
                return Ok(false);
            }
            let app_id = c.int("SELECT app_id FROM images WHERE image_id = ?1", args![id])?;
            deliver_tx(c, app_id, id, notice)?;
            Ok(true)
        })
    }

    /// Record one phase of one attempt (timings shown by DescribeImages).
    #[allow(clippy::too_many_arguments)]
    pub fn record_phase(
        &self,
        id: &str,
        attempt: i64,
        phase: &str,
        worker: &str,
        started_ms: i64,
        elapsed_ms: i64,
        bytes: i64,
        outcome: &str,
    ) -> Result<(), DbError> {
        self.tx(|c| {
            c.exec(
                "INSERT INTO job_phases (image_id, attempt, phase, worker, started_ms, elapsed_ms, bytes, outcome) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                args![id, attempt, phase, worker, started_ms, elapsed_ms, bytes, outcome],
            )?;
            c.exec(
                "DELETE FROM job_phases WHERE image_id = ?1 AND id NOT IN (SELECT id FROM job_phases WHERE image_id = ?1 ORDER BY id DESC LIMIT ?2)",
                args![id, MAX_PHASE_ROWS],
            )?;
            Ok(())
        })
    }

    /// The recorded phases of `id`, oldest first.
    pub fn job_phases(&self, id: &str) -> Result<Vec<PhaseTiming>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT attempt, phase, worker, started_ms, elapsed_ms, bytes, outcome FROM job_phases WHERE image_id = ?1 ORDER BY id",
                args![id],
            )?
            .iter()
            .map(|r| {
                Ok(PhaseTiming {
                    attempt: r.int(0)?,
                    phase: r.text(1)?,
                    worker: r.text(2)?,
                    started_ms: r.int(3)?,
                    elapsed_ms: r.int(4)?,
                    bytes: r.int(5)?,
                    outcome: r.text(6)?,
                })
            })
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::images::NewImage;
    use crate::db::testing::each_backend;

    fn setup(db: &Db) -> (i64, String) {
        let a = db.create_account("acct", false).unwrap().app_id;
        let id = db
            .create_image(&NewImage {
                app_id: a,
                name: "n",
                description: "",
                os_type: "CentOS",
                os_version: "7",
                architecture: "x86_64",
                force: false,
                region: "ap-guangzhou",
                source_url: "u",
                source_blob: "b",
                tags: "[]",
                request_id: "r",
                boot_test: false,
            })
            .unwrap()
            .unwrap();
        (a, id)
    }

    fn notice() -> Notice {
        Notice {
            title: "t".into(),
            body: "b".into(),
            code: None,
            state: "NORMAL".into(),
            image_name: "n".into(),
        }
    }

    fn expire(db: &Db, id: &str) {
        db.with(|c| {
            c.exec(
                "UPDATE images SET lease_until = 0 WHERE image_id = ?1",
                args![id],
            )
        })
        .unwrap();
    }

    /// Issue 13 item 5: a retaken job starts its phases again, its percent does not
    /// go back; a job given back on shutdown keeps its percent too.
    #[test]
    fn progress_never_goes_back() {
        each_backend(|db| {
            let (_, id) = setup(db);
            db.lease_job("w1", 30, 3).unwrap().unwrap();
            assert!(db
                .job_progress(&id, "w1", 30, "convert", 60, 5, 10)
                .unwrap());
            expire(db, &id);
            db.lease_job("w2", 30, 3).unwrap().unwrap();
            assert!(db.job_progress(&id, "w2", 30, "fetch", 1, 0, 0).unwrap());
            let img = db.image_any(&id).unwrap().unwrap();
            assert_eq!((img.phase.as_str(), img.progress), ("fetch", 60));
            assert!(db.job_progress(&id, "w2", 30, "convert", 70, 0, 0).unwrap());
            assert!(db.release_job(&id, "w2").unwrap());
            assert_eq!(db.image_any(&id).unwrap().unwrap().progress, 70);
        });
    }

    #[test]
    fn one_worker_holds_a_job_and_a_lost_lease_cannot_end_it() {
        each_backend(|db| {
            let (_, id) = setup(db);
            let j = db.lease_job("w1", 30, 3).unwrap().unwrap();
            assert_eq!((j.image_id.as_str(), j.attempts), (id.as_str(), 1));
            assert!(db.lease_job("w2", 30, 3).unwrap().is_none(), "leased twice");
            assert!(db.heartbeat(&id, "w1", 30).unwrap());
            assert!(!db.heartbeat(&id, "w2", 30).unwrap());
            // w1 stalls; its lease expires and w2 takes the job.
            expire(db, &id);
            assert_eq!(db.lease_job("w2", 30, 3).unwrap().unwrap().attempts, 2);
            let end = JobEnd::Normal {
                stored_size: 1,
                virtual_size: 2,
                findings_json: "[]",
                boot_json: None,
            };
            assert!(!db
                .finish_job(&id, Lease::Owner("w1"), &end, &notice())
                .unwrap());
            assert!(!db.job_progress(&id, "w1", 30, "convert", 50, 0, 0).unwrap());
            assert!(db
                .finish_job(&id, Lease::Owner("w2"), &end, &notice())
                .unwrap());
            let img = db.image_any(&id).unwrap().unwrap();
            assert_eq!((img.state.as_str(), img.progress), ("NORMAL", 100));
            // Ended jobs are never taken again.
            expire(db, &id);
            assert!(db.lease_job("w3", 30, 3).unwrap().is_none());
        });
    }

    #[test]
    fn a_job_whose_workers_keep_dying_fails_after_max_attempts() {
        each_backend(|db| {
            let (app, id) = setup(db);
            for w in ["w1", "w2", "w3"] {
                assert!(db.lease_job(w, 30, 3).unwrap().is_some());
                expire(db, &id);
            }
            assert!(db.lease_job("w4", 30, 3).unwrap().is_none());
            let stuck = db.exhausted_jobs(3).unwrap();
            assert_eq!(stuck.len(), 1);
            let end = JobEnd::Failed {
                code: "InternalError",
                message: "m",
                findings_json: "[]",
                boot_json: None,
            };
            let n = Notice {
                code: Some("InternalError".into()),
                ..notice()
            };
            assert!(db
                .finish_job(&id, Lease::Exhausted { max_attempts: 3 }, &end, &n)
                .unwrap());
            let img = db.image_any(&id).unwrap().unwrap();
            assert_eq!(img.state, "IMPORTFAILED");
            assert_eq!(img.error_code.as_deref(), Some("InternalError"));
            // The owner user (subscribed by default) got the message in the same transaction.
            let user = db.user_id(app, "acct").unwrap().unwrap();
            let (msgs, total, _) = db.messages(user, 0, 10).unwrap();
            assert_eq!(total, 1);
            assert_eq!(msgs[0].code.as_deref(), Some("InternalError"));
        });
    }

    #[test]
    fn a_live_lease_is_not_exhausted_and_release_does_not_count() {
        each_backend(|db| {
            let (_, id) = setup(db);
            db.lease_job("w1", 30, 1).unwrap().unwrap();
            assert!(db.exhausted_jobs(1).unwrap().is_empty());
            let end = JobEnd::Failed {
                code: "InternalError",
                message: "m",
                findings_json: "[]",
                boot_json: None,
            };
            assert!(!db
                .finish_job(&id, Lease::Exhausted { max_attempts: 1 }, &end, &notice())
                .unwrap());
            assert!(db.release_job(&id, "w1").unwrap());
            let j = db.lease_job("w2", 30, 1).unwrap().unwrap();
            assert_eq!(j.attempts, 1);
        });
    }

    #[test]
    fn phase_rows_are_bounded() {
        each_backend(|db| {
            let (_, id) = setup(db);
            for i in 0..(MAX_PHASE_ROWS + 10) {
                db.record_phase(&id, 1, "convert", "w", i, 1, 0, "ok")
                    .unwrap();
            }
            let p = db.job_phases(&id).unwrap();
            assert_eq!(p.len() as i64, MAX_PHASE_ROWS);
            assert_eq!(p.last().unwrap().started_ms, MAX_PHASE_ROWS + 9);
        });
    }

    /// Workers racing for jobs: each job goes to exactly one of them, and every job is
    /// taken (on PostgreSQL, several connections really run at once).
    #[test]
    fn racing_workers_take_each_job_exactly_once() {
        each_backend(|db| {
            let (a, first) = setup(db);
            let mut ids = vec![first];
            for i in 0..11 {
                let mut n = crate::db::images::tests::new_image(a, "n");
                let name = format!("n{i}");
                n.name = &name;
                ids.push(db.create_image(&n).unwrap().unwrap());
            }
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let taken: Vec<Vec<String>> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..4)
                    .map(|w| {
                        let start = start.clone();
                        s.spawn(move || {
                            start.wait();
                            let mut mine = Vec::new();
                            while let Some(j) = db.lease_job(&format!("w{w}"), 30, 3).unwrap() {
                                mine.push(j.image_id);
                            }
                            mine
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let mut all: Vec<String> = taken.concat();
            all.sort();
            let mut want = ids.clone();
            want.sort();
            assert_eq!(all, want, "taken: {taken:?}");
            for id in &ids {
                assert_eq!(db.image_any(id).unwrap().unwrap().attempts, 1);
            }
        });
    }

    /// Two workers asking at the same moment for the one free job: one gets it.
    #[test]
    fn two_workers_racing_for_one_job_one_wins() {
        each_backend(|db| {
            let (_, id) = setup(db);
            for round in 0..20 {
                let start = std::sync::Arc::new(std::sync::Barrier::new(2));
                let got: Vec<bool> = std::thread::scope(|s| {
                    let hs: Vec<_> = ["a", "b"]
                        .into_iter()
                        .map(|w| {
                            let start = start.clone();
                            s.spawn(move || {
                                start.wait();
                                db.lease_job(w, 30, 1000).unwrap().is_some()
                            })
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).collect()
                });
                assert_eq!(
                    got.iter().filter(|g| **g).count(),
                    1,
                    "round {round}: {got:?}"
                );
                expire(db, &id);
            }
            assert_eq!(db.image_any(&id).unwrap().unwrap().attempts, 20);
        });
    }
}
