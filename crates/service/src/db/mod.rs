//! The service database. SQLite (embedded default) behind [`Db`]; every table group
//! has its own file with its schema and typed queries. Times are Unix seconds.
//!
//! Scale-out note: the queries are plain SQL chosen to run on PostgreSQL too; job
//! leasing (see `jobs.rs`) is an atomic `UPDATE … WHERE lease_until < now` that maps to
//! `SELECT … FOR UPDATE SKIP LOCKED` there.

pub mod accounts;
pub mod buckets;
pub mod images;
pub mod jobs;
pub mod messages;
pub mod objects;

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Schemas of every table group, applied in order at open (idempotent).
const SCHEMAS: &[&str] = &[
    accounts::SCHEMA,
    buckets::SCHEMA,
    images::SCHEMA,
    jobs::SCHEMA,
    messages::SCHEMA,
    objects::SCHEMA,
];

/// A handle to the database, cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Open or create the database at `path` and apply the schema.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> anyhow::Result<Db> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> anyhow::Result<Db> {
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;")?;
        for s in SCHEMAS {
            conn.execute_batch(s)?;
        }
        images::migrate(&conn)?;
        objects::migrate(&conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` with the connection (short, synchronous work only).
    pub fn with<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> rusqlite::Result<R> {
        let guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A random identifier of `len` characters from `[a-z0-9]`.
pub fn random_id(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}
