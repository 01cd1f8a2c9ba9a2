//! Object-store metadata (R-FLOW-UPLOAD): objects (key → blob, size, ETag, ACL, stored
//! headers), unfinished multipart uploads and their parts, and the presigned-URL
//! signatures already used for an import (a signed URL imports once, R-ERR InvalidUrl).
//! The bytes themselves live in the [`crate::objects::ObjectStore`] under the blob ids.

use super::sql::{args, Conn, DbError, Row};
use super::{now, table_columns, Db};
use serde::Serialize;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    bucket      TEXT NOT NULL REFERENCES buckets(name),
    key         TEXT NOT NULL,
    blob        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    etag        TEXT NOT NULL,
    acl         TEXT NOT NULL DEFAULT 'default',
    headers     TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS multipart_uploads (
    upload_id   TEXT PRIMARY KEY,
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    app_id      INTEGER NOT NULL,
    acl         TEXT NOT NULL,
    headers     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS multipart_uploads_by_key ON multipart_uploads(bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS multipart_parts (
    upload_id   TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    blob        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    etag        TEXT NOT NULL,
    checksum    TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
CREATE TABLE IF NOT EXISTS used_signatures (
    signature   TEXT PRIMARY KEY,
    used_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL DEFAULT 0,
    repeatable  TEXT NOT NULL DEFAULT ''
);
";

/// Columns the first `objects` table lacked: (name, definition).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("acl", "TEXT NOT NULL DEFAULT 'default'"),
    ("headers", "TEXT NOT NULL DEFAULT '[]'"),
];

/// Bring an `objects` table made by an older build up to date (idempotent): add the
/// missing columns and carry its `public_read` flag over to `acl`.
pub fn migrate(c: &mut dyn Conn) -> Result<(), DbError> {
    // `used_signatures` first had no expiry: its old rows keep 0 (never pruned).
    if !table_columns(c, "used_signatures")?
        .iter()
        .any(|h| h == "expires_at")
    {
        let def = super::sql::ddl(c.backend(), "INTEGER NOT NULL DEFAULT 0");
        c.batch(&format!(
            "ALTER TABLE used_signatures ADD COLUMN expires_at {def}"
        ))?;
    }
    // … and no `repeatable` (every old record is single-use).
    if !table_columns(c, "used_signatures")?
        .iter()
        .any(|h| h == "repeatable")
    {
        let def = super::sql::ddl(c.backend(), "TEXT NOT NULL DEFAULT ''");
        c.batch(&format!(
            "ALTER TABLE used_signatures ADD COLUMN repeatable {def}"
        ))?;
    }
    let have = table_columns(c, "objects")?;
    for (name, def) in ADDED_COLUMNS {
        if !have.iter().any(|h| h == name) {
            let def = super::sql::ddl(c.backend(), def);
            c.batch(&format!("ALTER TABLE objects ADD COLUMN {name} {def}"))?;
            if *name == "acl" && have.iter().any(|h| h == "public_read") {
                c.batch("UPDATE objects SET acl = 'public-read' WHERE public_read = 1")?;
            }
        }
    }
    Ok(())
}

/// An object's ACL: `default` follows the bucket's, `private`, or `public-read`.
pub const ACL_DEFAULT: &str = "default";
pub const ACL_PRIVATE: &str = "private";
pub const ACL_PUBLIC_READ: &str = "public-read";

/// One stored object.
#[derive(Debug, Clone, Serialize)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub blob: String,
    pub size: i64,
    /// Hex MD5 of the bytes, or MD5-of-part-MD5s + `-N` for a multipart upload.
    pub etag: String,
    /// [`ACL_DEFAULT`], [`ACL_PRIVATE`] or [`ACL_PUBLIC_READ`].
    pub acl: String,
    /// Headers returned on GET/HEAD as stored at upload (`content-type`,
    /// `x-amz-meta-*`, …), lower-case names.
    pub headers: Vec<(String, String)>,
    pub created_at: i64,
}

const OBJ_COLS: &str = "bucket, key, blob, size, etag, acl, headers, created_at";

fn headers_from(json: String) -> Vec<(String, String)> {
    serde_json::from_str(&json).unwrap_or_default()
}

fn headers_to(h: &[(String, String)]) -> String {
    serde_json::to_string(h).unwrap_or_else(|_| "[]".into())
}

fn obj(r: &Row) -> Result<Object, DbError> {
    Ok(Object {
        bucket: r.text(0)?,
        key: r.text(1)?,
        blob: r.text(2)?,
        size: r.int(3)?,
        etag: r.text(4)?,
        acl: r.text(5)?,
        headers: headers_from(r.text(6)?),
        created_at: r.int(7)?,
    })
}

/// An unfinished multipart upload.
#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub app_id: i64,
    /// The ACL the completed object gets.
    pub acl: String,
    /// The headers the completed object gets.
    pub headers: Vec<(String, String)>,
    pub created_at: i64,
}

