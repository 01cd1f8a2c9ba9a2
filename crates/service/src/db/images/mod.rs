//! Custom images (R-FLOW-RESULT): what `DescribeImages` lists. An image row is also the
//! state of its import job (R-FLOW-ASYNC): `state` is IMPORTING until the job ends
//! NORMAL or IMPORTFAILED; `phase`, `progress`, `bytes_*`, `findings` and the error
//! are the job's progress and outcome. The lease columns and the queries that take,
//! renew and end jobs live in [`super::jobs`]; per-phase timings in its `job_phases`.
//!
//! Here: the schema, the image row and creating, reading, renaming and deleting one
//! image; `listing.rs` lists and counts images, `job_records.rs` keeps what an import
//! attempt leaves for the next one.

mod job_records;
mod listing;

use super::sql::{args, Conn, DbError, Row};
use super::{now, random_id, table_columns, Db};
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
    request_id   TEXT NOT NULL DEFAULT '',
    boot_test    INTEGER NOT NULL DEFAULT 0,
    boot_result  TEXT,
    output_upload TEXT,
    kept_findings TEXT
);
CREATE INDEX IF NOT EXISTS images_by_app ON images(app_id, created_at);
CREATE INDEX IF NOT EXISTS images_by_state ON images(state, lease_until);
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id  TEXT NOT NULL,
    part_index INTEGER NOT NULL,
    etag       TEXT NOT NULL,
    md5        TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_index)
);
";

/// Columns added after the first release of the table: (name, definition). A database
/// created before them gets them on open ([`migrate`]).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("virtual_size", "INTEGER NOT NULL DEFAULT 0"),
    ("bytes_total", "INTEGER NOT NULL DEFAULT 0"),
    ("tags", "TEXT NOT NULL DEFAULT '[]'"),
    ("request_id", "TEXT NOT NULL DEFAULT ''"),
    ("boot_test", "INTEGER NOT NULL DEFAULT 0"),
    ("boot_result", "TEXT"),
    ("output_upload", "TEXT"),
    ("kept_findings", "TEXT"),
];

