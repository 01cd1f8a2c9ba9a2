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

/// A handle to the database, cheap to clone, usable from any thread (including async
/// handlers: calls block briefly, as SQLite always did).
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
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
        })
    }

    /// A PostgreSQL database without the schema applied (tests of old schemas).
    pub(crate) fn postgres(url: &str, connections: usize) -> Result<Db, DbError> {
        Ok(Db {
            inner: Arc::new(Inner::Postgres(pg::Pg::new(url, connections)?)),
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
        match &*self.inner {
            Inner::Sqlite(s) => s.with(f),
            Inner::Postgres(p) => p.with(f),
        }
    }

    /// Run `f` in a transaction: committed when `f` returns `Ok`, rolled back when it
    /// returns `Err` (or panics). `E` lets `f` stop with its own reason (any error type
    /// a [`DbError`] converts into).
    pub fn tx<R, E: From<DbError>>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<R, E>,
    ) -> Result<R, E> {
        match &*self.inner {
            Inner::Sqlite(s) => s.tx(f),
            Inner::Postgres(p) => p.tx(f),
        }
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