const UPLOAD_COLS: &str = "upload_id, bucket, key, app_id, acl, headers, created_at";

fn upload(r: &Row) -> Result<Upload, DbError> {
    Ok(Upload {
        upload_id: r.text(0)?,
        bucket: r.text(1)?,
        key: r.text(2)?,
        app_id: r.int(3)?,
        acl: r.text(4)?,
        headers: headers_from(r.text(5)?),
        created_at: r.int(6)?,
    })
}

/// One uploaded part.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub part_number: i64,
    pub blob: String,
    pub size: i64,
    /// Hex MD5 of the part.
    pub etag: String,
    /// `x-amz-checksum-ALGO: VALUE` the client sent and we verified, if any.
    pub checksum: Option<String>,
    pub created_at: i64,
}

const PART_COLS: &str = "part_number, blob, size, etag, checksum, created_at";

fn part(r: &Row) -> Result<Part, DbError> {
    Ok(Part {
        part_number: r.int(0)?,
        blob: r.text(1)?,
        size: r.int(2)?,
        etag: r.text(3)?,
        checksum: r.opt_text(4)?,
        created_at: r.int(5)?,
    })
}

/// What completing an upload leaves to delete: (the blob the new object replaced,
/// the blobs of the parts).
pub type Completed = (Option<String>, Vec<String>);

