//! Accounts (tenants: AppId, SecretId, SecretKey) and their users (who receive
//! messages, R-FLOW-ASYNC). SecretKeys are sealed at rest when the [`Db`] has a
//! master key ([`Db::with_master_key`], [`crate::secrets`]); [`Account`] always
//! holds the plaintext key.

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

fn secret_error(e: crate::secrets::SecretError) -> DbError {
    DbError::Other(e.to_string())
}

impl Db {
    fn row(&self, r: &Row) -> Result<Account, DbError> {
        let secret_id = r.text(2)?;
        let stored = r.text(3)?;
        let secret_key = self.open_secret(&secret_id, &stored)?;
        Ok(Account {
            app_id: r.int(0)?,
            name: r.text(1)?,
            secret_id,
            secret_key,
            is_admin: r.bool(4)?,
        })
    }

    /// The plaintext of a stored SecretKey.
    fn open_secret(&self, secret_id: &str, stored: &str) -> Result<String, DbError> {
        match (&self.master_key, crate::secrets::is_sealed(stored)) {
            (_, false) => Ok(stored.to_string()),
            (Some(k), true) => k.open(secret_id, stored).map_err(secret_error),
            (None, true) => Err(secret_error(crate::secrets::SecretError::NoKey)),
        }
    }

    /// A SecretKey as it is stored.
    fn seal_secret(&self, secret_id: &str, plain: &str) -> String {
        match &self.master_key {
            Some(k) => k.seal(secret_id, plain),
            None => plain.to_string(),
        }
    }

    /// Seal SecretKeys with `key` from now on; seal the rows still in plaintext
    /// (databases of older versions), and check that the sealed ones open — a
    /// different master key than the database's is refused here, at start-up.
    pub fn with_master_key(
        mut self,
        key: std::sync::Arc<crate::secrets::MasterKey>,
    ) -> Result<Db, DbError> {
        self.master_key = Some(key.clone());
        let sealed = self.tx(|c| {
            let rows = c.rows(
                "SELECT app_id, secret_id, secret_key FROM accounts ORDER BY app_id",
                args![],
            )?;
            let mut n = 0;
            for r in &rows {
                let (app_id, sid, stored) = (r.int(0)?, r.text(1)?, r.text(2)?);
                if crate::secrets::is_sealed(&stored) {
                    key.open(&sid, &stored).map_err(secret_error)?;
                } else {
                    c.exec(
                        "UPDATE accounts SET secret_key = ?1 WHERE app_id = ?2 AND secret_key = ?3",
                        args![key.seal(&sid, &stored), app_id, &stored],
                    )?;
                    n += 1;
                }
            }
            Ok::<_, DbError>(n)
        })?;
        if sealed > 0 {
            tracing::info!(
                accounts = sealed,
                "sealed plaintext SecretKeys with the master key"
            );
            // The WAL still holds the pages with the plaintext: fold it in and empty it.
            // (PostgreSQL keeps old row versions until VACUUM: see the README.)
            if self.backend() == super::Backend::Sqlite {
                self.with(|c| c.rows("PRAGMA wal_checkpoint(TRUNCATE)", args![]))?;
            }
        }
        Ok(self)
    }

    /// Every account, by AppId.
    pub fn accounts(&self) -> Result<Vec<Account>, DbError> {
        let rows = self.with(|c| {
            c.rows(
                &format!("SELECT {COLS} FROM accounts ORDER BY app_id"),
                args![],
            )
        })?;
        rows.iter().map(|r| self.row(r)).collect()
    }

    /// Give account `app_id` a new SecretKey (the old one stops working at once);
    /// returns the account with it, or None when there is no such account.
    pub fn rotate_secret_key(&self, app_id: i64) -> Result<Option<Account>, DbError> {
        let Some(mut a) = self.account(app_id)? else {
            return Ok(None);
        };
        let key = random_id(32);
        let n = self.with(|c| {
            c.exec(
                "UPDATE accounts SET secret_key = ?1 WHERE app_id = ?2",
                args![self.seal_secret(&a.secret_id, &key), app_id],
            )
        })?;
        if n == 0 {
            return Ok(None);
        }
        a.secret_key = key;
        Ok(Some(a))
    }
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
                args![next, name, &secret_id, self.seal_secret(&secret_id, &secret_key), is_admin, now()],
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
        let r = self.with(|c| {
            c.opt_row(
                &format!("SELECT {COLS} FROM accounts WHERE secret_id = ?1"),
                args![secret_id],
            )
        })?;
        r.as_ref().map(|r| self.row(r)).transpose()
    }

    /// The account with `app_id`.
    pub fn account(&self, app_id: i64) -> Result<Option<Account>, DbError> {
        let r = self.with(|c| {
            c.opt_row(
                &format!("SELECT {COLS} FROM accounts WHERE app_id = ?1"),
                args![app_id],
            )
        })?;
        r.as_ref().map(|r| self.row(r)).transpose()
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
    use super::*;
    use crate::secrets::MasterKey;
    use std::sync::Arc;

    /// Keys are sealed at rest on both backends; plaintext rows of older versions are
    /// sealed when a master key is attached; another master key is refused at once;
    /// rotation replaces the key.
    #[test]
    fn secret_keys_are_sealed_at_rest() {
        each_backend(|db| {
            let stored = |app: i64| {
                db.with(|c| {
                    c.rows(
                        "SELECT secret_key FROM accounts WHERE app_id = ?1",
                        args![app],
                    )?[0]
                        .text(0)
                })
                .unwrap()
            };
            // A database of an older version: plaintext.
            let old = db.create_account("old", false).unwrap();
            assert_eq!(stored(old.app_id), old.secret_key);
            let key = Arc::new(MasterKey::from_bytes(&[1; 32]));
            let sealed = db.clone().with_master_key(key.clone()).unwrap();
            let s = stored(old.app_id);
            assert!(
                crate::secrets::is_sealed(&s) && !s.contains(&old.secret_key),
                "{s}"
            );
            let found = sealed
                .account_by_secret_id(&old.secret_id)
                .unwrap()
                .unwrap();
            assert_eq!(found.secret_key, old.secret_key);
            let new = sealed.create_account("new", false).unwrap();
            assert!(!stored(new.app_id).contains(&new.secret_key));
            assert_eq!(
                sealed.account(new.app_id).unwrap().unwrap().secret_key,
                new.secret_key
            );
            assert_eq!(sealed.accounts().unwrap().len(), 2);
            // Without the key, or with another one: refused, never a ciphertext as a key.
            assert!(db.account(new.app_id).is_err());
            let e = db
                .clone()
                .with_master_key(Arc::new(MasterKey::from_bytes(&[2; 32])))
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("master key"), "{e}");
            // Rotation.
            let rotated = sealed.rotate_secret_key(new.app_id).unwrap().unwrap();
            assert_ne!(rotated.secret_key, new.secret_key);
            assert_eq!(
                sealed
                    .account_by_secret_id(&new.secret_id)
                    .unwrap()
                    .unwrap()
                    .secret_key,
                rotated.secret_key
            );
            assert!(!stored(new.app_id).contains(&rotated.secret_key));
            assert!(sealed.rotate_secret_key(1).unwrap().is_none());
        });
    }

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
