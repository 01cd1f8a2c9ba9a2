//! The service database behind [`Db`]; every table group has its own file with its
//! schema and typed queries. Times are Unix seconds.
//!
//! Two backends behind the same [`Db`]: SQLite (embedded default, one file under the
//! data directory; [`sqlite`]) and PostgreSQL (scale-out, several servers on one
//! database; [`pg`]). The table modules write one SQL dialect against the
//! backend-neutral [`sql::Conn`] (see [`sql`] for its rules); callers outside `db/`
//! never see SQL. Job leasing (see `jobs.rs`) is one atomic `UPDATE … WHERE image_id =
//! (SELECT … LIMIT 1)`, with `FOR UPDATE SKIP LOCKED` on PostgreSQL.

pub mod accounts;
pub mod buckets;
pub mod images;
pub mod jobs;
pub mod messages;
pub mod objects;
mod pg;
pub mod sql;
mod sqlite;

pub use pg::redact_url;
pub use sql::{Backend, Conn, DbError, Row, Val};

use std::path::Path;
use std::sync::Arc;

/// Schemas of every table group, applied in order at open (idempotent). Written in
/// SQLite's words; [`sql::ddl`] translates them for PostgreSQL.
const SCHEMAS: &[&str] = &[
    accounts::SCHEMA,
    buckets::SCHEMA,
    images::SCHEMA,
    jobs::SCHEMA,
    messages::SCHEMA,
    objects::SCHEMA,
];

/// Connections a PostgreSQL [`Db`] opens unless told otherwise.
pub const DEFAULT_PG_CONNECTIONS: usize = 4;

/// Any number: the key of the advisory lock that serialises schema changes of servers
/// starting at once on one PostgreSQL database.
const SCHEMA_LOCK: i64 = 0x696d_6770_6f72_7401;

/// A handle to the database, cheap to clone, usable from any thread. Its calls block;
/// called from an async handler (the S3 operations call it directly) they leave the
/// runtime's worker thread first ([`blocking`]), so a slow database holds up only the
/// request that waits for it.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
    /// Seals and opens the accounts' SecretKeys ([`crate::secrets`]); without it
    /// (tests of the tables) keys are stored as given.
    master_key: Option<Arc<crate::secrets::MasterKey>>,
}

enum Inner {
    Sqlite(sqlite::Sqlite),
    Postgres(pg::Pg),
}