/// Where a key listing starts.
#[derive(Debug, Clone, Copy)]
pub enum KeyFrom<'a> {
    /// Keys greater than this one.
    After(&'a str),
    /// This key and greater ones.
    At(&'a str),
}

impl Db {
    /// Insert or replace an object; returns the blob it replaced, if any.
    pub fn put_object(&self, o: &Object) -> Result<Option<String>, DbError> {
        self.tx(|c| put_object_tx(c, o))
    }

    /// The object `key` of `bucket`.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<Object>, DbError> {
        self.with(|c| {
            c.opt_row(
                &format!("SELECT {OBJ_COLS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                args![bucket, key],
            )?
            .as_ref()
            .map(obj)
            .transpose()
        })
    }

    /// Up to `limit` objects of `bucket` whose key starts with `prefix`, from `from`,
    /// in key order (UTF-8 byte order, as S3 lists; on PostgreSQL the text columns are
    /// `COLLATE "C"` for that). `below` bounds the keys from above (exclusive) when
    /// known, so the primary-key index serves the range.
    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        from: KeyFrom<'_>,
        below: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Object>, DbError> {
        let (op, start) = match from {
            KeyFrom::After(k) => (">", k),
            KeyFrom::At(k) => (">=", k),
        };
        self.with(|c| {
            c.rows(
                &format!(
                    "SELECT {OBJ_COLS} FROM objects WHERE bucket = ?1 AND key {op} ?2 \
                     AND (?3 IS NULL OR key < ?3) AND substr(key, 1, length(?4)) = ?4 \
                     ORDER BY key LIMIT ?5"
                ),
                args![bucket, start, below, prefix, limit],
            )?
            .iter()
            .map(obj)
            .collect()
        })
    }

    /// Delete an object; returns its blob.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<String>, DbError> {
        self.with(|c| {
            c.opt_row(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2 RETURNING blob",
                args![bucket, key],
            )?
            .map(|r| r.text(0))
            .transpose()
        })
    }

    /// Set an object's ACL; false when the object does not exist.
    pub fn set_object_acl(&self, bucket: &str, key: &str, acl: &str) -> Result<bool, DbError> {
        self.with(|c| {
            Ok(c.exec(
                "UPDATE objects SET acl = ?3 WHERE bucket = ?1 AND key = ?2",
                args![bucket, key, acl],
            )? > 0)
        })
    }

    /// Record a new multipart upload.
    pub fn create_upload(&self, u: &Upload) -> Result<(), DbError> {
        self.with(|c| {
            c.exec(
                &format!("INSERT INTO multipart_uploads ({UPLOAD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                args![&u.upload_id, &u.bucket, &u.key, u.app_id, &u.acl, headers_to(&u.headers), u.created_at],
            )?;
            Ok(())
        })
    }

    /// The multipart upload `upload_id`.
    pub fn upload(&self, upload_id: &str) -> Result<Option<Upload>, DbError> {
        self.with(|c| {
            c.opt_row(
                &format!("SELECT {UPLOAD_COLS} FROM multipart_uploads WHERE upload_id = ?1"),
                args![upload_id],
            )?
            .as_ref()
            .map(upload)
            .transpose()
        })
    }

    /// Unfinished uploads of `bucket` with keys starting with `prefix`, after
    /// (`key_marker`, `upload_id_marker`), at most `limit`, ordered by key then id.
    pub fn uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: i64,
    ) -> Result<Vec<Upload>, DbError> {
        self.with(|c| {
            c.rows(
                &format!(
                    "SELECT {UPLOAD_COLS} FROM multipart_uploads WHERE bucket = ?1 \
                     AND substr(key, 1, length(?2)) = ?2 \
                     AND (key > ?3 OR (key = ?3 AND upload_id > ?4)) \
                     ORDER BY key, upload_id LIMIT ?5"
                ),
                args![bucket, prefix, key_marker, upload_id_marker, limit],
            )?
            .iter()
            .map(upload)
            .collect()
        })
    }

    /// Record a part (replacing one with the same number). `Ok(None)` when the upload
    /// no longer exists (completed or aborted meanwhile); else the replaced part's blob.
    pub fn put_part(&self, upload_id: &str, p: &Part) -> Result<Option<Option<String>>, DbError> {
        self.tx(|c| {
            if !upload_exists(c, upload_id)? {
                return Ok(None);
            }
            let old = c
                .opt_row(
                    "SELECT blob FROM multipart_parts WHERE upload_id = ?1 AND part_number = ?2",
                    args![upload_id, p.part_number],
                )?
                .map(|r| r.text(0))
                .transpose()?;
            c.exec(
                &format!(
                    "INSERT INTO multipart_parts (upload_id, {PART_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT (upload_id, part_number) DO UPDATE SET blob = excluded.blob, size = excluded.size, \
                     etag = excluded.etag, checksum = excluded.checksum, created_at = excluded.created_at"
                ),
                args![upload_id, p.part_number, &p.blob, p.size, &p.etag, &p.checksum, p.created_at],
            )?;
            Ok(Some(old))
        })
    }

    /// Parts of an upload numbered above `after`, at most `limit`, by number.
    pub fn parts(&self, upload_id: &str, after: i64, limit: i64) -> Result<Vec<Part>, DbError> {
        self.with(|c| {
            c.rows(
                &format!(
                    "SELECT {PART_COLS} FROM multipart_parts WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3"
                ),
                args![upload_id, after, limit],
            )?
            .iter()
            .map(part)
            .collect()
        })
    }

    /// Finish an upload: store `o` (whose blob holds the concatenated parts), drop the
    /// upload and its parts, in one transaction. `Ok(None)` when the upload no longer
    /// exists; else (the blob `o` replaced, the part blobs to delete).
    pub fn complete_upload(
        &self,
        upload_id: &str,
        o: &Object,
    ) -> Result<Option<Completed>, DbError> {
        self.tx(|c| {
            if !upload_exists(c, upload_id)? {
                return Ok(None);
            }
            let old = put_object_tx(c, o)?;
            let blobs = take_parts_tx(c, upload_id)?;
            Ok(Some((old, blobs)))
        })
    }

    /// Abort an upload; `Ok(None)` when it does not exist, else its part blobs.
    pub fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, DbError> {
        self.tx(|c| {
            if !upload_exists(c, upload_id)? {
                return Ok(None);
            }
            Ok(Some(take_parts_tx(c, upload_id)?))
        })
    }

    /// Ids of uploads started before `before` (Unix seconds), at most `limit`.
    pub fn stale_uploads(&self, before: i64, limit: i64) -> Result<Vec<String>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT upload_id FROM multipart_uploads WHERE created_at < ?1 ORDER BY created_at LIMIT ?2",
                args![before, limit],
            )?
            .iter()
            .map(|r| r.text(0))
            .collect()
        })
    }

    /// Every blob an object or an uploaded part refers to.
    pub fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT blob FROM objects UNION SELECT blob FROM multipart_parts",
                args![],
            )?
            .iter()
            .map(|r| r.text(0))
            .collect()
        })
    }

    /// Record `signature` as used; false when it already was (R-ERR: a signed URL
    /// imports once). `expires_at` (Unix seconds) is when the signature stops being
    /// accepted anyway; the record can go some time after it
    /// ([`Db::prune_used_signatures`]).
    pub fn use_signature(&self, signature: &str, expires_at: i64) -> Result<bool, DbError> {
        self.use_signature_for(signature, expires_at, None)
    }

    /// [`Db::use_signature`] for the replay cache of signed requests
    /// ([`crate::replay`]): true for the first use of `signature`, and for a repeated
    /// one when both uses passed the same `repeatable` tag (a read-only request sent
    /// again unchanged); false otherwise. Shared by every server on the database.
    pub fn use_signature_for(
        &self,
        signature: &str,
        expires_at: i64,
        repeatable: Option<&str>,
    ) -> Result<bool, DbError> {
        let tag = repeatable.unwrap_or("");
        self.with(|c| {
            if c.exec(
                "INSERT INTO used_signatures (signature, used_at, expires_at, repeatable) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (signature) DO NOTHING",
                args![signature, now(), expires_at, tag],
            )? > 0
            {
                return Ok(true);
            }
            if tag.is_empty() {
                return Ok(false);
            }
            match c.opt_row(
                "SELECT repeatable FROM used_signatures WHERE signature = ?1",
                args![signature],
            )? {
                Some(r) => Ok(r.text(0)? == tag),
                None => Ok(false),
            }
        })
    }

    /// Forget that `signature` was used (the request it authenticated failed on the
    /// server's side before changing anything, and the client may send it again).
    pub fn forget_signature(&self, signature: &str) -> Result<(), DbError> {
        self.with(|c| {
            c.exec(
                "DELETE FROM used_signatures WHERE signature = ?1",
                args![signature],
            )
            .map(|_| ())
        })
    }

    /// Forget used signatures that expired before `before` (their URLs are refused as
    /// expired now, so they cannot be replayed); records without a known expiry stay.
    /// Returns how many were deleted.
    pub fn prune_used_signatures(&self, before: i64) -> Result<u64, DbError> {
        self.with(|c| {
            c.exec(
                "DELETE FROM used_signatures WHERE expires_at > 0 AND expires_at < ?1",
                args![before],
            )
        })
    }

    /// Whether `signature` was used for an import already.
    pub fn signature_used(&self, signature: &str) -> Result<bool, DbError> {
        self.with(|c| {
            Ok(c.opt_row(
                "SELECT 1 FROM used_signatures WHERE signature = ?1",
                args![signature],
            )?
            .is_some())
        })
    }
}

