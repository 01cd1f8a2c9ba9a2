//! Custom images (R-FLOW-RESULT): what `DescribeImages` lists. An image row is also the
//! state of its import job (R-FLOW-ASYNC): `state` is IMPORTING until the job ends
//! NORMAL or IMPORTFAILED; `phase`, `progress`, `bytes_*`, `findings` and the error
//! are the job's progress and outcome. The lease columns and the queries that take,
//! renew and end jobs live in [`super::jobs`]; per-phase timings in its `job_phases`.

use super::{now, random_id, Db};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
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
    finished_at  INTEGER,
    virtual_size INTEGER NOT NULL DEFAULT 0,
    bytes_total  INTEGER NOT NULL DEFAULT 0,
    tags         TEXT NOT NULL DEFAULT '[]',
    request_id   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS images_by_app ON images(app_id, created_at);
CREATE INDEX IF NOT EXISTS images_by_state ON images(state, lease_until);
";

/// Columns added after the first release of the table: (name, definition). A database
/// created before them gets them on open ([`migrate`]).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("virtual_size", "INTEGER NOT NULL DEFAULT 0"),
    ("bytes_total", "INTEGER NOT NULL DEFAULT 0"),
    ("tags", "TEXT NOT NULL DEFAULT '[]'"),
    ("request_id", "TEXT NOT NULL DEFAULT ''"),
];

/// Add the columns an older `images` table lacks (idempotent).
pub fn migrate(c: &Connection) -> rusqlite::Result<()> {
    let have: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('images')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, def) in ADDED_COLUMNS {
        if !have.iter().any(|h| h == name) {
            c.execute_batch(&format!("ALTER TABLE images ADD COLUMN {name} {def}"))?;
        }
    }
    Ok(())
}

/// Image states as DescribeImages spells them.
pub const IMPORTING: &str = "IMPORTING";
pub const NORMAL: &str = "NORMAL";
pub const IMPORTFAILED: &str = "IMPORTFAILED";

/// Custom images one account may hold (`ImageQuotaLimitExceeded` beyond).
pub const QUOTA: i64 = 500;

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
    pub state: String,
    /// The job's current phase; on failure, the phase that failed.
    pub phase: String,
    pub progress: i64,
    /// Guest bytes converted so far (of `bytes_total`).
    pub bytes_done: i64,
    pub bytes_total: i64,
    /// Size of the stored qcow2 file.
    pub size_bytes: i64,
    /// The guest disk's size (ImageSize, rounded up to GB).
    pub virtual_size: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// JSON array of policy findings.
    pub findings: String,
    /// JSON array of `{"Key","Value"}` tags (TagSpecification).
    pub tags: String,
    pub attempts: i64,
    /// The API request that created the image (log correlation).
    pub request_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

pub(crate) const COLS: &str = "image_id, app_id, name, description, os_type, os_version, architecture, force, region, source_url, source_blob, state, phase, progress, bytes_done, bytes_total, size_bytes, virtual_size, error_code, error_message, findings, tags, attempts, request_id, created_at, updated_at, finished_at";

pub(crate) fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Image> {
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
        bytes_total: r.get(15)?,
        size_bytes: r.get(16)?,
        virtual_size: r.get(17)?,
        error_code: r.get(18)?,
        error_message: r.get(19)?,
        findings: r.get(20)?,
        tags: r.get(21)?,
        attempts: r.get(22)?,
        request_id: r.get(23)?,
        created_at: r.get(24)?,
        updated_at: r.get(25)?,
        finished_at: r.get(26)?,
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
    /// JSON array of `{"Key","Value"}`.
    pub tags: &'a str,
    pub request_id: &'a str,
}

/// Filters of DescribeImages (each list: any of its values; lists combine with AND).
#[derive(Debug, Default)]
pub struct ImageFilter {
    pub ids: Vec<String>,
    pub names: Vec<String>,
    pub states: Vec<String>,
    pub platforms: Vec<String>,
    /// Only images imported in this region (images are regional resources).
    pub region: Option<String>,
}

/// Why an image could not be deleted.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteRefused {
    NotFound,
    /// Still IMPORTING: its job owns the files.
    Importing,
}

