//! Object-store metadata (R-FLOW-UPLOAD): objects (key → blob, size, ETag, ACL, stored
//! headers), unfinished multipart uploads and their parts, and the presigned-URL
//! signatures already used for an import (a signed URL imports once, R-ERR InvalidUrl).
//! The bytes themselves live in the [`crate::objects::ObjectStore`] under the blob ids.

use super::{now, Db};
use rusqlite::{params, Connection, OptionalExtension};
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
    used_at     INTEGER NOT NULL
);
";

/// Columns the first `objects` table lacked: (name, definition).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("acl", "TEXT NOT NULL DEFAULT 'default'"),
    ("headers", "TEXT NOT NULL DEFAULT '[]'"),
];

/// Bring an `objects` table made by an older build up to date (idempotent): add the
/// missing columns and carry its `public_read` flag over to `acl`.
pub fn migrate(c: &Connection) -> rusqlite::Result<()> {
    let have: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('objects')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, def) in ADDED_COLUMNS {
        if !have.iter().any(|h| h == name) {
            c.execute_batch(&format!("ALTER TABLE objects ADD COLUMN {name} {def}"))?;
            if *name == "acl" && have.iter().any(|h| h == "public_read") {
                c.execute_batch("UPDATE objects SET acl = 'public-read' WHERE public_read = 1")?;
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

fn obj(r: &rusqlite::Row<'_>) -> rusqlite::Result<Object> {
    Ok(Object {
        bucket: r.get(0)?,
        key: r.get(1)?,
        blob: r.get(2)?,
        size: r.get(3)?,
        etag: r.get(4)?,
        acl: r.get(5)?,
        headers: headers_from(r.get(6)?),
        created_at: r.get(7)?,
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

fn upload(r: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        upload_id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        app_id: r.get(3)?,
        acl: r.get(4)?,
        headers: headers_from(r.get(5)?),
        created_at: r.get(6)?,
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

fn part(r: &rusqlite::Row<'_>) -> rusqlite::Result<Part> {
    Ok(Part {
        part_number: r.get(0)?,
        blob: r.get(1)?,
        size: r.get(2)?,
        etag: r.get(3)?,
        checksum: r.get(4)?,
        created_at: r.get(5)?,
    })
}

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
    pub fn put_object(&self, o: &Object) -> rusqlite::Result<Option<String>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let old = put_object_tx(&tx, o)?;
            tx.commit()?;
            Ok(old)
        })
    }

    /// The object `key` of `bucket`.
    pub fn object(&self, bucket: &str, key: &str) -> rusqlite::Result<Option<Object>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {OBJ_COLS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                params![bucket, key],
                obj,
            )
            .optional()
        })
    }

    /// Up to `limit` objects of `bucket` whose key starts with `prefix`, from `from`,
    /// in key order (UTF-8 byte order, as S3 lists). `below` bounds the keys from above
    /// (exclusive) when known, so the primary-key index serves the range.
    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        from: KeyFrom<'_>,
        below: Option<&str>,
        limit: i64,
    ) -> rusqlite::Result<Vec<Object>> {
        let (op, start) = match from {
            KeyFrom::After(k) => (">", k),
            KeyFrom::At(k) => (">=", k),
        };
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {OBJ_COLS} FROM objects WHERE bucket = ?1 AND key {op} ?2 \
                 AND (?3 IS NULL OR key < ?3) AND substr(key, 1, length(?4)) = ?4 \
                 ORDER BY key LIMIT ?5"
            ))?;
            let rows = st.query_map(params![bucket, start, below, prefix, limit], obj)?;
            rows.collect()
        })
    }

    /// Delete an object; returns its blob.
    pub fn delete_object(&self, bucket: &str, key: &str) -> rusqlite::Result<Option<String>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let old: Option<String> = tx
                .query_row(
                    "SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2",
                    params![bucket, key],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
            )?;
            tx.commit()?;
            Ok(old)
        })
    }

    /// Set an object's ACL; false when the object does not exist.
    pub fn set_object_acl(&self, bucket: &str, key: &str, acl: &str) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE objects SET acl = ?3 WHERE bucket = ?1 AND key = ?2",
                params![bucket, key, acl],
            )? > 0)
        })
    }

    /// Record a new multipart upload.
    pub fn create_upload(&self, u: &Upload) -> rusqlite::Result<()> {
        self.with(|c| {
            c.execute(
                &format!("INSERT INTO multipart_uploads ({UPLOAD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![u.upload_id, u.bucket, u.key, u.app_id, u.acl, headers_to(&u.headers), u.created_at],
            )?;
            Ok(())
        })
    }

    /// The multipart upload `upload_id`.
    pub fn upload(&self, upload_id: &str) -> rusqlite::Result<Option<Upload>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {UPLOAD_COLS} FROM multipart_uploads WHERE upload_id = ?1"),
                [upload_id],
                upload,
            )
            .optional()
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
    ) -> rusqlite::Result<Vec<Upload>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {UPLOAD_COLS} FROM multipart_uploads WHERE bucket = ?1 \
                 AND substr(key, 1, length(?2)) = ?2 \
                 AND (key > ?3 OR (key = ?3 AND upload_id > ?4)) \
                 ORDER BY key, upload_id LIMIT ?5"
            ))?;
            let rows = st.query_map(
                params![bucket, prefix, key_marker, upload_id_marker, limit],
                upload,
            )?;
            rows.collect()
        })
    }

    /// Record a part (replacing one with the same number). `Ok(None)` when the upload
    /// no longer exists (completed or aborted meanwhile); else the replaced part's blob.
    pub fn put_part(&self, upload_id: &str, p: &Part) -> rusqlite::Result<Option<Option<String>>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM multipart_uploads WHERE upload_id = ?1",
                    [upload_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                return Ok(None);
            }
            let old: Option<String> = tx
                .query_row(
                    "SELECT blob FROM multipart_parts WHERE upload_id = ?1 AND part_number = ?2",
                    params![upload_id, p.part_number],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                &format!("INSERT OR REPLACE INTO multipart_parts (upload_id, {PART_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![upload_id, p.part_number, p.blob, p.size, p.etag, p.checksum, p.created_at],
            )?;
            tx.commit()?;
            Ok(Some(old))
        })
    }

    /// Parts of an upload numbered above `after`, at most `limit`, by number.
    pub fn parts(&self, upload_id: &str, after: i64, limit: i64) -> rusqlite::Result<Vec<Part>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {PART_COLS} FROM multipart_parts WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3"
            ))?;
            let rows = st.query_map(params![upload_id, after, limit], part)?;
            rows.collect()
        })
    }

    /// Finish an upload: store `o` (whose blob holds the concatenated parts), drop the
    /// upload and its parts, in one transaction. `Ok(None)` when the upload no longer
    /// exists; else (the blob `o` replaced, the part blobs to delete).
    pub fn complete_upload(
        &self,
        upload_id: &str,
        o: &Object,
    ) -> rusqlite::Result<Option<(Option<String>, Vec<String>)>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM multipart_uploads WHERE upload_id = ?1",
                    [upload_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                return Ok(None);
            }
            let old = put_object_tx(&tx, o)?;
            let blobs = take_parts_tx(&tx, upload_id)?;
            tx.commit()?;
            Ok(Some((old, blobs)))
        })
    }

    /// Abort an upload; `Ok(None)` when it does not exist, else its part blobs.
    pub fn abort_upload(&self, upload_id: &str) -> rusqlite::Result<Option<Vec<String>>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM multipart_uploads WHERE upload_id = ?1",
                    [upload_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                return Ok(None);
            }
            let blobs = take_parts_tx(&tx, upload_id)?;
            tx.commit()?;
            Ok(Some(blobs))
        })
    }

    /// Ids of uploads started before `before` (Unix seconds), at most `limit`.
    pub fn stale_uploads(&self, before: i64, limit: i64) -> rusqlite::Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT upload_id FROM multipart_uploads WHERE created_at < ?1 ORDER BY created_at LIMIT ?2",
            )?;
            let rows = st.query_map(params![before, limit], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Every blob an object or an uploaded part refers to.
    pub fn referenced_blobs(&self) -> rusqlite::Result<std::collections::HashSet<String>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT blob FROM objects UNION SELECT blob FROM multipart_parts")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Record `signature` as used; false when it already was (R-ERR: a signed URL
    /// imports once).
    pub fn use_signature(&self, signature: &str) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "INSERT OR IGNORE INTO used_signatures (signature, used_at) VALUES (?1, ?2)",
                params![signature, now()],
            )? > 0)
        })
    }

    /// Whether `signature` was used for an import already.
    pub fn signature_used(&self, signature: &str) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM used_signatures WHERE signature = ?1",
                [signature],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }
}

