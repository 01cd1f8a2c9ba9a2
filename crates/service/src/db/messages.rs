//! The message centre (R-FLOW-ASYNC): in-site messages to the users of an account who
//! are subscribed to the image-import service notices (unsubscribed users get none),
//! subscriptions with an optional webhook, and the webhook outbox (deliveries are
//! rows, retried with back-off, so a crash does not lose them).

use super::sql::{args, Conn, DbError, Row};
use super::{now, Db};
use serde::Serialize;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS subscriptions (
    user_id     INTEGER PRIMARY KEY REFERENCES users(user_id),
    subscribed  INTEGER NOT NULL,
    webhook_url TEXT,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    message_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(user_id),
    app_id      INTEGER NOT NULL,
    image_id    TEXT,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    code        TEXT,
    is_read     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_user ON messages(user_id, message_id);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  INTEGER NOT NULL,
    url         TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending',
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    last_error  TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(state, next_at);
";

/// The topic users subscribe to: the image service's import notices.
pub const TOPIC: &str = "image-import";

/// Messages kept per user; older ones are dropped when a new one arrives.
pub const MAX_MESSAGES_PER_USER: i64 = 1000;

/// One in-site message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub message_id: i64,
    pub user_id: i64,
    pub image_id: Option<String>,
    pub title: String,
    pub body: String,
    pub code: Option<String>,
    pub is_read: bool,
    pub created_at: i64,
}

/// What an import's end tells the subscribed users.
#[derive(Debug, Clone)]
pub struct Notice {
    pub title: String,
    pub body: String,
    /// The import's error code (None on success).
    pub code: Option<String>,
    /// The image's final state (NORMAL / IMPORTFAILED).
    pub state: String,
    pub image_name: String,
}

/// A webhook POST waiting to be made.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub delivery_id: i64,
    pub url: String,
    pub payload: String,
    pub attempts: i64,
}

fn row(r: &Row) -> Result<Message, DbError> {
    Ok(Message {
        message_id: r.int(0)?,
        user_id: r.int(1)?,
        image_id: r.opt_text(2)?,
        title: r.text(3)?,
        body: r.text(4)?,
        code: r.opt_text(5)?,
        is_read: r.bool(6)?,
        created_at: r.int(7)?,
    })
}

fn subscription_of(c: &mut dyn Conn, user_id: i64) -> Result<(bool, Option<String>), DbError> {
    match c.opt_row(
        "SELECT subscribed, webhook_url FROM subscriptions WHERE user_id = ?1",
        args![user_id],
    )? {
        Some(r) => Ok((r.bool(0)?, r.opt_text(1)?)),
        None => Ok((true, None)),
    }
}

/// Write `n` about `image_id` to every subscribed user of `app_id` and queue their
/// webhooks, inside the caller's transaction. Returns the number of recipients.
pub(crate) fn deliver_tx(
    c: &mut dyn Conn,
    app_id: i64,
    image_id: &str,
    n: &Notice,
) -> Result<usize, DbError> {
    let users: Vec<(i64, String)> = c
        .rows(
            "SELECT user_id, name FROM users WHERE app_id = ?1 ORDER BY user_id",
            args![app_id],
        )?
        .iter()
        .map(|r| Ok((r.int(0)?, r.text(1)?)))
        .collect::<Result<_, DbError>>()?;
    let t = now();
    let mut sent = 0;
    for (user, name) in users {
        let (subscribed, hook) = subscription_of(c, user)?;
        if !subscribed {
            continue;
        }
        let message_id = c.int(
            "INSERT INTO messages (user_id, app_id, image_id, title, body, code, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7) RETURNING message_id",
            args![user, app_id, image_id, &n.title, &n.body, &n.code, t],
        )?;
        c.exec(
            "DELETE FROM messages WHERE user_id = ?1 AND message_id NOT IN (SELECT message_id FROM messages WHERE user_id = ?1 ORDER BY message_id DESC LIMIT ?2)",
            args![user, MAX_MESSAGES_PER_USER],
        )?;
        if let Some(url) = hook {
            let payload = serde_json::json!({
                "Topic": TOPIC,
                "MessageId": message_id,
                "UserName": name,
                "AppId": app_id,
                "ImageId": image_id,
                "ImageName": n.image_name,
                "ImageState": n.state,
                "ErrorCode": n.code,
                "Title": n.title,
                "Content": n.body,
                "CreatedTime": t,
            });
            c.exec(
                "INSERT INTO webhook_deliveries (message_id, url, payload, next_at, created_at) VALUES (?1,?2,?3,?4,?4)",
                args![message_id, url, payload.to_string(), t],
            )?;
        }
        sent += 1;
    }
    Ok(sent)
}