fn upload_exists(c: &mut dyn Conn, upload_id: &str) -> Result<bool, DbError> {
    Ok(c.opt_row(
        "SELECT 1 FROM multipart_uploads WHERE upload_id = ?1",
        args![upload_id],
    )?
    .is_some())
}

/// Store `o`, returning the blob of the object it replaced. Read-then-upsert: on
/// PostgreSQL the existing row is locked first, and two writers of a new key both
/// succeed (the later upsert wins; the earlier blob is left to the sweeper), where
/// delete-then-insert would fail the later one on the primary key.
fn put_object_tx(c: &mut dyn Conn, o: &Object) -> Result<Option<String>, DbError> {
    let old = c
        .opt_row(
            &format!(
                "SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2{}",
                for_update(c)
            ),
            args![&o.bucket, &o.key],
        )?
        .map(|r| r.text(0))
        .transpose()?;
    c.exec(
        &format!(
            "INSERT INTO objects ({OBJ_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (bucket, key) DO UPDATE SET blob = excluded.blob, size = excluded.size, \
             etag = excluded.etag, acl = excluded.acl, headers = excluded.headers, created_at = excluded.created_at"
        ),
        args![
            &o.bucket,
            &o.key,
            &o.blob,
            o.size,
            &o.etag,
            &o.acl,
            headers_to(&o.headers),
            o.created_at
        ],
    )?;
    Ok(old)
}

