//! `imgport account`: tenants of the import service and their users, in the service's
//! database: `--database-url` (or `database_url` of `--config` / `IMGPORT_DATABASE_URL`)
//! for PostgreSQL, else the SQLite file in `--data-dir` (or `data_dir` of `--config` /
//! `IMGPORT_DATA_DIR`). Safe while the server runs (SQLite in WAL mode; PostgreSQL
//! transactions).
//!
//! - `create NAME`: a new account (tenant) with an AppId, a SecretId and a SecretKey,
//!   and its owner user NAME (who receives the account's messages); prints them as
//!   JSON — the key is shown only now.
//! - `add-user APPID NAME`: another user of the account (messages, subscriptions).
//! - `list`: the accounts (AppId, name, SecretId, admin or not, users), without keys.
//! - `show-keys APPID`: the account's SecretId and SecretKey (stored sealed with the
//!   master key, issue 18 item 4: this command opens them).
//! - `rotate-key APPID`: a new SecretKey for the account, printed once; the old one
//!   stops working at once.
//!
//! The data directory is created private (0700) and the master key is the server's
//! (`secret_key_file`, `IMGPORT_MASTER_KEY` or the default file beside the data
//! directory): run it with the server's configuration.

use imgport_service::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
    /// State directory of the service.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The service's TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The service's database when it is PostgreSQL: postgres://USER:PASSWORD@HOST:PORT/DB
    /// (default: `database_url` of the configuration, else SQLite in the data directory).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Create an account (tenant) and print its AppId, SecretId and SecretKey.
    Create { name: String },
    /// Add a user (a message recipient) to an account.
    AddUser { app_id: i64, name: String },
    /// List the accounts (without their keys).
    List,
    /// Print an account's SecretId and SecretKey.
    ShowKeys { app_id: i64 },
    /// Give an account a new SecretKey (the old one stops working) and print it.
    RotateKey { app_id: i64 },
}

/// Account and user names: 1–64 characters of letters, digits, `.`, `_`, `-`.
fn valid_name(n: &str) -> Result<(), String> {
    if n.is_empty()
        || n.len() > 64
        || !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "`{n}` is not a valid name: use 1 to 64 letters, digits, `.`, `_` or `-`"
        ));
    }
    Ok(())
}

pub fn run(a: Args) -> ExitCode {
    let mut c = match Config::load(a.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("imgport account: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(d) = &a.data_dir {
        c.data_dir = d.clone();
    }
    if let Some(u) = &a.database_url {
        c.database_url = u.clone();
    }
    // One connection is plenty for one command.
    c.database_connections = 1;
    imgport_service::perms::private_umask();
    let r = (|| -> anyhow::Result<()> {
        if c.database_url.trim().is_empty() {
            imgport_service::perms::secure_data_dir(&c.data_dir)?;
        }
        let db = c
            .open_db()
            .map_err(|e| anyhow::anyhow!("database {}: {e}", c.database_shown()))?;
        match &a.cmd {
            Cmd::Create { name } => {
                valid_name(name).map_err(anyhow::Error::msg)?;
                let acct = db.create_account(name, false).map_err(|e| {
                    if e.is_unique_violation() {
                        anyhow::anyhow!("an account named `{name}` exists already")
                    } else {
                        e.into()
                    }
                })?;
                println!(
                    "{}",
                    serde_json::json!({"Name": acct.name, "AppId": acct.app_id, "SecretId": acct.secret_id, "SecretKey": acct.secret_key, "UserName": acct.name})
                );
            }
            Cmd::AddUser { app_id, name } => {
                valid_name(name).map_err(anyhow::Error::msg)?;
                if db.account(*app_id)?.is_none() {
                    anyhow::bail!("there is no account with AppId {app_id}");
                }
                let id = db.create_user(*app_id, name).map_err(|e| {
                    if e.is_unique_violation() {
                        anyhow::anyhow!("account {app_id} has a user `{name}` already")
                    } else {
                        e.into()
                    }
                })?;
                println!(
                    "{}",
                    serde_json::json!({"UserId": id, "AppId": app_id, "UserName": name})
                );
            }
            Cmd::List => {
                let mut out = Vec::new();
                for acct in db.accounts()? {
                    let users: Vec<String> =
                        db.users(acct.app_id)?.into_iter().map(|(_, n)| n).collect();
                    out.push(serde_json::json!({"AppId": acct.app_id, "Name": acct.name, "SecretId": acct.secret_id, "IsAdmin": acct.is_admin, "Users": users}));
                }
                println!("{}", serde_json::Value::Array(out));
            }
            Cmd::ShowKeys { app_id } => {
                let acct = db
                    .account(*app_id)?
                    .ok_or_else(|| anyhow::anyhow!("there is no account with AppId {app_id}"))?;
                println!(
                    "{}",
                    serde_json::json!({"AppId": acct.app_id, "Name": acct.name, "SecretId": acct.secret_id, "SecretKey": acct.secret_key})
                );
            }
            Cmd::RotateKey { app_id } => {
                let acct = db
                    .rotate_secret_key(*app_id)?
                    .ok_or_else(|| anyhow::anyhow!("there is no account with AppId {app_id}"))?;
                println!(
                    "{}",
                    serde_json::json!({"AppId": acct.app_id, "Name": acct.name, "SecretId": acct.secret_id, "SecretKey": acct.secret_key})
                );
            }
        }
        Ok(())
    })();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgport account: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("ops-team_2.a").is_ok());
        for bad in ["", "a b", "é", &"a".repeat(65), "x;DROP"] {
            assert!(valid_name(bad).is_err(), "{bad}");
        }
    }
}
