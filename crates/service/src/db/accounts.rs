//! Accounts (tenants: AppId, SecretId, SecretKey) and their users (who receive
//! messages, R-FLOW-ASYNC).

use super::sql::{args, DbError, Row};
use super::{now, random_id, Db};
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

fn row(r: &Row) -> Result<Account, DbError> {
    Ok(Account {
        app_id: r.int(0)?,
        name: r.text(1)?,
        secret_id: r.text(2)?,
        secret_key: r.text(3)?,
        is_admin: r.bool(4)?,
    })
}

const COLS: &str = "app_id, name, secret_id, secret_key, is_admin";

impl Db {
    /// Create an account with fresh credentials and an owner user named like it.
    /// A taken name is an error for which [`DbError::is_unique_violation`] holds.
    ///
    /// The AppId is the next free one: two servers on one PostgreSQL database creating
    /// accounts at the same moment pick the same number, and the loser retries (up to 20
    /// times) instead of reporting a taken name.
    pub fn create_account(&self, name: &str, is_admin: bool) -> Result<Account, DbError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.insert_account(name, is_admin) {
                Err(e)
                    if e.is_unique_violation()
                        && attempt < 20
                        && !self.account_name_taken(name)? =>
                {
                    continue
                }
                r => return r,
            }
        }
    }

    fn account_name_taken(&self, name: &str) -> Result<bool, DbError> {
        self.with(|c| {
            Ok(
                c.opt_row("SELECT 1 FROM accounts WHERE name = ?1", args![name])?
                    .is_some(),
            )
        })
    }

    fn insert_account(&self, name: &str, is_admin: bool) -> Result<Account, DbError> {
        self.tx(|c| {
            let next = c.int(
                "SELECT COALESCE(MAX(app_id), 1250000000) + 1 FROM accounts",
                args![],
            )?;
            let secret_id = format!("AKID{}", random_id(32).to_uppercase());
            let secret_key = random_id(32);
            c.exec(
                "INSERT INTO accounts (app_id, name, secret_id, secret_key, is_admin, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![next, name, &secret_id, &secret_key, is_admin, now()],
            )?;
            c.exec(
                "INSERT INTO users (app_id, name, created_at) VALUES (?1, ?2, ?3)",
                args![next, name, now()],
            )?;
            Ok(Account {
                app_id: next,
                name: name.into(),
                secret_id,
                secret_key,
                is_admin,
            })
        })
    }

    /// The account owning `secret_id`.
    pub fn account_by_secret_id(&self, secret_id: &str) -> Result<Option<Account>, DbError> {
        self.with(|c| {
            c.opt_row(
                &format!("SELECT {COLS} FROM accounts WHERE secret_id = ?1"),
                args![secret_id],
            )?
            .as_ref()
            .map(row)
            .transpose()
        })
    }

    /// The account with `app_id`.
    pub fn account(&self, app_id: i64) -> Result<Option<Account>, DbError> {
        self.with(|c| {
            c.opt_row(
                &format!("SELECT {COLS} FROM accounts WHERE app_id = ?1"),
                args![app_id],
            )?
            .as_ref()
            .map(row)
            .transpose()
        })
    }

    /// Number of accounts.
    pub fn account_count(&self) -> Result<i64, DbError> {
        self.with(|c| c.int("SELECT COUNT(*) FROM accounts", args![]))
    }

    /// Add a user to an account; returns its id. A taken name is an error for which
    /// [`DbError::is_unique_violation`] holds.
    pub fn create_user(&self, app_id: i64, name: &str) -> Result<i64, DbError> {
        self.with(|c| {
            c.int(
                "INSERT INTO users (app_id, name, created_at) VALUES (?1, ?2, ?3) RETURNING user_id",
                args![app_id, name, now()],
            )
        })
    }

    /// The users of an account: (user_id, name).
    pub fn users(&self, app_id: i64) -> Result<Vec<(i64, String)>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT user_id, name FROM users WHERE app_id = ?1 ORDER BY user_id",
                args![app_id],
            )?
            .iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?)))
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::each_backend;

    /// Concurrent creation (several servers on one PostgreSQL database): every account
    /// gets its own AppId; only a really taken name is refused.
    #[test]
    fn concurrent_accounts_get_distinct_app_ids() {
        each_backend(|db| {
            let made: Vec<_> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..6)
                    .map(|i| s.spawn(move || db.create_account(&format!("t{i}"), false)))
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
            });
            let mut ids: Vec<i64> = made.iter().map(|a| a.app_id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 6, "{made:?}");
            let e = db.create_account("t0", false).unwrap_err();
            assert!(e.is_unique_violation(), "{e}");
        });
    }
}
