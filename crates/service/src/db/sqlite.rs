//! The SQLite backend (the embedded default): one connection in WAL mode behind a
//! mutex, foreign keys on, a busy timeout for the other processes (`imgport account`)
//! writing the same file.

use super::sql::{Backend, Conn, DbError, Row, Val};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, TransactionBehavior};
use std::sync::Mutex;

pub(crate) struct Sqlite {
    conn: Mutex<Connection>,
}

impl Sqlite {
    pub(crate) fn new(conn: Connection) -> Result<Sqlite, DbError> {
        conn.execute_batch(
            // secure_delete: replaced values (a SecretKey sealed in place, issue 18 item
            // 4) are overwritten, not left in free space.
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000; PRAGMA secure_delete=ON;",
        )?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(Sqlite {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        let guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut SqliteConn { conn: &guard })
    }

    /// `BEGIN IMMEDIATE` (the write lock up front: a deferred transaction that reads
    /// and then writes can fail at once with SQLITE_BUSY when another process writes);
    /// rolled back when `f` fails or panics.
    pub(crate) fn tx<R, E: From<DbError>>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = guard
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(DbError::from)?;
        let r = f(&mut SqliteConn { conn: &tx })?;
        tx.commit().map_err(DbError::from)?;
        Ok(r)
    }
}

struct SqliteConn<'a> {
    conn: &'a Connection,
}

impl Conn for SqliteConn<'_> {
    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError> {
        let mut st = self.conn.prepare_cached(sql)?;
        Ok(st.execute(params_from_iter(args.iter()))? as u64)
    }

    fn rows(&mut self, sql: &str, args: &[Val]) -> Result<Vec<Row>, DbError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(match r.get_ref(i)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(x) => Val::Int(x),
                    ValueRef::Real(x) => Val::Real(x),
                    ValueRef::Text(t) => Val::Text(
                        String::from_utf8(t.to_vec())
                            .map_err(|e| DbError::Type(format!("column {i}: {e}")))?,
                    ),
                    ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                });
            }
            out.push(Row(v));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.conn.execute_batch(sql)?)
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null | Val::NullInt | Val::NullReal | Val::NullBlob => ValueRef::Null,
            Val::Int(v) => ValueRef::Integer(*v),
            Val::Real(v) => ValueRef::Real(*v),
            Val::Text(v) => ValueRef::Text(v.as_bytes()),
            Val::Blob(v) => ValueRef::Blob(v),
        }))
    }
}
