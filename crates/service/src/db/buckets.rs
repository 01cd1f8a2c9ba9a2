//! Buckets of the object store (R-FLOW-UPLOAD): owner account, region (R-REGION) and
//! ACL (`private` or `public-read`). Bucket names are global, as in S3 and COS.

use super::sql::{args, DbError, Row};
use super::{now, Db};
use serde::Serialize;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    name        TEXT PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES accounts(app_id),
    region      TEXT NOT NULL,
    public_read INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS buckets_by_app ON buckets(app_id, name);
";

/// A bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub name: String,
    pub app_id: i64,
    pub region: String,
    /// Bucket ACL `public-read`: anyone may list it and read its objects whose own
    /// ACL is `default` (COS semantics).
    pub public_read: bool,
    pub created_at: i64,
}

const COLS: &str = "name, app_id, region, public_read, created_at";

fn row(r: &Row) -> Result<Bucket, DbError> {
    Ok(Bucket {
        name: r.text(0)?,
        app_id: r.int(1)?,
        region: r.text(2)?,
        public_read: r.bool(3)?,
        created_at: r.int(4)?,
    })
}

impl Db {
    /// Create a bucket; false when the name is taken (by anyone).
    pub fn create_bucket(
        &self,
        name: &str,
        app_id: i64,
        region: &str,
        public_read: bool,
    ) -> Result<bool, DbError> {
        self.with(|c| {
            Ok(c.exec(
                "INSERT INTO buckets (name, app_id, region, public_read, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                args![name, app_id, region, public_read, now()],
            )? > 0)
        })
    }

    /// The bucket named `name`.
    pub fn bucket(&self, name: &str) -> Result<Option<Bucket>, DbError> {
        self.with(|c| {
            c.opt_row(
                &format!("SELECT {COLS} FROM buckets WHERE name = ?1"),
                args![name],
            )?
            .as_ref()
            .map(row)
            .transpose()
        })
    }

    /// The buckets of account `app_id`, by name.
    pub fn buckets(&self, app_id: i64) -> Result<Vec<Bucket>, DbError> {
        self.with(|c| {
            c.rows(
                &format!("SELECT {COLS} FROM buckets WHERE app_id = ?1 ORDER BY name"),
                args![app_id],
            )?
            .iter()
            .map(row)
            .collect()
        })
    }

    /// Set the bucket ACL.
    pub fn set_bucket_public_read(&self, name: &str, public_read: bool) -> Result<bool, DbError> {
        self.with(|c| {
            Ok(c.exec(
                "UPDATE buckets SET public_read = ?2 WHERE name = ?1",
                args![name, public_read],
            )? > 0)
        })
    }

    /// Delete an empty bucket and its unfinished multipart uploads. Returns
    /// `Ok(None)` when the bucket still holds objects, else the blobs of the aborted
    /// uploads' parts (for the caller to delete).
    pub fn delete_bucket(&self, name: &str) -> Result<Option<Vec<String>>, DbError> {
        self.tx(|c| {
            let busy = c
                .opt_row(
                    "SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1",
                    args![name],
                )?
                .is_some();
            if busy {
                return Ok(None);
            }
            let blobs = c
                .rows(
                    "SELECT p.blob FROM multipart_parts p JOIN multipart_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?1",
                    args![name],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect::<Result<Vec<_>, _>>()?;
            c.exec(
                "DELETE FROM multipart_parts WHERE upload_id IN (SELECT upload_id FROM multipart_uploads WHERE bucket = ?1)",
                args![name],
            )?;
            c.exec(
                "DELETE FROM multipart_uploads WHERE bucket = ?1",
                args![name],
            )?;
            c.exec("DELETE FROM buckets WHERE name = ?1", args![name])?;
            Ok(Some(blobs))
        })
    }
}
