//! Custom images and their import jobs (R-FLOW-ASYNC, R-FLOW-RESULT). An image row is
//! also its job: `state` IMPORTING while a worker holds the lease, then NORMAL or
//! IMPORTFAILED. Leases (`lease_owner`, `lease_until`) make jobs durable: a worker that
//! dies leaves a job another worker (or the restarted server) takes after the lease
//! expires (`UPDATE … WHERE lease_until < now`, `SELECT … FOR UPDATE SKIP LOCKED` on
//! PostgreSQL).

use super::{now, random_id, Db};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    image_id     TEXT PRIMARY KEY,
    app_id       INTEGER NOT NULL REFERENCES accounts(app_id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    os_type      TEXT NOT NULL,
    os_version   TEXT NOT NULL,
    architecture TEXT NOT NULL,
    force        INTEGER NOT NULL DEFAULT 0,
    region       TEXT NOT NULL,
    source_url   TEXT NOT NULL,
    source_blob  TEXT NOT NULL,
    state        TEXT NOT NULL,
    phase        TEXT NOT NULL DEFAULT 'queued',
    progress     INTEGER NOT NULL DEFAULT 0,
    bytes_done   INTEGER NOT NULL DEFAULT 0,
    size_bytes   INTEGER NOT NULL DEFAULT 0,
    error_code   TEXT,
    error_message TEXT,
    findings     TEXT NOT NULL DEFAULT '[]',
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX IF NOT EXISTS images_by_app ON images(app_id, created_at);
CREATE INDEX IF NOT EXISTS images_by_state ON images(state, lease_until);
";

/// One image (and its import job).
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub image_id: String,
    pub app_id: i64,
    pub name: String,
    pub description: String,
    pub os_type: String,
    pub os_version: String,
    pub architecture: String,
    pub force: bool,
    pub region: String,
    pub source_url: String,
    pub source_blob: String,
    /// IMPORTING, NORMAL, IMPORTFAILED.
    pub state: String,
    pub phase: String,
    pub progress: i64,
    pub bytes_done: i64,
    pub size_bytes: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// JSON array of policy findings.
    pub findings: String,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

const COLS: &str = "image_id, app_id, name, description, os_type, os_version, architecture, force, region, source_url, source_blob, state, phase, progress, bytes_done, size_bytes, error_code, error_message, findings, attempts, created_at, updated_at, finished_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Image> {
    Ok(Image {
        image_id: r.get(0)?,
        app_id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        os_type: r.get(4)?,
        os_version: r.get(5)?,
        architecture: r.get(6)?,
        force: r.get::<_, i64>(7)? != 0,
        region: r.get(8)?,
        source_url: r.get(9)?,
        source_blob: r.get(10)?,
        state: r.get(11)?,
        phase: r.get(12)?,
        progress: r.get(13)?,
        bytes_done: r.get(14)?,
        size_bytes: r.get(15)?,
        error_code: r.get(16)?,
        error_message: r.get(17)?,
        findings: r.get(18)?,
        attempts: r.get(19)?,
        created_at: r.get(20)?,
        updated_at: r.get(21)?,
        finished_at: r.get(22)?,
    })
}

/// What ImportImage records.
pub struct NewImage<'a> {
    pub app_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub os_type: &'a str,
    pub os_version: &'a str,
    pub architecture: &'a str,
    pub force: bool,
    pub region: &'a str,
    pub source_url: &'a str,
    pub source_blob: &'a str,
}

/// Filters of DescribeImages.
#[derive(Default)]
pub struct ImageFilter {
    pub ids: Vec<String>,
    pub names: Vec<String>,
    pub states: Vec<String>,
}

impl Db {
    /// Record a new image in state IMPORTING with a queued job.
    pub fn create_image(&self, n: &NewImage<'_>) -> rusqlite::Result<String> {
        let id = format!("img-{}", random_id(8));
        self.with(|c| {
            c.execute(
                "INSERT INTO images (image_id, app_id, name, description, os_type, os_version, architecture, force, region, source_url, source_blob, state, created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,'IMPORTING',?12,?12)",
                params![id, n.app_id, n.name, n.description, n.os_type, n.os_version, n.architecture, n.force as i64, n.region, n.source_url, n.source_blob, now()],
            )?;
            Ok(id.clone())
        })
    }