/// Add the columns an older `images` table lacks (idempotent).
pub fn migrate(c: &mut dyn Conn) -> Result<(), DbError> {
    let have = table_columns(c, "images")?;
    for (name, def) in ADDED_COLUMNS {
        if !have.iter().any(|h| h == name) {
            let def = super::sql::ddl(c.backend(), def);
            c.batch(&format!("ALTER TABLE images ADD COLUMN {name} {def}"))?;
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
    /// R-BOOT (issue 17): the import boots its converted image (ImportImage `BootTest`,
    /// else the operator's `boot_test_default`).
    pub boot_test: bool,
    /// The boot test's result (`imgport_policy::BootFacts` as JSON), once it ran.
    pub boot_result: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

pub(crate) const COLS: &str = "image_id, app_id, name, description, os_type, os_version, architecture, force, region, source_url, source_blob, state, phase, progress, bytes_done, bytes_total, size_bytes, virtual_size, error_code, error_message, findings, tags, attempts, request_id, created_at, updated_at, finished_at, boot_test, boot_result";

pub(crate) fn row(r: &Row) -> Result<Image, DbError> {
    Ok(Image {
        image_id: r.text(0)?,
        app_id: r.int(1)?,
        name: r.text(2)?,
        description: r.text(3)?,
        os_type: r.text(4)?,
        os_version: r.text(5)?,
        architecture: r.text(6)?,
        force: r.bool(7)?,
        region: r.text(8)?,
        source_url: r.text(9)?,
        source_blob: r.text(10)?,
        state: r.text(11)?,
        phase: r.text(12)?,
        progress: r.int(13)?,
        bytes_done: r.int(14)?,
        bytes_total: r.int(15)?,
        size_bytes: r.int(16)?,
        virtual_size: r.int(17)?,
        error_code: r.opt_text(18)?,
        error_message: r.opt_text(19)?,
        findings: r.text(20)?,
        tags: r.text(21)?,
        attempts: r.int(22)?,
        request_id: r.text(23)?,
        created_at: r.int(24)?,
        updated_at: r.int(25)?,
        finished_at: r.opt_int(26)?,
        boot_test: r.bool(27)?,
        boot_result: r.opt_text(28)?,
    })
}

/// The images `rows` hold.
pub(crate) fn rows(rows: &[Row]) -> Result<Vec<Image>, DbError> {
    rows.iter().map(row).collect()
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
    /// Boot the converted image before it becomes NORMAL (R-BOOT).
    pub boot_test: bool,
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

/// Why ImportImage could not record an image.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateRefused {
    /// The account already holds [`QUOTA`] images.
    Quota,
    /// The account has an image of this name in the region (`InvalidImageName.Duplicate`);
    /// the id of that image.
    DuplicateName(String),
}

/// The image of account `app_id` named `name` in `region`, other than `except`.
fn named(
    c: &mut dyn Conn,
    app_id: i64,
    region: &str,
    name: &str,
    except: &str,
) -> Result<Option<String>, DbError> {
    c.opt_row(
        "SELECT image_id FROM images WHERE app_id = ?1 AND region = ?2 AND name = ?3 AND image_id != ?4 LIMIT 1",
        args![app_id, region, name, except],
    )?
    .map(|r| r.text(0))
    .transpose()
}

impl Db {
    /// Record a new image in state IMPORTING with a queued job, unless the account
    /// holds [`QUOTA`] images or one of this name in the region (image names are unique
    /// per account and region, as the cloud's are).
    pub fn create_image(&self, n: &NewImage<'_>) -> Result<Result<String, CreateRefused>, DbError> {
        self.tx(|c| {
            let held = c.int(
                "SELECT COUNT(*) FROM images WHERE app_id = ?1",
                args![n.app_id],
            )?;
            if held >= QUOTA {
                return Ok(Err(CreateRefused::Quota));
            }
            if let Some(other) = named(c, n.app_id, n.region, n.name, "")? {
                return Ok(Err(CreateRefused::DuplicateName(other)));
            }
            // 36^8 ids: retry the rare collision instead of failing the request (ON
            // CONFLICT, not a caught error: on PostgreSQL an error aborts the
            // transaction).
            for _ in 0..8 {
                let id = format!("img-{}", random_id(8));
                let added = c.exec(
                    "INSERT INTO images (image_id, app_id, name, description, os_type, os_version, architecture, force, region, source_url, source_blob, state, tags, request_id, created_at, updated_at, boot_test) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,'IMPORTING',?12,?13,?14,?14,?15) ON CONFLICT (image_id) DO NOTHING",
                    args![&id, n.app_id, n.name, n.description, n.os_type, n.os_version, n.architecture, n.force, n.region, n.source_url, n.source_blob, n.tags, n.request_id, now(), n.boot_test],
                )?;
                if added > 0 {
                    return Ok(Ok(id));
                }
            }
            Err(DbError::Other("no free image id after 8 tries".into()))
        })
    }

    /// The image `id` of account `app_id` (tenants see only their own).
    pub fn image(&self, app_id: i64, id: &str) -> Result<Option<Image>, DbError> {
        self.with(|c| {
            c.opt_row(
                &format!("SELECT {COLS} FROM images WHERE app_id = ?1 AND image_id = ?2"),
                args![app_id, id],
            )?
            .as_ref()
            .map(row)
            .transpose()
        })
    }

    /// An image by id, whatever the account (job workers).
    pub fn image_any(&self, id: &str) -> Result<Option<Image>, DbError> {
        self.with(|c| {
            c.opt_row(
                &format!("SELECT {COLS} FROM images WHERE image_id = ?1"),
                args![id],
            )?
            .as_ref()
            .map(row)
            .transpose()
        })
    }

    /// Another image of account `app_id` in `region` named `name` (a rename of `except`
    /// onto it is `InvalidImageName.Duplicate`).
    pub fn image_named(
        &self,
        app_id: i64,
        region: &str,
        name: &str,
        except: &str,
    ) -> Result<Option<String>, DbError> {
        self.with(|c| named(c, app_id, region, name, except))
    }

    /// Rename / describe an image; false when the account has no such image.
    pub fn modify_image(
        &self,
        app_id: i64,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<bool, DbError> {
        self.with(|c| {
            let n = c.exec(
                "UPDATE images SET name = COALESCE(?3, name), description = COALESCE(?4, description), updated_at = ?5 WHERE app_id = ?1 AND image_id = ?2",
                args![app_id, id, name, description, now()],
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
    ) -> Result<Result<(), (String, DeleteRefused)>, DbError> {
        self.tx(|c| {
            for id in ids {
                let state = c
                    .opt_row(
                        "SELECT state FROM images WHERE app_id = ?1 AND image_id = ?2",
                        args![app_id, id],
                    )?
                    .map(|r| r.text(0))
                    .transpose()?;
                match state.as_deref() {
                    None => return Ok(Err((id.clone(), DeleteRefused::NotFound))),
                    Some(IMPORTING) => return Ok(Err((id.clone(), DeleteRefused::Importing))),
                    Some(_) => {}
                }
            }
            for id in ids {
                c.exec(
                    "DELETE FROM images WHERE app_id = ?1 AND image_id = ?2 AND state != 'IMPORTING'",
                    args![app_id, id],
                )?;
                c.exec("DELETE FROM job_phases WHERE image_id = ?1", args![id])?;
            }
            Ok(Ok(()))
        })
    }

    /// Whether `id` is a NORMAL image (its stored file is the image).
    pub fn image_is_normal(&self, id: &str) -> Result<bool, DbError> {
        self.with(|c| {
            Ok(c.int(
                "SELECT COUNT(*) FROM images WHERE image_id = ?1 AND state = 'NORMAL'",
                args![id],
            )? > 0)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::testing::{each_backend, raw_backends};

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
            boot_test: false,
        }
    }

    #[test]
    fn filters_and_pages_in_sql_per_tenant() {
        each_backend(filters_and_pages);
    }

    fn filters_and_pages(db: &Db) {
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
        each_backend(|db| {
            let a = db.create_account("a", false).unwrap().app_id;
            db.tx(|c| {
                for i in 0..QUOTA {
                    c.exec(
                        "INSERT INTO images (image_id, app_id, name, os_type, os_version, architecture, region, source_url, source_blob, state, created_at, updated_at) VALUES (?1, ?2, 'n', 'CentOS', '7', 'x86_64', 'r', 'u', 'b', 'NORMAL', 0, 0)",
                        args![format!("img-q{i:07}"), a],
                    )?;
                }
                Ok::<_, DbError>(())
            })
            .unwrap();
            assert_eq!(
                db.create_image(&new_image(a, "one-more")).unwrap(),
                Err(CreateRefused::Quota)
            );
            // Below the quota, images are created and listed with every column.
            db.with(|c| {
                c.exec(
                    "DELETE FROM images WHERE image_id = 'img-q0000000'",
                    args![],
                )
            })
            .unwrap();
            let id = db.create_image(&new_image(a, "fits")).unwrap().unwrap();
            let img = db.image(a, &id).unwrap().unwrap();
            assert_eq!(
                (
                    img.state.as_str(),
                    img.phase.as_str(),
                    img.finished_at,
                    img.error_code
                ),
                (IMPORTING, "queued", None, None)
            );
            assert!(db.modify_image(a, &id, None, Some("d")).unwrap());
            let img = db.image(a, &id).unwrap().unwrap();
            assert_eq!((img.name.as_str(), img.description.as_str()), ("fits", "d"));
            assert_eq!(
                db.image_state_counts().unwrap(),
                vec![(IMPORTING.to_string(), 1), (NORMAL.to_string(), QUOTA - 1)]
            );
            assert_eq!(
                db.importing_phase_counts().unwrap(),
                vec![("queued".to_string(), 1)]
            );
            assert!(!db.image_is_normal(&id).unwrap());
            assert!(db.image_is_normal("img-q0000001").unwrap());
            assert_eq!(
                db.delete_images(a, &["img-q0000001".into()]).unwrap(),
                Ok(())
            );
            assert!(db.image_any("img-q0000001").unwrap().is_none());
        });
    }

    #[test]
    fn names_are_unique_per_account_and_region() {
        each_backend(|db| {
            let a = db.create_account("a", false).unwrap().app_id;
            let b = db.create_account("b", false).unwrap().app_id;
            let first = db.create_image(&new_image(a, "web")).unwrap().unwrap();
            assert_eq!(
                db.create_image(&new_image(a, "web")).unwrap(),
                Err(CreateRefused::DuplicateName(first.clone()))
            );
            // Another account, another region: the name is free there.
            db.create_image(&new_image(b, "web")).unwrap().unwrap();
            let mut other = new_image(a, "web");
            other.region = "ap-shanghai";
            let shanghai = db.create_image(&other).unwrap().unwrap();
            let second = db.create_image(&new_image(a, "api")).unwrap().unwrap();
            assert_eq!(
                db.image_named(a, "ap-guangzhou", "web", &second).unwrap(),
                Some(first.clone())
            );
            // An image keeps its own name; other regions do not count.
            assert_eq!(
                db.image_named(a, "ap-guangzhou", "web", &first).unwrap(),
                None
            );
            assert_eq!(
                db.image_named(a, "ap-shanghai", "api", &shanghai).unwrap(),
                None
            );
        });
    }

    /// An `images` table made before the added columns gets them, keeping its rows.
    #[test]
    fn migrate_adds_columns_to_an_old_table() {
        for t in raw_backends() {
            eprintln!("--- backend {}", t.backend());
            let old = SCHEMA
                .replace("    virtual_size INTEGER NOT NULL DEFAULT 0,\n", "")
                .replace("    bytes_total  INTEGER NOT NULL DEFAULT 0,\n", "")
                .replace("    tags         TEXT NOT NULL DEFAULT '[]',\n", "")
                .replace(
                    "    finished_at  INTEGER,\n    request_id   TEXT NOT NULL DEFAULT '',\n    boot_test    INTEGER NOT NULL DEFAULT 0,\n    boot_result  TEXT,\n    output_upload TEXT,\n    kept_findings TEXT\n",
                    "    finished_at  INTEGER\n",
                );
            assert!(
                !old.contains("request_id") && !old.contains("boot_") && !old.contains("output_"),
                "{old}"
            );
            t.with(|c| {
                c.batch(&crate::db::sql::ddl(c.backend(), crate::db::accounts::SCHEMA))?;
                c.batch(&crate::db::sql::ddl(c.backend(), &old))?;
                c.exec("INSERT INTO accounts (app_id, name, secret_id, secret_key, created_at) VALUES (7, 'a', 's', 'k', 0)", args![])?;
                c.exec("INSERT INTO images (image_id, app_id, name, os_type, os_version, architecture, region, source_url, source_blob, state, created_at, updated_at) VALUES ('img-old', 7, 'n', 'CentOS', '7', 'x86_64', 'r', 'u', 'b', 'NORMAL', 0, 0)", args![])
            })
            .unwrap();
            let db = t.db.clone().init().unwrap();
            db.clone().init().unwrap();
            let cols = db.with(|c| table_columns(c, "images")).unwrap();
            for (name, _) in ADDED_COLUMNS {
                assert_eq!(cols.iter().filter(|c| c == name).count(), 1, "{name}");
            }
            let img = db.image(7, "img-old").unwrap().unwrap();
            assert_eq!(
                (img.tags.as_str(), img.request_id.as_str(), img.virtual_size),
                ("[]", "", 0)
            );
        }
    }
}