impl Db {
    /// Record a new image in state IMPORTING with a queued job; `None` when the
    /// account already holds [`QUOTA`] images.
    pub fn create_image(&self, n: &NewImage<'_>) -> rusqlite::Result<Option<String>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let held: i64 = tx.query_row(
                "SELECT COUNT(*) FROM images WHERE app_id = ?1",
                [n.app_id],
                |r| r.get(0),
            )?;
            if held >= QUOTA {
                return Ok(None);
            }
            // 36^8 ids: retry the rare collision instead of failing the request.
            for _ in 0..8 {
                let id = format!("img-{}", random_id(8));
                let r = tx.execute(
                    "INSERT INTO images (image_id, app_id, name, description, os_type, os_version, architecture, force, region, source_url, source_blob, state, tags, request_id, created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,'IMPORTING',?12,?13,?14,?14)",
                    params![id, n.app_id, n.name, n.description, n.os_type, n.os_version, n.architecture, n.force as i64, n.region, n.source_url, n.source_blob, n.tags, n.request_id, now()],
                );
                match r {
                    Ok(_) => {
                        tx.commit()?;
                        return Ok(Some(id));
                    }
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation => {}
                    Err(e) => return Err(e),
                }
            }
            Err(rusqlite::Error::QueryReturnedNoRows)
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