impl Db {
    /// Open or create the SQLite database at `path` and apply the schema.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        Self::sqlite(rusqlite::Connection::open(path)?)?.init()
    }

    /// An in-memory SQLite database (tests).
    pub fn open_in_memory() -> Result<Db, DbError> {
        Self::sqlite(rusqlite::Connection::open_in_memory()?)?.init()
    }

    /// Connect to PostgreSQL at `url` (`postgres://user:password@host:port/db`) with a
    /// pool of `connections`, and apply the schema (safe when several servers start at
    /// once).
    pub fn open_postgres(url: &str, connections: usize) -> Result<Db, DbError> {
        Self::postgres(url, connections)?.init()
    }

    /// The database `url` names: empty for the SQLite file `sqlite_path`,
    /// `postgres://…` or `postgresql://…` for PostgreSQL.
    pub fn open_url(url: &str, sqlite_path: &Path, connections: usize) -> Result<Db, DbError> {
        let url = url.trim();
        if url.is_empty() {
            Self::open(sqlite_path)
        } else if is_postgres_url(url) {
            Self::open_postgres(url, connections)
        } else {
            Err(DbError::Other(format!(
                "database_url {}: use postgres://USER:PASSWORD@HOST:PORT/DB (or leave it empty for SQLite in the data directory)",
                redact_url(url)
            )))
        }
    }

    /// A SQLite database without the schema applied (tests of old schemas).
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Result<Db, DbError> {
        Ok(Db {
            inner: Arc::new(Inner::Sqlite(sqlite::Sqlite::new(conn)?)),
            master_key: None,
        })
    }

    /// A PostgreSQL database without the schema applied (tests of old schemas).
    pub(crate) fn postgres(url: &str, connections: usize) -> Result<Db, DbError> {
        Ok(Db {
            inner: Arc::new(Inner::Postgres(pg::Pg::new(url, connections)?)),
            master_key: None,
        })
    }

    /// Apply the schemas and migrations, in one transaction; on PostgreSQL under an
    /// advisory lock, so servers starting at once do not race on `CREATE … IF NOT
    /// EXISTS` (which is not safe against a concurrent creation by itself).
    pub(crate) fn init(self) -> Result<Db, DbError> {
        self.tx(|c| {
            if c.backend() == Backend::Postgres {
                c.exec("SELECT pg_advisory_xact_lock(?1)", sql::args![SCHEMA_LOCK])?;
            }
            for s in SCHEMAS {
                c.batch(&sql::ddl(c.backend(), s))?;
            }
            images::migrate(c)?;
            objects::migrate(c)?;
            Ok::<(), DbError>(())
        })
        .map_err(|e| match &*self.inner {
            Inner::Postgres(p) => DbError::Unavailable(format!("{}: {e}", p.shown())),
            Inner::Sqlite(_) => e,
        })?;
        Ok(self)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Run `f` with a connection (short, synchronous work only). Each statement
    /// commits on its own; use [`Db::tx`] for several that must hold together.
    pub fn with<R>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        blocking(|| match &*self.inner {
            Inner::Sqlite(s) => s.with(f),
            Inner::Postgres(p) => p.with(f),
        })
    }

    /// Run `f` in a transaction: committed when `f` returns `Ok`, rolled back when it
    /// returns `Err` (or panics). `E` lets `f` stop with its own reason (any error type
    /// a [`DbError`] converts into).
    pub fn tx<R, E: From<DbError>>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<R, E>,
    ) -> Result<R, E> {
        blocking(|| match &*self.inner {
            Inner::Sqlite(s) => s.tx(f),
            Inner::Postgres(p) => p.tx(f),
        })
    }
}

/// Runs blocking database work. On a worker thread of a multi-threaded tokio runtime
/// (an axum handler) through `block_in_place`, which first hands the thread's other
/// tasks to another worker: requests keep being served while this one waits for the
/// database. Elsewhere (job threads, `spawn_blocking`, a current-thread runtime, a
/// nested call) directly. The one place the service isolates its blocking DB calls
/// (issue 14 item 4; why not an async driver: docs/decisions.md).
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    let u = url.trim().to_ascii_lowercase();
    u.starts_with("postgres://") || u.starts_with("postgresql://")
}