    /// The image `id` of account `app_id` (tenants see only their own).
    pub fn image(&self, app_id: i64, id: &str) -> rusqlite::Result<Option<Image>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLS} FROM images WHERE app_id = ?1 AND image_id = ?2"),
                params![app_id, id],
                row,
            )
            .optional()
        })
    }

    /// An image by id, whatever the account (job workers).
    pub fn image_any(&self, id: &str) -> rusqlite::Result<Option<Image>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLS} FROM images WHERE image_id = ?1"),
                [id],
                row,
            )
            .optional()
        })
    }

    /// Images of `app_id` matching `f`, newest first: (page, total).
    pub fn images(
        &self,
        app_id: i64,
        f: &ImageFilter,
        offset: i64,
        limit: i64,
    ) -> rusqlite::Result<(Vec<Image>, i64)> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLS} FROM images WHERE app_id = ?1 ORDER BY created_at DESC, image_id"
            ))?;
            let all: Vec<Image> = st
                .query_map([app_id], row)?
                .collect::<rusqlite::Result<_>>()?;
            let keep = |i: &Image| {
                (f.ids.is_empty() || f.ids.contains(&i.image_id))
                    && (f.names.is_empty() || f.names.contains(&i.name))
                    && (f.states.is_empty() || f.states.contains(&i.state))
            };
            let matching: Vec<Image> = all.into_iter().filter(keep).collect();
            let total = matching.len() as i64;
            Ok((
                matching
                    .into_iter()
                    .skip(offset.max(0) as usize)
                    .take(limit.max(0) as usize)
                    .collect(),
                total,
            ))
        })
    }

    /// Rename / describe an image.
    pub fn modify_image(
        &self,
        app_id: i64,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> rusqlite::Result<bool> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE images SET name = COALESCE(?3, name), description = COALESCE(?4, description), updated_at = ?5 WHERE app_id = ?1 AND image_id = ?2",
                params![app_id, id, name, description, now()],
            )?;
            Ok(n > 0)
        })
    }

    /// Delete an image row (the caller removes its stored file).
    pub fn delete_image(&self, app_id: i64, id: &str) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM images WHERE app_id = ?1 AND image_id = ?2",
                params![app_id, id],
            )? > 0)
        })
    }

    /// Take the oldest job that is IMPORTING and not leased (or whose lease expired),
    /// for `secs` seconds. At most `max_attempts` takes per job: a job taken that many
    /// times (its workers kept dying) is failed instead.
    pub fn lease_job(
        &self,
        owner: &str,
        secs: i64,
        max_attempts: i64,
    ) -> rusqlite::Result<Option<Image>> {
        self.with(|c| {
            let t = now();
            c.execute(
                "UPDATE images SET state = 'IMPORTFAILED', phase = 'failed', error_code = 'InternalError', error_message = 'the import was interrupted too many times; please import again', lease_owner = NULL, finished_at = ?1, updated_at = ?1 WHERE state = 'IMPORTING' AND lease_until < ?1 AND attempts >= ?2",
                params![t, max_attempts],
            )?;
            let id: Option<String> = c
                .query_row(
                    "SELECT image_id FROM images WHERE state = 'IMPORTING' AND lease_until < ?1 ORDER BY created_at LIMIT 1",
                    [t],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else { return Ok(None) };
            let n = c.execute(
                "UPDATE images SET lease_owner = ?2, lease_until = ?3, attempts = attempts + 1, updated_at = ?4 WHERE image_id = ?1 AND state = 'IMPORTING' AND lease_until < ?4",
                params![id, owner, t + secs, t],
            )?;
            if n == 0 {
                return Ok(None);
            }
            c.query_row(
                &format!("SELECT {COLS} FROM images WHERE image_id = ?1"),
                [&id],
                row,
            )
            .optional()
        })
    }

    /// Renew the lease and record progress; false when the lease was lost.
    pub fn job_progress(
        &self,
        id: &str,
        owner: &str,
        secs: i64,
        phase: &str,
        progress: i64,
        bytes_done: i64,
    ) -> rusqlite::Result<bool> {
        self.with(|c| {
            let t = now();
            Ok(c.execute(
                "UPDATE images SET lease_until = ?3, phase = ?4, progress = ?5, bytes_done = ?6, updated_at = ?7 WHERE image_id = ?1 AND lease_owner = ?2 AND state = 'IMPORTING'",
                params![id, owner, t + secs, phase, progress, bytes_done, t],
            )? > 0)
        })
    }

    /// End a job: NORMAL (with its stored size) or IMPORTFAILED (with code and message).
    #[allow(clippy::too_many_arguments)]
    pub fn finish_job(
        &self,
        id: &str,
        owner: &str,
        ok: bool,
        size_bytes: i64,
        code: Option<&str>,
        message: Option<&str>,
        findings_json: &str,
    ) -> rusqlite::Result<bool> {
        self.with(|c| {
            let t = now();
            Ok(c.execute(
                "UPDATE images SET state = ?3, phase = ?4, progress = ?5, size_bytes = ?6, error_code = ?7, error_message = ?8, findings = ?9, lease_owner = NULL, lease_until = 0, finished_at = ?10, updated_at = ?10 WHERE image_id = ?1 AND lease_owner = ?2 AND state = 'IMPORTING'",
                params![
                    id,
                    owner,
                    if ok { "NORMAL" } else { "IMPORTFAILED" },
                    if ok { "done" } else { "failed" },
                    if ok { 100 } else { 0 },
                    size_bytes,
                    code,
                    message,
                    findings_json,
                    t
                ],
            )? > 0)
        })
    }

    /// Jobs by state (metrics).
    pub fn image_state_counts(&self) -> rusqlite::Result<Vec<(String, i64)>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT state, COUNT(*) FROM images GROUP BY state")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }
}
