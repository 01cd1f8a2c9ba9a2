//! The backend-neutral layer under the table modules: values ([`Val`]), result rows
//! ([`Row`]), one connection or transaction ([`Conn`]) and the one error type
//! ([`DbError`]).
//!
//! The table modules write one SQL dialect that runs on SQLite and PostgreSQL alike:
//! numbered placeholders `?1, ?2, …`; `INSERT … ON CONFLICT (…) DO NOTHING / DO UPDATE
//! SET c = excluded.c` instead of `INSERT OR IGNORE/REPLACE`; `RETURNING` instead of
//! `last_insert_rowid()`; `CAST(SUM(x) AS BIGINT)` for sums; no functions only one of
//! them has (`MAX(a, b)`, `IFNULL`, `strftime`, …). Schemas are written once in SQLite's
//! words; [`ddl`] translates the few type words for PostgreSQL.

use std::fmt;

/// The database backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A parameter or a result value.
///
/// The typed nulls (`NullInt`, `NullReal`, `NullBlob`) matter on PostgreSQL only, where
/// every placeholder is cast to its value's type: `Null` is bound as a `TEXT` null.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    NullInt,
    NullReal,
    NullBlob,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Val {
    pub fn is_null(&self) -> bool {
        matches!(
            self,
            Val::Null | Val::NullInt | Val::NullReal | Val::NullBlob
        )
    }

    /// The SQL type PostgreSQL binds this value as.
    pub(crate) fn pg_type(&self) -> &'static str {
        match self {
            Val::Null | Val::Text(_) => "TEXT",
            Val::NullInt | Val::Int(_) => "BIGINT",
            Val::NullReal | Val::Real(_) => "DOUBLE PRECISION",
            Val::NullBlob | Val::Blob(_) => "BYTEA",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            v if v.is_null() => "NULL",
            Val::Int(_) => "integer",
            Val::Real(_) => "real",
            Val::Text(_) => "text",
            _ => "blob",
        }
    }
}

/// What can be a parameter: `i64`, `bool` (0/1), `f64`, strings, bytes, and `Option`s
/// of them (a `None` becomes the null of the type).
pub trait ToVal {
    fn to_val(self) -> Val;
    /// The null of this type.
    fn null() -> Val
    where
        Self: Sized,
    {
        Val::Null
    }
}

impl ToVal for Val {
    fn to_val(self) -> Val {
        self
    }
}
impl ToVal for &Val {
    fn to_val(self) -> Val {
        self.clone()
    }
}
impl ToVal for i64 {
    fn to_val(self) -> Val {
        Val::Int(self)
    }
    fn null() -> Val {
        Val::NullInt
    }
}
impl ToVal for &i64 {
    fn to_val(self) -> Val {
        Val::Int(*self)
    }
    fn null() -> Val {
        Val::NullInt
    }
}
impl ToVal for bool {
    fn to_val(self) -> Val {
        Val::Int(self as i64)
    }
    fn null() -> Val {
        Val::NullInt
    }
}
impl ToVal for f64 {
    fn to_val(self) -> Val {
        Val::Real(self)
    }
    fn null() -> Val {
        Val::NullReal
    }
}
impl ToVal for &str {
    fn to_val(self) -> Val {
        Val::Text(self.to_string())
    }
}
impl ToVal for String {
    fn to_val(self) -> Val {
        Val::Text(self)
    }
}
impl ToVal for &String {
    fn to_val(self) -> Val {
        Val::Text(self.clone())
    }
}
impl ToVal for &Option<String> {
    fn to_val(self) -> Val {
        self.as_deref().to_val()
    }
}
impl ToVal for Vec<u8> {
    fn to_val(self) -> Val {
        Val::Blob(self)
    }
    fn null() -> Val {
        Val::NullBlob
    }
}
impl ToVal for &[u8] {
    fn to_val(self) -> Val {
        Val::Blob(self.to_vec())
    }
    fn null() -> Val {
        Val::NullBlob
    }
}
impl<T: ToVal> ToVal for Option<T> {
    fn to_val(self) -> Val {
        match self {
            Some(v) => v.to_val(),
            None => T::null(),
        }
    }
    fn null() -> Val {
        T::null()
    }
}