/// The columns of `table` (migrations).
pub(crate) fn table_columns(c: &mut dyn Conn, table: &str) -> Result<Vec<String>, DbError> {
    let sql = match c.backend() {
        Backend::Sqlite => "SELECT name FROM pragma_table_info(?1)",
        Backend::Postgres => "SELECT CAST(column_name AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?1",
    };
    c.rows(sql, sql::args![table])?
        .iter()
        .map(|r| r.text(0))
        .collect()
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

#[cfg(test)]
#[path = "../../tests/pg_common/mod.rs"]
pub(crate) mod pg_test;

/// Test helpers: every database test runs on both backends.
#[cfg(test)]
pub(crate) mod testing {
    use super::{pg_test, Db};

    /// A database for one test (a PostgreSQL one is dropped with it).
    pub struct TestDb {
        pub db: Db,
        /// Dropped after `db` (field order); held for its drop.
        #[allow(dead_code)]
        pub pg: Option<pg_test::TempDb>,
    }

    impl std::ops::Deref for TestDb {
        type Target = Db;
        fn deref(&self) -> &Db {
            &self.db
        }
    }

    /// A fresh PostgreSQL database with the schema, when PostgreSQL is available.
    pub fn postgres() -> Option<TestDb> {
        let pg = pg_test::temp_db()?;
        let db = Db::open_postgres(&pg.url, 4).expect("open the test PostgreSQL database");
        Some(TestDb { db, pg: Some(pg) })
    }

    /// In-memory SQLite, then (when available) a fresh PostgreSQL database.
    pub fn backends() -> Vec<TestDb> {
        let mut v = vec![TestDb {
            db: Db::open_in_memory().unwrap(),
            pg: None,
        }];
        v.extend(postgres());
        v
    }

    /// [`backends`] without the schema applied (tests of older schemas).
    pub fn raw_backends() -> Vec<TestDb> {
        let mut v = vec![TestDb {
            db: Db::sqlite(rusqlite::Connection::open_in_memory().unwrap()).unwrap(),
            pg: None,
        }];
        if let Some(pg) = pg_test::temp_db() {
            v.push(TestDb {
                db: Db::postgres(&pg.url, 4).unwrap(),
                pg: Some(pg),
            });
        }
        v
    }

    /// Run `f` on every backend, saying which one runs (a failure's output shows it).
    pub fn each_backend(f: impl Fn(&Db)) {
        for t in backends() {
            eprintln!("--- backend {}", t.backend());
            f(&t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sql::args;
    use super::testing::{backends, each_backend, postgres};
    use super::*;

    /// A slow database call from an async handler leaves the runtime serving others: on
    /// a runtime of one worker, a ticker task keeps ticking while a handler waits 600 ms
    /// inside `Db::with` (without [`blocking`] the only worker would be held: 0 ticks).
    #[test]
    fn a_slow_database_call_does_not_hold_the_runtime() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let db = Db::open_in_memory().unwrap();
        let ticks = rt.block_on(async move {
            let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
            let t = ticks.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let before = ticks.load(std::sync::atomic::Ordering::Relaxed);
            let handler = tokio::spawn(async move {
                db.with(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(600));
                    Ok(())
                })
            });
            handler.await.unwrap().unwrap();
            ticker.abort();
            ticks.load(std::sync::atomic::Ordering::Relaxed) - before
        });
        assert!(ticks >= 5, "the runtime stalled: {ticks} ticks in 600 ms");
    }

    fn count(db: &Db, table: &str) -> i64 {
        db.with(|c| c.int(&format!("SELECT COUNT(*) FROM {table}"), args![]))
            .unwrap()
    }

    /// A transaction that fails (by its own error, a failing statement, or a panic)
    /// leaves nothing behind, and the database stays usable.
    #[test]
    fn a_failed_transaction_leaves_nothing_behind() {
        each_backend(|db| {
            let insert = |c: &mut dyn Conn, name: &str| {
                c.exec(
                    "INSERT INTO used_signatures (signature, used_at) VALUES (?1, ?2)",
                    args![name, 1i64],
                )
            };
            let r: Result<(), DbError> = db.tx(|c| {
                insert(c, "a")?;
                Err(DbError::Other("changed my mind".into()))
            });
            assert!(r.is_err());
            let r = db.tx(|c| {
                insert(c, "b")?;
                insert(c, "b")
            });
            let e = r.unwrap_err();
            assert!(e.is_unique_violation(), "{e}");
            let db2 = db.clone();
            let panicked = std::thread::spawn(move || {
                let _ = db2.tx(|c| -> Result<(), DbError> {
                    insert(c, "c")?;
                    panic!("in the middle of a transaction");
                });
            })
            .join();
            assert!(panicked.is_err());
            assert_eq!(count(db, "used_signatures"), 0);
            // Still usable: a good transaction commits.
            db.tx(|c| insert(c, "d")).unwrap();
            assert_eq!(count(db, "used_signatures"), 1);
            assert!(db.signature_used("d").unwrap());
        });
    }

    #[test]
    fn a_taken_name_is_a_unique_violation() {
        each_backend(|db| {
            let a = db.create_account("a", false).unwrap();
            let e = db.create_account("a", false).unwrap_err();
            assert!(e.is_unique_violation(), "{e}");
            let e = db.create_user(a.app_id, "a").unwrap_err();
            assert!(e.is_unique_violation(), "{e}");
            assert_eq!(db.account_count().unwrap(), 1);
            assert_eq!(db.users(a.app_id).unwrap().len(), 1);
            let bob = db.create_user(a.app_id, "bob").unwrap();
            assert_eq!(db.users(a.app_id).unwrap()[1], (bob, "bob".to_string()));
            assert!(!DbError::NoRows.is_unique_violation());
        });
    }

    /// Values of every type go in and come out alike; sums need a CAST on PostgreSQL
    /// (NUMERIC otherwise), and saying so is the error.
    #[test]
    fn values_round_trip_and_numeric_needs_a_cast() {
        each_backend(|db| {
            db.with(|c| {
                c.batch(&sql::ddl(
                    c.backend(),
                    "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB)",
                ))?;
                c.exec(
                    "INSERT INTO t (i, r, s, b) VALUES (?1, ?2, ?3, ?4), (?5, ?6, ?7, ?8)",
                    args![
                        i64::MAX,
                        1.5f64,
                        "é'?1",
                        vec![0u8, 255],
                        None::<i64>,
                        None::<f64>,
                        None::<&str>,
                        None::<Vec<u8>>
                    ],
                )?;
                let r = c.one("SELECT i, r, s, b FROM t WHERE i IS NOT NULL", args![])?;
                assert_eq!(r.int(0)?, i64::MAX);
                assert_eq!(r.real(1)?, 1.5);
                assert_eq!(r.text(2)?, "é'?1");
                assert_eq!(r.blob(3)?, vec![0u8, 255]);
                let r = c.one("SELECT i, r, s, b FROM t WHERE i IS NULL", args![])?;
                assert_eq!(
                    (
                        r.opt_int(0)?,
                        r.opt_real(1)?,
                        r.opt_text(2)?,
                        r.opt_blob(3)?
                    ),
                    (None, None, None, None)
                );
                assert_eq!(
                    c.int("SELECT CAST(SUM(i - 1) AS BIGINT) FROM t", args![])?,
                    i64::MAX - 1
                );
                assert_eq!(
                    c.int(
                        "SELECT COUNT(*) FROM t WHERE s = ?1 OR ?2 IS NULL",
                        args!["x", None::<&str>]
                    )?,
                    2
                );
                assert!(c
                    .opt_row("SELECT i FROM t WHERE i = ?1", args![7i64])?
                    .is_none());
                assert!(matches!(
                    c.one("SELECT i FROM t WHERE i = ?1", args![7i64]),
                    Err(DbError::NoRows)
                ));
                if c.backend() == Backend::Postgres {
                    let e = c.one("SELECT SUM(i) FROM t", args![]).unwrap_err();
                    assert!(e.to_string().contains("CAST it to BIGINT"), "{e}");
                }
                Ok(())
            })
            .unwrap();
        });
    }

    /// Servers starting at once on one PostgreSQL database all get the schema (the
    /// advisory lock), and opening an existing database again changes nothing.
    #[test]
    fn schema_creation_is_safe_twice_and_concurrently() {
        let Some(t) = postgres() else { return };
        let url = t.pg.as_ref().unwrap().url.clone();
        // A second, empty database for the concurrent start.
        let Some(fresh) = super::pg_test::temp_db() else {
            return;
        };
        let opened: Vec<Result<Db, DbError>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Db::open_postgres(&fresh.url, 1)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for db in &opened {
            let db = db
                .as_ref()
                .unwrap_or_else(|e| panic!("concurrent open: {e}"));
            assert_eq!(db.account_count().unwrap(), 0);
        }
        drop(opened);
        t.create_account("a", false).unwrap();
        let again = Db::open_postgres(&url, 2).unwrap();
        assert_eq!(again.account_count().unwrap(), 1);
        for t in backends() {
            t.db.clone().init().unwrap();
        }
    }

    /// The sync `postgres` client panics inside a tokio runtime; [`Db`] does not (its
    /// connections live on threads of their own), so async handlers may call it.
    #[test]
    fn usable_from_inside_a_tokio_runtime() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        for t in backends() {
            let db = t.db.clone();
            let n = rt
                .block_on(async move {
                    tokio::spawn(async move {
                        db.create_account("a", false).unwrap();
                        db.account_count().unwrap()
                    })
                    .await
                })
                .unwrap();
            assert_eq!(n, 1, "{}", t.backend());
        }
    }

    /// Connections the server closes (restart, terminated backends) are reopened: the
    /// pool recovers without a restart of ours.
    #[test]
    fn postgres_connections_killed_by_the_server_are_reopened() {
        let Some(t) = postgres() else { return };
        let url = t.pg.as_ref().unwrap().url.clone();
        // Open every connection of the pool.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| t.account_count().unwrap());
            }
        });
        let killer = Db::open_postgres(&url, 1).unwrap();
        let killed = killer
            .with(|c| {
                c.rows(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    args![],
                )
            })
            .unwrap();
        assert!(!killed.is_empty());
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut failures = 0;
        for _ in 0..8 {
            match t.create_account(&format!("a{}", random_id(6)), false) {
                Ok(_) => {}
                Err(e) => {
                    eprintln!("after the kill: {e}");
                    failures += 1;
                }
            }
        }
        assert!(failures <= 1, "{failures} failures");
        assert!(t.account_count().unwrap() >= 7);
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let e = Db::open_url("mysql://u:hunter2@h/d", &dir.path().join("x"), 1)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("postgres://") && !e.contains("hunter2"), "{e}");
        // Nothing listens on port 1: a clear error, no password.
        let e = Db::open_url(
            "postgres://u:hunter2@127.0.0.1:1/d",
            &dir.path().join("x"),
            1,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("127.0.0.1:1") && !e.contains("hunter2"), "{e}");
        // Empty: SQLite at the path given.
        let db = Db::open_url(" ", &dir.path().join("x.sqlite3"), 1).unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        assert!(dir.path().join("x.sqlite3").exists());
    }

    /// A database file made by the SQLite-only builds (the schema as it was, including
    /// the first `objects` and `images` tables) opens, keeps its rows and works.
    #[test]
    fn an_existing_sqlite_file_from_the_old_schema_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("imgport.sqlite3");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(OLD_SCHEMA).unwrap();
            c.execute_batch(
                "INSERT INTO accounts VALUES (1250000001, 'admin', 'AKIDX', 'key', 1, 0);
                 INSERT INTO users (app_id, name, created_at) VALUES (1250000001, 'admin', 0);
                 INSERT INTO buckets VALUES ('b', 1250000001, 'ap-guangzhou', 0, 0);
                 INSERT INTO objects VALUES ('b', 'k', 'blob1', 1, 'e', 1, 0);
                 INSERT INTO images (image_id, app_id, name, os_type, os_version, architecture, region, source_url, source_blob, state, created_at, updated_at)
                   VALUES ('img-old1', 1250000001, 'old', 'CentOS', '7', 'x86_64', 'ap-guangzhou', 'u', 'blob1', 'NORMAL', 1, 1),
                          ('img-old2', 1250000001, 'job', 'CentOS', '7', 'x86_64', 'ap-guangzhou', 'u', 'blob1', 'IMPORTING', 2, 2);
                 INSERT INTO messages (user_id, app_id, image_id, title, body, created_at) VALUES (1, 1250000001, 'img-old1', 't', 'b', 1);",
            )
            .unwrap();
        }
        for _ in 0..2 {
            let db = Db::open(&path).unwrap();
            let a = db.account_by_secret_id("AKIDX").unwrap().unwrap();
            assert!(a.is_admin);
            assert_eq!(
                db.object("b", "k").unwrap().unwrap().acl,
                objects::ACL_PUBLIC_READ
            );
            let img = db.image(a.app_id, "img-old1").unwrap().unwrap();
            assert_eq!((img.state.as_str(), img.tags.as_str()), ("NORMAL", "[]"));
            assert_eq!(db.messages(1, 0, 10).unwrap().1, 1);
        }
        let db = Db::open(&path).unwrap();
        // New rows next to the old ones: ids continue, jobs lease.
        assert_eq!(db.create_user(1250000001, "bob").unwrap(), 2);
        let job = db.lease_job("w", 30, 3).unwrap().unwrap();
        assert_eq!(job.image_id, "img-old2");
        let b = db.create_account("b", false).unwrap();
        assert_eq!(b.app_id, 1250000002);
        db.put_object(&objects::Object {
            bucket: "b".into(),
            key: "k".into(),
            blob: "blob2".into(),
            size: 1,
            etag: "e".into(),
            acl: objects::ACL_DEFAULT.into(),
            headers: vec![],
            created_at: 3,
        })
        .unwrap();
        assert_eq!(db.object("b", "k").unwrap().unwrap().blob, "blob2");
    }

    /// The schema of the SQLite-only builds (main before the PostgreSQL backend), with
    /// the `images` and `objects` tables of their first release.
    const OLD_SCHEMA: &str = "