impl Db {
    /// Subscribe or unsubscribe `user_id` to image-import notices, with an optional
    /// webhook (validated by the caller). Users are subscribed by default.
    pub fn set_subscription(
        &self,
        user_id: i64,
        subscribed: bool,
        webhook_url: Option<&str>,
    ) -> Result<(), DbError> {
        self.with(|c| {
            c.exec(
                "INSERT INTO subscriptions (user_id, subscribed, webhook_url, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id) DO UPDATE SET subscribed = excluded.subscribed, webhook_url = excluded.webhook_url, updated_at = excluded.updated_at",
                args![user_id, subscribed, webhook_url, now()],
            )?;
            Ok(())
        })
    }

    /// (subscribed, webhook) of a user.
    pub fn subscription(&self, user_id: i64) -> Result<(bool, Option<String>), DbError> {
        self.with(|c| subscription_of(c, user_id))
    }

    /// The user `name` of account `app_id`.
    pub fn user_id(&self, app_id: i64, name: &str) -> Result<Option<i64>, DbError> {
        self.with(|c| {
            c.opt_row(
                "SELECT user_id FROM users WHERE app_id = ?1 AND name = ?2",
                args![app_id, name],
            )?
            .map(|r| r.int(0))
            .transpose()
        })
    }

    /// Messages of a user, newest first: (page, total, unread).
    pub fn messages(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Message>, i64, i64), DbError> {
        self.messages_filtered(user_id, false, offset, limit)
    }

    /// Messages of a user, newest first, optionally only the unread ones:
    /// (page, total matching, unread).
    pub fn messages_filtered(
        &self,
        user_id: i64,
        unread_only: bool,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Message>, i64, i64), DbError> {
        self.with(|c| {
            let cond = if unread_only { " AND is_read = 0" } else { "" };
            let total = c.int(
                &format!("SELECT COUNT(*) FROM messages WHERE user_id = ?1{cond}"),
                args![user_id],
            )?;
            let unread = c.int(
                "SELECT COUNT(*) FROM messages WHERE user_id = ?1 AND is_read = 0",
                args![user_id],
            )?;
            let page = c
                .rows(
                    &format!("SELECT message_id, user_id, image_id, title, body, code, is_read, created_at FROM messages WHERE user_id = ?1{cond} ORDER BY message_id DESC LIMIT ?2 OFFSET ?3"),
                    args![user_id, limit.max(0), offset.max(0)],
                )?
                .iter()
                .map(row)
                .collect::<Result<_, _>>()?;
            Ok((page, total, unread))
        })
    }

    /// Mark messages read, all or none: `Err(id)` names the first id that is not this
    /// user's (nothing is changed then).
    pub fn read_messages(&self, user_id: i64, ids: &[i64]) -> Result<Result<(), i64>, DbError> {
        /// Why the marking stopped (rolls the transaction back).
        enum Stop {
            Db(DbError),
            NotMine(i64),
        }
        impl From<DbError> for Stop {
            fn from(e: DbError) -> Self {
                Stop::Db(e)
            }
        }
        let r = self.tx(|c| {
            for id in ids {
                let n = c.exec(
                    "UPDATE messages SET is_read = 1 WHERE user_id = ?1 AND message_id = ?2",
                    args![user_id, id],
                )?;
                if n == 0 {
                    return Err(Stop::NotMine(*id));
                }
            }
            Ok(())
        });
        match r {
            Ok(()) => Ok(Ok(())),
            Err(Stop::NotMine(id)) => Ok(Err(id)),
            Err(Stop::Db(e)) => Err(e),
        }
    }

    /// Mark one message read; false when it is not this user's.
    pub fn read_message(&self, user_id: i64, message_id: i64) -> Result<bool, DbError> {
        Ok(self.read_messages(user_id, &[message_id])?.is_ok())
    }