/// Parameters for [`Conn`] calls: `args![id, name, n.force, None::<i64>]` is a
/// `&[Val]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::db::sql::ToVal::to_val($v)),*] as &[$crate::db::sql::Val]
    };
}
pub(crate) use args;

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn get(&self, i: usize) -> Result<&Val, DbError> {
        self.0
            .get(i)
            .ok_or_else(|| DbError::Type(format!("no column {i} (the row has {})", self.0.len())))
    }

    fn mismatch(&self, i: usize, want: &str) -> DbError {
        let got = self.0.get(i).map_or("nothing", Val::kind);
        DbError::Type(format!("column {i}: expected {want}, found {got}"))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.get(i)? {
            Val::Int(v) => Ok(Some(*v)),
            v if v.is_null() => Ok(None),
            _ => Err(self.mismatch(i, "an integer")),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64, DbError> {
        self.opt_int(i)?
            .ok_or_else(|| self.mismatch(i, "an integer"))
    }

    /// An integer column read as a flag (non-zero is true).
    pub fn bool(&self, i: usize) -> Result<bool, DbError> {
        Ok(self.int(i)? != 0)
    }

    pub fn opt_real(&self, i: usize) -> Result<Option<f64>, DbError> {
        match self.get(i)? {
            Val::Real(v) => Ok(Some(*v)),
            Val::Int(v) => Ok(Some(*v as f64)),
            v if v.is_null() => Ok(None),
            _ => Err(self.mismatch(i, "a number")),
        }
    }

    pub fn real(&self, i: usize) -> Result<f64, DbError> {
        self.opt_real(i)?
            .ok_or_else(|| self.mismatch(i, "a number"))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.get(i)? {
            Val::Text(v) => Ok(Some(v.clone())),
            v if v.is_null() => Ok(None),
            _ => Err(self.mismatch(i, "text")),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, DbError> {
        self.opt_text(i)?.ok_or_else(|| self.mismatch(i, "text"))
    }

    pub fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>, DbError> {
        match self.get(i)? {
            Val::Blob(v) => Ok(Some(v.clone())),
            v if v.is_null() => Ok(None),
            _ => Err(self.mismatch(i, "a blob")),
        }
    }

    pub fn blob(&self, i: usize) -> Result<Vec<u8>, DbError> {
        self.opt_blob(i)?.ok_or_else(|| self.mismatch(i, "a blob"))
    }
}

/// One connection, or one transaction, of either backend. Object-safe: the table
/// modules take `&mut dyn Conn`.
pub trait Conn {
    /// Run a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError>;
    /// Run a query; all its rows.
    fn rows(&mut self, sql: &str, args: &[Val]) -> Result<Vec<Row>, DbError>;
    /// Run statements without parameters, separated by `;` (schemas).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// Which backend this is (for the few statements that differ, e.g. schema
    /// introspection).
    fn backend(&self) -> Backend;

    /// The first row, if any.
    fn opt_row(&mut self, sql: &str, args: &[Val]) -> Result<Option<Row>, DbError> {
        Ok(self.rows(sql, args)?.into_iter().next())
    }

    /// The first row; [`DbError::NoRows`] when there is none.
    fn one(&mut self, sql: &str, args: &[Val]) -> Result<Row, DbError> {
        self.opt_row(sql, args)?.ok_or(DbError::NoRows)
    }

    /// The integer in the first column of the first row (`COUNT(*)`, …).
    fn int(&mut self, sql: &str, args: &[Val]) -> Result<i64, DbError> {
        self.one(sql, args)?.int(0)
    }
}

/// A database error of either backend.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    /// A query that must return a row returned none.
    #[error("the query returned no row")]
    NoRows,
    /// A column did not hold the type asked for.
    #[error("column type: {0}")]
    Type(String),
    /// The database cannot be reached (connection thread gone, bad address, …).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else (bad SQL placeholder, …).
    #[error("{0}")]
    Other(String),
}

/// The server's message (with its detail) when there is one, else the client's.
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut s = format!("{}: {} ({})", d.severity(), d.message(), d.code().code());
            if let Some(detail) = d.detail() {
                s.push_str(&format!("; {detail}"));
            }
            s
        }
        None => e.to_string(),
    }
}

impl DbError {
    /// A UNIQUE or PRIMARY KEY constraint was violated (e.g. a name is taken).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

/// Translate a schema written in SQLite's words for `backend`. For PostgreSQL:
/// `INTEGER PRIMARY KEY AUTOINCREMENT` → `BIGSERIAL PRIMARY KEY`, `INTEGER` → `BIGINT`,
/// `REAL` → `DOUBLE PRECISION`, `BLOB` → `BYTEA`, and `TEXT` → `TEXT COLLATE "C"` (text
/// compares and sorts by bytes as in SQLite: S3 lists keys in UTF-8 byte order). Type
/// words are recognised in upper case only (column names are lower case: `blob` is a
/// column, `BLOB` a type); words inside quotes are left alone.
pub fn ddl(backend: Backend, schema: &str) -> String {
    if backend == Backend::Sqlite {
        return schema.to_string();
    }
    let toks = tokens(schema);
    let mut out = String::with_capacity(schema.len() + 64);
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let next_words: Vec<&str> = (i + 1..toks.len())
            .filter(|&k| !toks[k].trim().is_empty())
            .take(3)
            .map(|k| toks[k])
            .collect();
        match t {
            "INTEGER" if next_words == ["PRIMARY", "KEY", "AUTOINCREMENT"] => {
                out.push_str("BIGSERIAL PRIMARY KEY");
                // Skip through AUTOINCREMENT.
                let mut seen = 0;
                while seen < 3 {
                    i += 1;
                    if !toks[i].trim().is_empty() {
                        seen += 1;
                    }
                }
            }
            "INTEGER" => out.push_str("BIGINT"),
            "REAL" => out.push_str("DOUBLE PRECISION"),
            "BLOB" => out.push_str("BYTEA"),
            "TEXT" => out.push_str("TEXT COLLATE \"C\""),
            _ => out.push_str(t),
        }
        i += 1;
    }
    out
}