    /// Images of `app_id` matching `f`, newest first: (page, total). Filtering and
    /// paging happen in SQL; the caller bounds the lists and `limit`.
    pub fn images(
        &self,
        app_id: i64,
        f: &ImageFilter,
        offset: i64,
        limit: i64,
    ) -> rusqlite::Result<(Vec<Image>, i64)> {
        let mut sql = String::from(" FROM images WHERE app_id = ?");
        let mut args: Vec<rusqlite::types::Value> = vec![app_id.into()];
        if let Some(r) = &f.region {
            sql.push_str(" AND region = ?");
            args.push(r.clone().into());
        }
        for (col, values) in [
            ("image_id", &f.ids),
            ("name", &f.names),
            ("state", &f.states),
            ("os_type", &f.platforms),
        ] {
            if values.is_empty() {
                continue;
            }
            sql.push_str(&format!(
                " AND {col} IN ({})",
                vec!["?"; values.len()].join(",")
            ));
            args.extend(values.iter().map(|v| v.clone().into()));
        }
        self.with(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*){sql}"),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            let mut page_args = args.clone();
            page_args.push(limit.max(0).into());
            page_args.push(offset.max(0).into());
            let mut st = c.prepare(&format!(
                "SELECT {COLS}{sql} ORDER BY created_at DESC, image_id LIMIT ? OFFSET ?"
            ))?;
            let page = st
                .query_map(params_from_iter(page_args.iter()), row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok((page, total))
        })
    }

    /// Rename / describe an image; false when the account has no such image.
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

    /// Delete the image rows `ids` of `app_id` at once, none if any of them is missing
    /// or still importing (the first such id is returned with the reason).
    pub fn delete_images(
        &self,
        app_id: i64,
        ids: &[String],
    ) -> rusqlite::Result<Result<(), (String, DeleteRefused)>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            for id in ids {
                let state: Option<String> = tx
                    .query_row(
                        "SELECT state FROM images WHERE app_id = ?1 AND image_id = ?2",
                        params![app_id, id],
                        |r| r.get(0),
                    )
                    .optional()?;
                match state.as_deref() {
                    None => return Ok(Err((id.clone(), DeleteRefused::NotFound))),
                    Some(IMPORTING) => return Ok(Err((id.clone(), DeleteRefused::Importing))),
                    Some(_) => {}
                }
            }
            for id in ids {
                tx.execute(
                    "DELETE FROM images WHERE app_id = ?1 AND image_id = ?2 AND state != 'IMPORTING'",
                    params![app_id, id],
                )?;
                tx.execute("DELETE FROM job_phases WHERE image_id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(Ok(()))
        })
    }

    /// Whether `id` is a NORMAL image (its stored file is the image).
    pub fn image_is_normal(&self, id: &str) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM images WHERE image_id = ?1 AND state = 'NORMAL'",
                [id],
                |r| r.get::<_, i64>(0),
            )? > 0)
        })
    }

    /// Images by state (metrics).
    pub fn image_state_counts(&self) -> rusqlite::Result<Vec<(String, i64)>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT state, COUNT(*) FROM images GROUP BY state ORDER BY state")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Importing images by phase (metrics).
    pub fn importing_phase_counts(&self) -> rusqlite::Result<Vec<(String, i64)>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT phase, COUNT(*) FROM images WHERE state = 'IMPORTING' GROUP BY phase ORDER BY phase",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn new_image<'a>(app_id: i64, name: &'a str) -> NewImage<'a> {
        NewImage {
            app_id,
            name,
            description: "",
            os_type: "CentOS",
            os_version: "7",
            architecture: "x86_64",
            force: false,
            region: "ap-guangzhou",
            source_url: "http://127.0.0.1:9001/b/k",
            source_blob: "blob",
            tags: "[]",
            request_id: "r",
        }
    }

    #[test]
    fn filters_and_pages_in_sql_per_tenant() {
        let db = Db::open_in_memory().unwrap();
        let a = db.create_account("a", false).unwrap().app_id;
        let b = db.create_account("b", false).unwrap().app_id;
        let mut ids = Vec::new();
        for i in 0..5 {
            let name = format!("n{i}");
            ids.push(db.create_image(&new_image(a, &name)).unwrap().unwrap());
        }
        db.create_image(&new_image(b, "other")).unwrap().unwrap();
        let (page, total) = db.images(a, &ImageFilter::default(), 1, 2).unwrap();
        assert_eq!(total, 5);
        assert_eq!(page.len(), 2);
        let f = ImageFilter {
            names: vec!["n1".into(), "n3".into(), "other".into()],
            ..Default::default()
        };
        let (page, total) = db.images(a, &f, 0, 100).unwrap();
        assert_eq!(total, 2);
        assert!(page.iter().all(|i| i.app_id == a));
        let f = ImageFilter {
            ids: vec![ids[0].clone()],
            states: vec!["NORMAL".into()],
            ..Default::default()
        };
        assert_eq!(db.images(a, &f, 0, 100).unwrap().1, 0);
        let f = ImageFilter {
            region: Some("ap-shanghai".into()),
            ..Default::default()
        };
        assert_eq!(db.images(a, &f, 0, 100).unwrap().1, 0);
        // Another tenant cannot see, rename or delete a's images.
        assert!(db.image(b, &ids[0]).unwrap().is_none());
        assert!(!db.modify_image(b, &ids[0], Some("x"), None).unwrap());
        assert_eq!(
            db.delete_images(b, &[ids[0].clone()]).unwrap(),
            Err((ids[0].clone(), DeleteRefused::NotFound))
        );
        // Importing images cannot be deleted.
        assert_eq!(
            db.delete_images(a, &[ids[0].clone()]).unwrap(),
            Err((ids[0].clone(), DeleteRefused::Importing))
        );
    }

    #[test]
    fn quota_bounds_the_images_of_an_account() {
        let db = Db::open_in_memory().unwrap();
        let a = db.create_account("a", false).unwrap().app_id;
        db.with(|c| {
            for i in 0..QUOTA {
                c.execute(
                    "INSERT INTO images (image_id, app_id, name, os_type, os_version, architecture, region, source_url, source_blob, state, created_at, updated_at) VALUES (?1, ?2, 'n', 'CentOS', '7', 'x86_64', 'r', 'u', 'b', 'NORMAL', 0, 0)",
                    params![format!("img-q{i:07}"), a],
                )?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(db.create_image(&new_image(a, "one-more")).unwrap(), None);
    }

    #[test]
    fn migrate_adds_columns_to_an_old_table() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE images (image_id TEXT PRIMARY KEY, state TEXT);")
            .unwrap();
        migrate(&c).unwrap();
        migrate(&c).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('images') WHERE name IN ('virtual_size','bytes_total','tags','request_id')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 4);
    }
}
