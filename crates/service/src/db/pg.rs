//! The PostgreSQL backend (scale-out): a small pool of connections, each owned by a
//! dedicated std thread.
//!
//! Why threads: the synchronous `postgres::Client` drives its own tokio runtime and
//! panics when called from a thread that is inside a runtime — and the service calls
//! the database from axum handlers as well as from job threads. So no caller touches a
//! client: [`Pg::with`] checks a connection thread out of the pool (waiting while all
//! are busy, as the SQLite mutex does) and sends it each statement (owned SQL and
//! values) over a channel, blocking on the reply. The caller's closure runs on the
//! caller's thread; a transaction is `BEGIN` … `COMMIT`/`ROLLBACK` on the one checked-out
//! connection, rolled back if the closure fails or panics.
//!
//! Statements are written with `?N` placeholders; each becomes `$N::TYPE` with the
//! type of the value bound to it (see [`super::sql::pg_placeholders`]). Result columns
//! are mapped by their PostgreSQL type: INT2/4/8 → integer, BOOL → 0/1, TEXT/VARCHAR
//! → text, BYTEA → blob, FLOAT4/8 → real; NUMERIC (what `SUM` of integers gives) is an
//! error asking for a `CAST(… AS BIGINT)`.
//!
//! A connection that broke (server restart) is reopened on its next statement, unless
//! it broke inside a transaction: that transaction fails.

use super::sql::{pg_placeholders, Backend, Conn, DbError, Row, Val};
use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Prepared statements kept per connection (cleared when full).
const STATEMENT_CACHE: usize = 256;

enum Op {
    Exec(String, Vec<Val>),
    Query(String, Vec<Val>),
    Batch(String),
    Begin,
    Commit,
    Rollback,
}

enum Reply {
    Count(u64),
    Rows(Vec<Row>),
    Done,
}

/// The caller's end of one connection thread.
struct Worker {
    ops: Sender<Op>,
    replies: Receiver<Result<Reply, DbError>>,
}

pub(crate) struct Pg {
    idle: Mutex<Vec<Worker>>,
    freed: Condvar,
    /// `user@host:port/db` (no password), for messages.
    shown: String,
}

impl Pg {
    /// Start `size` connection threads for `url` (`postgres://…` or `postgresql://…`).
    /// Connections open lazily; the caller's first statement reports a bad address.
    pub(crate) fn new(url: &str, size: usize) -> Result<Pg, DbError> {
        let mut config: postgres::Config = url.parse().map_err(|e| {
            DbError::Unavailable(format!("bad PostgreSQL URL {}: {e}", redact_url(url)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("imgport");
        }
        let mut idle = Vec::new();
        for n in 0..size.max(1) {
            let (op_tx, op_rx) = channel();
            let (rep_tx, rep_rx) = channel();
            let config = config.clone();
            std::thread::Builder::new()
                .name(format!("imgport-pg-{n}"))
                .spawn(move || serve(config, op_rx, rep_tx))
                .map_err(|e| DbError::Unavailable(format!("starting a connection thread: {e}")))?;
            idle.push(Worker {
                ops: op_tx,
                replies: rep_rx,
            });
        }
        Ok(Pg {
            idle: Mutex::new(idle),
            freed: Condvar::new(),
            shown: redact_url(url),
        })
    }

    fn checkout(&self) -> Worker {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(w) = idle.pop() {
                return w;
            }
            idle = self.freed.wait(idle).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn session(&self) -> PgConn<'_> {
        PgConn {
            pool: self,
            worker: Some(self.checkout()),
            in_tx: false,
        }
    }

    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        f(&mut self.session())
    }

    pub(crate) fn tx<R, E: From<DbError>>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut s = self.session();
        s.call(Op::Begin).map_err(E::from)?;
        s.in_tx = true;
        // On an error (or a panic) the session's drop rolls back.
        let r = f(&mut s)?;
        s.call(Op::Commit).map_err(E::from)?;
        s.in_tx = false;
        Ok(r)
    }

    /// The server as shown in messages (no password).
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }
}

/// A checked-out connection.
struct PgConn<'a> {
    pool: &'a Pg,
    worker: Option<Worker>,
    in_tx: bool,
}

impl PgConn<'_> {
    fn call(&mut self, op: Op) -> Result<Reply, DbError> {
        let w = self.worker.as_ref().expect("worker present until drop");
        let gone = || DbError::Unavailable("the PostgreSQL connection thread stopped".into());
        w.ops.send(op).map_err(|_| gone())?;
        w.replies.recv().map_err(|_| gone())?
    }
}

impl Drop for PgConn<'_> {
    fn drop(&mut self) {
        if self.in_tx {
            let _ = self.call(Op::Rollback);
        }
        if let Some(w) = self.worker.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(w);
            self.pool.freed.notify_one();
        }
    }
}

impl Conn for PgConn<'_> {
    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError> {
        match self.call(Op::Exec(sql.to_string(), args.to_vec()))? {
            Reply::Count(n) => Ok(n),
            _ => Err(DbError::Other("unexpected reply to exec".into())),
        }
    }

    fn rows(&mut self, sql: &str, args: &[Val]) -> Result<Vec<Row>, DbError> {
        match self.call(Op::Query(sql.to_string(), args.to_vec()))? {
            Reply::Rows(r) => Ok(r),
            _ => Err(DbError::Other("unexpected reply to a query".into())),
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.call(Op::Batch(sql.to_string())).map(|_| ())
    }

    fn backend(&self) -> Backend {
        Backend::Postgres
    }
}