/// ` FOR UPDATE` on PostgreSQL (SQLite's write transactions hold the whole database).
fn for_update(c: &dyn Conn) -> &'static str {
    match c.backend() {
        super::sql::Backend::Postgres => " FOR UPDATE",
        super::sql::Backend::Sqlite => "",
    }
}

fn take_parts_tx(c: &mut dyn Conn, upload_id: &str) -> Result<Vec<String>, DbError> {
    let blobs = c
        .rows(
            "DELETE FROM multipart_parts WHERE upload_id = ?1 RETURNING blob",
            args![upload_id],
        )?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<Vec<_>, _>>()?;
    c.exec(
        "DELETE FROM multipart_uploads WHERE upload_id = ?1",
        args![upload_id],
    )?;
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{each_backend, raw_backends};

    fn object(bucket: &str, key: &str, blob: &str) -> Object {
        Object {
            bucket: bucket.into(),
            key: key.into(),
            blob: blob.into(),
            size: 2,
            etag: "e".into(),
            acl: ACL_PRIVATE.into(),
            headers: vec![("content-type".into(), "text/plain".into())],
            created_at: 5,
        }
    }

    /// A database made before `acl`/`headers` existed keeps its objects, and a
    /// public-read one stays public-read.
    #[test]
    fn migrates_the_first_objects_table() {
        for t in raw_backends() {
            eprintln!("--- backend {}", t.backend());
            t.with(|c| {
                c.batch(&crate::db::sql::ddl(
                    c.backend(),
                    "CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, public_read INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, PRIMARY KEY (bucket, key));
                     INSERT INTO objects VALUES ('b', 'pub', 'blob1', 1, 'e', 1, 0), ('b', 'priv', 'blob2', 1, 'e', 0, 0);",
                ))
            })
            .unwrap();
            let db = t.db.clone().init().unwrap();
            db.clone().init().unwrap();
            let acl = |k: &str| db.object("b", k).unwrap().unwrap().acl;
            assert_eq!(acl("pub"), ACL_PUBLIC_READ);
            assert_eq!(acl("priv"), ACL_DEFAULT);
            let o = object("b", "new", "blob3");
            assert_eq!(db.put_object(&o).unwrap(), None);
            assert_eq!(db.object("b", "new").unwrap().unwrap().headers, o.headers);
        }
    }

    #[test]
    fn objects_replace_list_in_byte_order_and_delete() {
        each_backend(|db| {
            let a = db.create_account("a", false).unwrap().app_id;
            assert!(db.create_bucket("b", a, "ap-guangzhou", false).unwrap());
            assert!(!db.create_bucket("b", a, "ap-guangzhou", true).unwrap());
            assert!(!db.bucket("b").unwrap().unwrap().public_read);
            assert!(db.set_bucket_public_read("b", true).unwrap());
            assert!(db.bucket("b").unwrap().unwrap().public_read);
            assert_eq!(db.buckets(a).unwrap().len(), 1);
            // UTF-8 byte order: 'B' < '_' < 'a' < 'é' (C collation on PostgreSQL).
            for k in ["a/é", "a/a", "a/B", "a/_", "b", "a"] {
                assert_eq!(
                    db.put_object(&object("b", k, &format!("blob-{k}")))
                        .unwrap(),
                    None
                );
            }
            assert_eq!(
                db.put_object(&object("b", "a/a", "blob-new"))
                    .unwrap()
                    .as_deref(),
                Some("blob-a/a")
            );
            let keys = |from, below, prefix, limit| -> Vec<String> {
                db.list_objects("b", prefix, from, below, limit)
                    .unwrap()
                    .into_iter()
                    .map(|o| o.key)
                    .collect()
            };
            assert_eq!(
                keys(KeyFrom::After(""), None, "a/", 100),
                ["a/B", "a/_", "a/a", "a/é"]
            );
            assert_eq!(
                keys(KeyFrom::At("a/_"), Some("a/é"), "", 100),
                ["a/_", "a/a"]
            );
            assert_eq!(keys(KeyFrom::After("a/_"), None, "", 2), ["a/a", "a/é"]);
            assert_eq!(db.object("b", "a/a").unwrap().unwrap().blob, "blob-new");
            assert!(db.set_object_acl("b", "a/a", ACL_PUBLIC_READ).unwrap());
            assert!(!db.set_object_acl("b", "nope", ACL_PUBLIC_READ).unwrap());
            assert_eq!(
                db.delete_object("b", "a/a").unwrap().as_deref(),
                Some("blob-new")
            );
            assert_eq!(db.delete_object("b", "a/a").unwrap(), None);
            let refs = db.referenced_blobs().unwrap();
            assert_eq!(refs.len(), 5);
            assert_eq!(db.delete_bucket("b").unwrap(), None, "not empty");
            for k in ["a/é", "a/B", "a/_", "b", "a"] {
                db.delete_object("b", k).unwrap();
            }
            assert_eq!(db.delete_bucket("b").unwrap(), Some(vec![]));
            assert!(db.bucket("b").unwrap().is_none());
        });
    }

    #[test]
    fn multipart_uploads_replace_parts_complete_and_abort() {
        each_backend(|db| {
            let a = db.create_account("a", false).unwrap().app_id;
            db.create_bucket("b", a, "ap-guangzhou", false).unwrap();
            let up = |id: &str, key: &str| Upload {
                upload_id: id.into(),
                bucket: "b".into(),
                key: key.into(),
                app_id: a,
                acl: ACL_DEFAULT.into(),
                headers: vec![],
                created_at: 10,
            };
            let part = |n: i64, blob: &str, checksum: Option<&str>| Part {
                part_number: n,
                blob: blob.into(),
                size: 5,
                etag: "e".into(),
                checksum: checksum.map(str::to_string),
                created_at: 11,
            };
            db.create_upload(&up("u1", "k")).unwrap();
            db.create_upload(&up("u2", "k")).unwrap();
            db.create_upload(&up("u3", "j")).unwrap();
            assert_eq!(db.put_part("u1", &part(1, "p1", None)).unwrap(), Some(None));
            assert_eq!(
                db.put_part("u1", &part(2, "p2", Some("x-amz-checksum-crc32: AAAA")))
                    .unwrap(),
                Some(None)
            );
            assert_eq!(
                db.put_part("u1", &part(1, "p1b", None)).unwrap(),
                Some(Some("p1".into()))
            );
            assert_eq!(db.put_part("nope", &part(1, "p", None)).unwrap(), None);
            let parts = db.parts("u1", 0, 10).unwrap();
            assert_eq!(
                parts.iter().map(|p| p.blob.as_str()).collect::<Vec<_>>(),
                ["p1b", "p2"]
            );
            assert_eq!(
                parts[1].checksum.as_deref(),
                Some("x-amz-checksum-crc32: AAAA")
            );
            assert_eq!(db.parts("u1", 1, 10).unwrap().len(), 1);
            let ids = |ups: Vec<Upload>| ups.into_iter().map(|u| u.upload_id).collect::<Vec<_>>();
            assert_eq!(
                ids(db.uploads("b", "", "", "", 10).unwrap()),
                ["u3", "u1", "u2"]
            );
            assert_eq!(ids(db.uploads("b", "k", "k", "u1", 10).unwrap()), ["u2"]);
            assert_eq!(db.upload("u2").unwrap().unwrap().key, "k");
            assert_eq!(db.stale_uploads(11, 10).unwrap().len(), 3);
            assert_eq!(db.stale_uploads(10, 10).unwrap().len(), 0);
            let (old, mut blobs) = db
                .complete_upload("u1", &object("b", "k", "whole"))
                .unwrap()
                .unwrap();
            blobs.sort();
            assert_eq!(
                (old, blobs),
                (None, vec!["p1b".to_string(), "p2".to_string()])
            );
            assert!(db
                .complete_upload("u1", &object("b", "k", "again"))
                .unwrap()
                .is_none());
            assert!(db.upload("u1").unwrap().is_none());
            assert_eq!(db.object("b", "k").unwrap().unwrap().blob, "whole");
            db.put_part("u2", &part(1, "q1", None)).unwrap();
            assert_eq!(db.abort_upload("u2").unwrap(), Some(vec!["q1".to_string()]));
            assert_eq!(db.abort_upload("u2").unwrap(), None);
            db.put_part("u3", &part(1, "r1", None)).unwrap();
            // Deleting the (object-less) bucket aborts its uploads and returns their parts.
            db.delete_object("b", "k").unwrap();
            assert_eq!(db.delete_bucket("b").unwrap(), Some(vec!["r1".to_string()]));
            assert!(db.upload("u3").unwrap().is_none());
        });
    }

    #[test]
    fn a_signature_is_used_once() {
        each_backend(|db| {
            assert!(!db.signature_used("s").unwrap());
            assert!(db.use_signature("s", 1000).unwrap());
            assert!(!db.use_signature("s", 1000).unwrap());
            assert!(db.signature_used("s").unwrap());
            assert!(db.use_signature("later", 5000).unwrap());
            assert!(db.use_signature("unknown-expiry", 0).unwrap());
            assert_eq!(db.prune_used_signatures(4000).unwrap(), 1);
            assert!(!db.signature_used("s").unwrap());
            assert!(db.signature_used("later").unwrap());
            assert!(db.signature_used("unknown-expiry").unwrap());
        });
    }

    #[test]
    fn a_repeatable_signature_repeats_only_with_its_tag() {
        each_backend(|db| {
            // A read-only request may come again unchanged …
            assert!(db
                .use_signature_for("r", 1000, Some("Describe\na"))
                .unwrap());
            assert!(db
                .use_signature_for("r", 1000, Some("Describe\na"))
                .unwrap());
            // … not as another action or region, nor as a state-changing one.
            assert!(!db
                .use_signature_for("r", 1000, Some("Describe\nb"))
                .unwrap());
            assert!(!db.use_signature_for("r", 1000, None).unwrap());
            // A state-changing use makes the signature single-use for everything.
            assert!(db.use_signature_for("w", 1000, None).unwrap());
            assert!(!db
                .use_signature_for("w", 1000, Some("Describe\na"))
                .unwrap());
            assert!(!db.use_signature_for("w", 1000, None).unwrap());
            db.forget_signature("w").unwrap();
            assert!(db.use_signature_for("w", 1000, None).unwrap());
        });
    }
}
