//! Object-store metadata: buckets (with region and ACL), objects (key → blob, size,
//! ETag, ACL), and presigned-URL signatures already used for an import (single use,
//! R-ERR InvalidUrl).

use super::{now, Db};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    name        TEXT PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES accounts(app_id),
    region      TEXT NOT NULL,
    public_read INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    bucket      TEXT NOT NULL REFERENCES buckets(name),
    key         TEXT NOT NULL,
    blob        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    etag        TEXT NOT NULL,
    public_read INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS used_signatures (
    signature   TEXT PRIMARY KEY,
    used_at     INTEGER NOT NULL
);
";

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub name: String,
    pub app_id: i64,
    pub region: String,
    pub public_read: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub blob: String,
    pub size: i64,
    pub etag: String,
    pub public_read: bool,
    pub created_at: i64,
}

fn obj(r: &rusqlite::Row<'_>) -> rusqlite::Result<Object> {
    Ok(Object {
        bucket: r.get(0)?,
        key: r.get(1)?,
        blob: r.get(2)?,
        size: r.get(3)?,
        etag: r.get(4)?,
        public_read: r.get::<_, i64>(5)? != 0,
        created_at: r.get(6)?,
    })
}

fn bucket(r: &rusqlite::Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        name: r.get(0)?,
        app_id: r.get(1)?,
        region: r.get(2)?,
        public_read: r.get::<_, i64>(3)? != 0,
        created_at: r.get(4)?,
    })
}

impl Db {
    /// Create a bucket; false when the name is taken.
    pub fn create_bucket(
        &self,
        name: &str,
        app_id: i64,
        region: &str,
        public_read: bool,
    ) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "INSERT OR IGNORE INTO buckets (name, app_id, region, public_read, created_at) VALUES (?1,?2,?3,?4,?5)",
                params![name, app_id, region, public_read as i64, now()],
            )? > 0)
        })
    }

    pub fn bucket(&self, name: &str) -> rusqlite::Result<Option<Bucket>> {
        self.with(|c| {
            c.query_row(
                "SELECT name, app_id, region, public_read, created_at FROM buckets WHERE name = ?1",
                [name],
                bucket,
            )
            .optional()
        })
    }

    pub fn buckets(&self, app_id: i64) -> rusqlite::Result<Vec<Bucket>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT name, app_id, region, public_read, created_at FROM buckets WHERE app_id = ?1 ORDER BY name")?;
            let rows = st.query_map([app_id], bucket)?;
            rows.collect()
        })
    }

    pub fn delete_bucket(&self, name: &str) -> rusqlite::Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM buckets WHERE name = ?1", [name])? > 0))
    }

    /// Insert or replace an object; returns the blob it replaced, if any.
    pub fn put_object(&self, o: &Object) -> rusqlite::Result<Option<String>> {
        self.with(|c| {
            let old: Option<String> = c
                .query_row(
                    "SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2",
                    params![o.bucket, o.key],
                    |r| r.get(0),
                )
                .optional()?;
            c.execute(
                "INSERT OR REPLACE INTO objects (bucket, key, blob, size, etag, public_read, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7)",
                params![o.bucket, o.key, o.blob, o.size, o.etag, o.public_read as i64, o.created_at],
            )?;
            Ok(old)
        })
    }

    pub fn object(&self, bucket: &str, key: &str) -> rusqlite::Result<Option<Object>> {
        self.with(|c| {
            c.query_row(
                "SELECT bucket, key, blob, size, etag, public_read, created_at FROM objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
                obj,
            )
            .optional()
        })
    }

    /// Objects of `bucket` with `prefix`, after `start_after`, at most `limit`.
    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: i64,
    ) -> rusqlite::Result<Vec<Object>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT bucket, key, blob, size, etag, public_read, created_at FROM objects WHERE bucket = ?1 AND substr(key, 1, length(?2)) = ?2 AND key > ?3 ORDER BY key LIMIT ?4",
            )?;
            let rows = st.query_map(params![bucket, prefix, start_after, limit], obj)?;
            rows.collect()
        })
    }

    /// Delete an object; returns its blob.
    pub fn delete_object(&self, bucket: &str, key: &str) -> rusqlite::Result<Option<String>> {
        self.with(|c| {
            let old: Option<String> = c
                .query_row(
                    "SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2",
                    params![bucket, key],
                    |r| r.get(0),
                )
                .optional()?;
            c.execute(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
            )?;
            Ok(old)
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