/// The connection thread: owns one client; runs the statements it is sent.
fn serve(config: postgres::Config, ops: Receiver<Op>, replies: Sender<Result<Reply, DbError>>) {
    let mut client: Option<Client> = None;
    let mut cache: HashMap<String, Statement> = HashMap::new();
    let mut in_tx = false;
    for op in ops {
        let r = run(&config, &mut client, &mut cache, &mut in_tx, op);
        if client.as_ref().is_some_and(Client::is_closed) {
            client = None;
        }
        if replies.send(r).is_err() {
            break;
        }
    }
}

fn run(
    config: &postgres::Config,
    client: &mut Option<Client>,
    cache: &mut HashMap<String, Statement>,
    in_tx: &mut bool,
    op: Op,
) -> Result<Reply, DbError> {
    // A connection the server closed (restart, terminated backend) is noticed by the
    // client's connection task: reopen it now rather than fail this statement.
    if client.as_ref().is_some_and(Client::is_closed) {
        *client = None;
    }
    if client.is_none() {
        if *in_tx && !matches!(op, Op::Rollback | Op::Begin) {
            return Err(DbError::Unavailable(
                "the PostgreSQL connection was lost inside a transaction".into(),
            ));
        }
        if matches!(op, Op::Rollback) {
            *in_tx = false;
            return Ok(Reply::Done);
        }
        cache.clear();
        *in_tx = false;
        *client = Some(config.connect(NoTls)?);
    }
    let c = client.as_mut().expect("connected above");
    match op {
        Op::Begin => {
            c.batch_execute("BEGIN")?;
            *in_tx = true;
            Ok(Reply::Done)
        }
        Op::Commit | Op::Rollback => {
            *in_tx = false;
            let word = if matches!(op, Op::Commit) {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            c.batch_execute(word)?;
            Ok(Reply::Done)
        }
        Op::Batch(sql) => {
            c.batch_execute(&sql)?;
            // DDL may change what cached statements return.
            cache.clear();
            Ok(Reply::Done)
        }
        Op::Exec(sql, args) => {
            let st = prepare(c, cache, &sql, &args)?;
            Ok(Reply::Count(c.execute(&st, &params(&args))?))
        }
        Op::Query(sql, args) => {
            let st = prepare(c, cache, &sql, &args)?;
            let rows = c.query(&st, &params(&args))?;
            Ok(Reply::Rows(
                rows.iter().map(row).collect::<Result<Vec<_>, _>>()?,
            ))
        }
    }
}

fn prepare(
    c: &mut Client,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
    args: &[Val],
) -> Result<Statement, DbError> {
    let sql = pg_placeholders(sql, args)?;
    if let Some(st) = cache.get(&sql) {
        return Ok(st.clone());
    }
    let st = c.prepare(&sql)?;
    if cache.len() >= STATEMENT_CACHE {
        cache.clear();
    }
    cache.insert(sql, st.clone());
    Ok(st)
}

fn params(args: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// One result row, by column type.
fn row(r: &postgres::Row) -> Result<Row, DbError> {
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let t = col.type_();
        let v = if *t == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?
                .map_or(Val::NullInt, Val::Int)
        } else if *t == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map_or(Val::NullInt, |x| Val::Int(x.into()))
        } else if *t == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map_or(Val::NullInt, |x| Val::Int(x.into()))
        } else if *t == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map_or(Val::NullInt, |x| Val::Int(x.into()))
        } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(t) {
            r.try_get::<_, Option<String>>(i)?
                .map_or(Val::Null, Val::Text)
        } else if *t == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?
                .map_or(Val::NullBlob, Val::Blob)
        } else if *t == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)?
                .map_or(Val::NullReal, Val::Real)
        } else if *t == Type::FLOAT4 {
            r.try_get::<_, Option<f32>>(i)?
                .map_or(Val::NullReal, |x| Val::Real(x.into()))
        } else if *t == Type::NUMERIC {
            return Err(DbError::Type(format!(
                "column {i} ({}) is NUMERIC: CAST it to BIGINT in the query (SUM of integers is NUMERIC on PostgreSQL)",
                col.name()
            )));
        } else {
            return Err(DbError::Type(format!(
                "column {i} ({}) has the unsupported PostgreSQL type {t}",
                col.name()
            )));
        };
        out.push(v);
    }
    Ok(Row(out))
}

/// Values are bound as the type their placeholder was cast to ([`Val::pg_type`]); the
/// server may still ask for a narrower integer (never with our casts, but harmless).
impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Val::Null | Val::NullInt | Val::NullReal | Val::NullBlob => Ok(IsNull::Yes),
            Val::Int(v) => {
                if *ty == Type::INT8 {
                    v.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*v != 0).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*v as f64).to_sql(ty, out)
                } else {
                    Err(format!("an integer cannot be bound as {ty}").into())
                }
            }
            Val::Real(v) => v.to_sql(ty, out),
            Val::Text(v) => v.as_str().to_sql(ty, out),
            Val::Blob(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `url` without its password (`postgres://user:secret@host/db` →
/// `postgres://user:***@host/db`), for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first '/', '?' or '#'; credentials end at its last '@'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(end);
    let shown_auth = match auth.rsplit_once('@') {
        Some((cred, host)) => match cred.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{cred}@{host}"),
        },
        None => auth.to_string(),
    };
    // A password may also be a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, q)) => {
            let q: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{shown_auth}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact_url("postgres://u:s3cr@t@db.example:5432/imgport"),
            "postgres://u:***@db.example:5432/imgport"
        );
        assert_eq!(
            redact_url("postgresql://u@h/d?sslmode=disable&password=x"),
            "postgresql://u@h/d?sslmode=disable&password=***"
        );
        assert_eq!(redact_url("postgres://h/d"), "postgres://h/d");
    }
}