fn put_object_tx(tx: &Connection, o: &Object) -> rusqlite::Result<Option<String>> {
    let old: Option<String> = tx
        .query_row(
            "SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2",
            params![o.bucket, o.key],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
        params![o.bucket, o.key],
    )?;
    tx.execute(
        &format!("INSERT INTO objects ({OBJ_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            o.bucket,
            o.key,
            o.blob,
            o.size,
            o.etag,
            o.acl,
            headers_to(&o.headers),
            o.created_at
        ],
    )?;
    Ok(old)
}

fn take_parts_tx(tx: &Connection, upload_id: &str) -> rusqlite::Result<Vec<String>> {
    let blobs: Vec<String> = tx
        .prepare("SELECT blob FROM multipart_parts WHERE upload_id = ?1")?
        .query_map([upload_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    tx.execute(
        "DELETE FROM multipart_parts WHERE upload_id = ?1",
        [upload_id],
    )?;
    tx.execute(
        "DELETE FROM multipart_uploads WHERE upload_id = ?1",
        [upload_id],
    )?;
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database made before `acl`/`headers` existed keeps its objects, and a
    /// public-read one stays public-read.
    #[test]
    fn migrates_the_first_objects_table() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, public_read INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, PRIMARY KEY (bucket, key));
             INSERT INTO objects VALUES ('b', 'pub', 'blob1', 1, 'e', 1, 0), ('b', 'priv', 'blob2', 1, 'e', 0, 0);",
        )
        .unwrap();
        c.execute_batch(SCHEMA).unwrap();
        migrate(&c).unwrap();
        migrate(&c).unwrap();
        let acl = |k: &str| -> String {
            c.query_row("SELECT acl FROM objects WHERE key = ?1", [k], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(acl("pub"), ACL_PUBLIC_READ);
        assert_eq!(acl("priv"), ACL_DEFAULT);
        let o = Object {
            bucket: "b".into(),
            key: "new".into(),
            blob: "blob3".into(),
            size: 2,
            etag: "e".into(),
            acl: ACL_PRIVATE.into(),
            headers: vec![("content-type".into(), "text/plain".into())],
            created_at: 5,
        };
        assert_eq!(put_object_tx(&c, &o).unwrap(), None);
        let back = c
            .query_row(
                &format!("SELECT {OBJ_COLS} FROM objects WHERE key = 'new'"),
                [],
                obj,
            )
            .unwrap();
        assert_eq!(back.headers, o.headers);
    }
}
