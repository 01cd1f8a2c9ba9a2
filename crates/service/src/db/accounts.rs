//! Accounts (tenants: AppId, SecretId, SecretKey) and their users (who receive
//! messages, R-FLOW-ASYNC).

use super::{now, random_id, Db};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    app_id      INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    secret_id   TEXT NOT NULL UNIQUE,
    secret_key  TEXT NOT NULL,
    is_admin    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    user_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id      INTEGER NOT NULL REFERENCES accounts(app_id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE(app_id, name)
);
";

/// A tenant with its API credentials.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub app_id: i64,
    pub name: String,
    pub secret_id: String,
    pub secret_key: String,
    pub is_admin: bool,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        app_id: r.get(0)?,
        name: r.get(1)?,
        secret_id: r.get(2)?,
        secret_key: r.get(3)?,
        is_admin: r.get::<_, i64>(4)? != 0,
    })
}

const COLS: &str = "app_id, name, secret_id, secret_key, is_admin";

impl Db {
    /// Create an account with fresh credentials and an owner user named like it.
    pub fn create_account(&self, name: &str, is_admin: bool) -> rusqlite::Result<Account> {
        self.with(|c| {
            let next: i64 = c.query_row("SELECT COALESCE(MAX(app_id), 1250000000) + 1 FROM accounts", [], |r| r.get(0))?;
            let secret_id = format!("AKID{}", random_id(32).to_uppercase());
            let secret_key = random_id(32);
            c.execute(
                "INSERT INTO accounts (app_id, name, secret_id, secret_key, is_admin, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![next, name, secret_id, secret_key, is_admin as i64, now()],
            )?;
            c.execute("INSERT INTO users (app_id, name, created_at) VALUES (?1, ?2, ?3)", params![next, name, now()])?;
            Ok(Account { app_id: next, name: name.into(), secret_id, secret_key, is_admin })
        })
    }

    /// The account owning `secret_id`.
    pub fn account_by_secret_id(&self, secret_id: &str) -> rusqlite::Result<Option<Account>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLS} FROM accounts WHERE secret_id = ?1"),
                [secret_id],
                row,
            )
            .optional()
        })
    }

    /// The account with `app_id`.
    pub fn account(&self, app_id: i64) -> rusqlite::Result<Option<Account>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLS} FROM accounts WHERE app_id = ?1"),
                [app_id],
                row,
            )
            .optional()
        })
    }

    /// Number of accounts.
    pub fn account_count(&self) -> rusqlite::Result<i64> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0)))
    }

    /// Add a user to an account; returns its id.
    pub fn create_user(&self, app_id: i64, name: &str) -> rusqlite::Result<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO users (app_id, name, created_at) VALUES (?1, ?2, ?3)",
                params![app_id, name, now()],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The users of an account: (user_id, name).
    pub fn users(&self, app_id: i64) -> rusqlite::Result<Vec<(i64, String)>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT user_id, name FROM users WHERE app_id = ?1 ORDER BY user_id")?;
            let rows = st.query_map([app_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }
}