    /// Webhook deliveries due now (at most `limit`).
    pub fn due_deliveries(&self, limit: i64) -> Result<Vec<Delivery>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT delivery_id, url, payload, attempts FROM webhook_deliveries WHERE state = 'pending' AND next_at <= ?1 ORDER BY next_at, delivery_id LIMIT ?2",
                args![now(), limit],
            )?
            .iter()
            .map(|r| {
                Ok(Delivery {
                    delivery_id: r.int(0)?,
                    url: r.text(1)?,
                    payload: r.text(2)?,
                    attempts: r.int(3)?,
                })
            })
            .collect()
        })
    }

    /// Record a delivery attempt: delivered, or retried at `retry_at` (None: given up).
    pub fn delivery_attempted(
        &self,
        delivery_id: i64,
        result: Result<(), (&str, Option<i64>)>,
    ) -> Result<(), DbError> {
        self.with(|c| {
            match result {
                Ok(()) => c.exec(
                    "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_error = NULL WHERE delivery_id = ?1",
                    args![delivery_id],
                )?,
                Err((why, Some(at))) => c.exec(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = ?2, last_error = ?3 WHERE delivery_id = ?1",
                    args![delivery_id, at, why],
                )?,
                Err((why, None)) => c.exec(
                    "UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, last_error = ?2 WHERE delivery_id = ?1",
                    args![delivery_id, why],
                )?,
            };
            Ok(())
        })
    }

    /// Deliveries by state (metrics).
    pub fn delivery_state_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state ORDER BY state",
                args![],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.int(1)?)))
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::each_backend;

    fn notice(code: Option<&str>) -> Notice {
        Notice {
            title: "Image import failed".into(),
            body: "body".into(),
            code: code.map(str::to_string),
            state: "IMPORTFAILED".into(),
            image_name: "web".into(),
        }
    }

    #[test]
    fn only_subscribed_users_get_messages_and_webhooks() {
        each_backend(|db| {
            let a = db.create_account("acct", false).unwrap().app_id;
            let owner = db.user_id(a, "acct").unwrap().unwrap();
            let bob = db.create_user(a, "bob").unwrap();
            let carol = db.create_user(a, "carol").unwrap();
            db.set_subscription(bob, false, None).unwrap();
            db.set_subscription(carol, true, Some("http://127.0.0.1:1/h"))
                .unwrap();
            let other = db.create_account("other", false).unwrap().app_id;
            let n = db
                .with(|c| deliver_tx(c, a, "img-1", &notice(Some("CloudInitNotInstalled"))))
                .unwrap();
            assert_eq!(n, 2);
            assert_eq!(db.messages(owner, 0, 10).unwrap().1, 1);
            assert_eq!(db.messages(bob, 0, 10).unwrap().1, 0);
            assert_eq!(db.messages(carol, 0, 10).unwrap().1, 1);
            let other_owner = db.user_id(other, "other").unwrap().unwrap();
            assert_eq!(db.messages(other_owner, 0, 10).unwrap().1, 0);
            let due = db.due_deliveries(10).unwrap();
            assert_eq!(due.len(), 1);
            let p: serde_json::Value = serde_json::from_str(&due[0].payload).unwrap();
            assert_eq!(p["UserName"], "carol");
            assert_eq!(p["ErrorCode"], "CloudInitNotInstalled");
            db.delivery_attempted(due[0].delivery_id, Err(("refused", Some(now() + 60))))
                .unwrap();
            assert!(db.due_deliveries(10).unwrap().is_empty());
        });
    }

    #[test]
    fn reading_is_per_user_and_all_or_nothing() {
        each_backend(|db| {
            let a = db.create_account("acct", false).unwrap().app_id;
            let owner = db.user_id(a, "acct").unwrap().unwrap();
            let bob = db.create_user(a, "bob").unwrap();
            db.with(|c| deliver_tx(c, a, "img-1", &notice(None)))
                .unwrap();
            db.with(|c| deliver_tx(c, a, "img-2", &notice(None)))
                .unwrap();
            let (mine, _, unread) = db.messages(owner, 0, 10).unwrap();
            assert_eq!(unread, 2);
            let bobs = db.messages(bob, 0, 10).unwrap().0;
            assert_eq!(
                db.read_messages(owner, &[mine[0].message_id, bobs[0].message_id])
                    .unwrap(),
                Err(bobs[0].message_id)
            );
            assert_eq!(db.messages(owner, 0, 10).unwrap().2, 2);
            assert!(db.read_message(owner, mine[0].message_id).unwrap());
            let (unread_page, total, unread) = db.messages_filtered(owner, true, 0, 10).unwrap();
            assert_eq!((unread_page.len(), total, unread), (1, 1, 1));
        });
    }

    #[test]
    fn messages_per_user_are_bounded() {
        each_backend(|db| {
            let a = db.create_account("acct", false).unwrap().app_id;
            let owner = db.user_id(a, "acct").unwrap().unwrap();
            db.with(|c| {
                for _ in 0..(MAX_MESSAGES_PER_USER + 5) {
                    deliver_tx(c, a, "img-1", &notice(None))?;
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(db.messages(owner, 0, 1).unwrap().1, MAX_MESSAGES_PER_USER);
        });
    }
}