/// Split SQL into words (`[A-Za-z0-9_]+`), quoted strings/identifiers and single other
/// characters, keeping everything (concatenating the tokens gives the input back).
fn tokens(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
        } else if c == b'\'' || c == b'"' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += 1;
            }
            i = (i + 1).min(b.len());
        } else {
            // One character (UTF-8 aware).
            i += s[i..].chars().next().map_or(1, char::len_utf8);
        }
        out.push(&s[start..i]);
    }
    out
}

/// Rewrite `?N` placeholders as PostgreSQL's `$N`, each cast to its value's type
/// (`$1::BIGINT`): PostgreSQL infers parameter types from context and refuses
/// ambiguous ones (`?3 IS NULL`), the casts make every statement well-typed. Quoted
/// strings, quoted identifiers and `--` comments are left alone.
pub(crate) fn pg_placeholders(sql: &str, args: &[Val]) -> Result<String, DbError> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16 * args.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'?' => {
                out.push_str(&sql[last..i]);
                let start = i + 1;
                let mut end = start;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                let n: usize = sql[start..end].parse().map_err(|_| {
                    DbError::Other(format!(
                        "unnumbered `?` placeholder at byte {i} (write ?1, ?2, …): {sql}"
                    ))
                })?;
                let v = n.checked_sub(1).and_then(|k| args.get(k)).ok_or_else(|| {
                    DbError::Other(format!(
                        "placeholder ?{n} has no value ({} given): {sql}",
                        args.len()
                    ))
                })?;
                out.push_str(&format!("${n}::{}", v.pg_type()));
                i = end;
                last = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[last.min(sql.len())..]);
    Ok(out)
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_get_numbered_casts_outside_quotes() {
        let a = args![1i64, "x", None::<&str>, None::<i64>, 2.5f64, vec![1u8]];
        let s = pg_placeholders(
            "SELECT '?1', \"a?\" FROM t WHERE a = ?1 AND b = ?2 AND (?3 IS NULL) -- ?9\n AND c = ?4 AND d < ?5 AND e = ?6 AND f = ?1",
            a,
        )
        .unwrap();
        assert_eq!(
            s,
            "SELECT '?1', \"a?\" FROM t WHERE a = $1::BIGINT AND b = $2::TEXT AND ($3::TEXT IS NULL) -- ?9\n AND c = $4::BIGINT AND d < $5::DOUBLE PRECISION AND e = $6::BYTEA AND f = $1::BIGINT"
        );
        assert!(pg_placeholders("SELECT ?", args![1i64]).is_err());
        assert!(pg_placeholders("SELECT ?2", args![1i64]).is_err());
        assert!(pg_placeholders("SELECT ?0", args![1i64]).is_err());
    }

    #[test]
    fn ddl_translates_type_words_for_postgres_only() {
        let s = "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL DEFAULT 0,\n  name TEXT DEFAULT 'INTEGER TEXT', b BLOB, r REAL, integer_col TEXT, blob TEXT);";
        assert_eq!(ddl(Backend::Sqlite, s), s);
        assert_eq!(
            ddl(Backend::Postgres, s),
            "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0,\n  name TEXT COLLATE \"C\" DEFAULT 'INTEGER TEXT', b BYTEA, r DOUBLE PRECISION, integer_col TEXT COLLATE \"C\", blob TEXT COLLATE \"C\");"
        );
        assert_eq!(
            ddl(Backend::Postgres, "a INTEGER PRIMARY KEY,"),
            "a BIGINT PRIMARY KEY,"
        );
    }

    #[test]
    fn rows_check_types_and_options_make_typed_nulls() {
        let r = Row(vec![
            Val::Int(3),
            Val::Null,
            Val::Text("t".into()),
            Val::NullInt,
        ]);
        assert_eq!(r.int(0).unwrap(), 3);
        assert!(r.bool(0).unwrap());
        assert_eq!(r.opt_int(1).unwrap(), None);
        assert_eq!(r.opt_text(3).unwrap(), None);
        assert_eq!(r.text(2).unwrap(), "t");
        assert!(r.int(2).is_err());
        assert!(r.text(1).is_err());
        assert!(r.int(9).is_err());
        assert_eq!(
            args![
                None::<i64>,
                None::<&str>,
                Some(4i64),
                true,
                &Some("a".to_string())
            ],
            &[
                Val::NullInt,
                Val::Null,
                Val::Int(4),
                Val::Int(1),
                Val::Text("a".into())
            ]
        );
    }
}