CREATE TABLE accounts (app_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, secret_id TEXT NOT NULL UNIQUE, secret_key TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE TABLE users (user_id INTEGER PRIMARY KEY AUTOINCREMENT, app_id INTEGER NOT NULL REFERENCES accounts(app_id), name TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE(app_id, name));
CREATE TABLE buckets (name TEXT PRIMARY KEY, app_id INTEGER NOT NULL REFERENCES accounts(app_id), region TEXT NOT NULL, public_read INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE INDEX buckets_by_app ON buckets(app_id, name);
CREATE TABLE images (image_id TEXT PRIMARY KEY, app_id INTEGER NOT NULL REFERENCES accounts(app_id), name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', os_type TEXT NOT NULL, os_version TEXT NOT NULL, architecture TEXT NOT NULL, force INTEGER NOT NULL DEFAULT 0, region TEXT NOT NULL, source_url TEXT NOT NULL, source_blob TEXT NOT NULL, state TEXT NOT NULL, phase TEXT NOT NULL DEFAULT 'queued', progress INTEGER NOT NULL DEFAULT 0, bytes_done INTEGER NOT NULL DEFAULT 0, size_bytes INTEGER NOT NULL DEFAULT 0, error_code TEXT, error_message TEXT, findings TEXT NOT NULL DEFAULT '[]', attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, finished_at INTEGER);
CREATE INDEX images_by_app ON images(app_id, created_at);
CREATE INDEX images_by_state ON images(state, lease_until);
CREATE TABLE job_phases (id INTEGER PRIMARY KEY AUTOINCREMENT, image_id TEXT NOT NULL, attempt INTEGER NOT NULL, phase TEXT NOT NULL, worker TEXT NOT NULL, started_ms INTEGER NOT NULL, elapsed_ms INTEGER NOT NULL, bytes INTEGER NOT NULL DEFAULT 0, outcome TEXT NOT NULL);
CREATE INDEX job_phases_by_image ON job_phases(image_id, id);
CREATE TABLE subscriptions (user_id INTEGER PRIMARY KEY REFERENCES users(user_id), subscribed INTEGER NOT NULL, webhook_url TEXT, updated_at INTEGER NOT NULL);
CREATE TABLE messages (message_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL REFERENCES users(user_id), app_id INTEGER NOT NULL, image_id TEXT, title TEXT NOT NULL, body TEXT NOT NULL, code TEXT, is_read INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE INDEX messages_by_user ON messages(user_id, message_id);
CREATE TABLE webhook_deliveries (delivery_id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER NOT NULL, url TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, last_error TEXT, created_at INTEGER NOT NULL);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_at);
CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, public_read INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, PRIMARY KEY (bucket, key));
CREATE TABLE multipart_uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, app_id INTEGER NOT NULL, acl TEXT NOT NULL, headers TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX multipart_uploads_by_key ON multipart_uploads(bucket, key, upload_id);
CREATE TABLE multipart_parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, checksum TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (upload_id, part_number));
CREATE TABLE used_signatures (signature TEXT PRIMARY KEY, used_at INTEGER NOT NULL);
";
}
