//! Buckets of the object store (R-FLOW-UPLOAD): owner account, region (R-REGION) and
//! ACL (`private` or `public-read`). Bucket names are global, as in S3 and COS.

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

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        name: r.get(0)?,
        app_id: r.get(1)?,
        region: r.get(2)?,
        public_read: r.get::<_, i64>(3)? != 0,
        created_at: r.get(4)?,
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
    ) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "INSERT OR IGNORE INTO buckets (name, app_id, region, public_read, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, app_id, region, public_read as i64, now()],
            )? > 0)
        })
    }

    /// The bucket named `name`.
    pub fn bucket(&self, name: &str) -> rusqlite::Result<Option<Bucket>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLS} FROM buckets WHERE name = ?1"),
                [name],
                row,
            )
            .optional()
        })
    }

    /// The buckets of account `app_id`, by name.
    pub fn buckets(&self, app_id: i64) -> rusqlite::Result<Vec<Bucket>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLS} FROM buckets WHERE app_id = ?1 ORDER BY name"
            ))?;
            let rows = st.query_map([app_id], row)?;
            rows.collect()
        })
    }

    /// Set the bucket ACL.
    pub fn set_bucket_public_read(&self, name: &str, public_read: bool) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE buckets SET public_read = ?2 WHERE name = ?1",
                params![name, public_read as i64],
            )? > 0)
        })
    }

    /// Delete an empty bucket and its unfinished multipart uploads. Returns
    /// `Ok(None)` when the bucket still holds objects, else the blobs of the aborted
    /// uploads' parts (for the caller to delete).
    pub fn delete_bucket(&self, name: &str) -> rusqlite::Result<Option<Vec<String>>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let busy: bool = tx
                .query_row("SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1", [name], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if busy {
                return Ok(None);
            }
            let blobs: Vec<String> = tx
                .prepare(
                    "SELECT p.blob FROM multipart_parts p JOIN multipart_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?1",
                )?
                .query_map([name], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            tx.execute(
                "DELETE FROM multipart_parts WHERE upload_id IN (SELECT upload_id FROM multipart_uploads WHERE bucket = ?1)",
                [name],
            )?;
            tx.execute("DELETE FROM multipart_uploads WHERE bucket = ?1", [name])?;
            tx.execute("DELETE FROM buckets WHERE name = ?1", [name])?;
            tx.commit()?;
            Ok(Some(blobs))
        })
    }
}
