//! The message centre (R-FLOW-ASYNC): in-site messages to the users of an account who
//! are subscribed to the image-import service notices; unsubscribed users get none.

use super::{now, Db};
use rusqlite::{params, OptionalExtension};
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
";

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

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        message_id: r.get(0)?,
        user_id: r.get(1)?,
        image_id: r.get(2)?,
        title: r.get(3)?,
        body: r.get(4)?,
        code: r.get(5)?,
        is_read: r.get::<_, i64>(6)? != 0,
        created_at: r.get(7)?,
    })
}

impl Db {
    /// Subscribe or unsubscribe `user_id` to image-import notices (users are subscribed
    /// by default, as the console's default setting is).
    pub fn set_subscription(
        &self,
        user_id: i64,
        subscribed: bool,
        webhook_url: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO subscriptions (user_id, subscribed, webhook_url, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(user_id) DO UPDATE SET subscribed = ?2, webhook_url = ?3, updated_at = ?4",
                params![user_id, subscribed as i64, webhook_url, now()],
            )?;
            Ok(())
        })
    }

    /// (subscribed, webhook) of a user.
    pub fn subscription(&self, user_id: i64) -> rusqlite::Result<(bool, Option<String>)> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT subscribed, webhook_url FROM subscriptions WHERE user_id = ?1",
                [user_id],
                |r| Ok((r.get::<_, i64>(0)? != 0, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((true, None)))
        })
    }

    /// The user `name` of account `app_id`.
    pub fn user_id(&self, app_id: i64, name: &str) -> rusqlite::Result<Option<i64>> {
        self.with(|c| {
            c.query_row(
                "SELECT user_id FROM users WHERE app_id = ?1 AND name = ?2",
                params![app_id, name],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Send a message to every subscribed user of `app_id`; returns (user, webhook) of
    /// each recipient.
    pub fn notify(
        &self,
        app_id: i64,
        image_id: &str,
        title: &str,
        body: &str,
        code: Option<&str>,
    ) -> rusqlite::Result<Vec<(i64, Option<String>)>> {
        let mut out = Vec::new();
        for (user, _) in self.users(app_id)? {
            let (subscribed, hook) = self.subscription(user)?;
            if !subscribed {
                continue;
            }
            self.with(|c| {
                c.execute(
                    "INSERT INTO messages (user_id, app_id, image_id, title, body, code, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7)",
                    params![user, app_id, image_id, title, body, code, now()],
                )
            })?;
            out.push((user, hook));
        }
        Ok(out)
    }

    /// Messages of a user, newest first, and the unread count.
    pub fn messages(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> rusqlite::Result<(Vec<Message>, i64, i64)> {
        self.with(|c| {
            let total: i64 = c.query_row("SELECT COUNT(*) FROM messages WHERE user_id = ?1", [user_id], |r| r.get(0))?;
            let unread: i64 = c.query_row("SELECT COUNT(*) FROM messages WHERE user_id = ?1 AND is_read = 0", [user_id], |r| r.get(0))?;
            let mut st = c.prepare("SELECT message_id, user_id, image_id, title, body, code, is_read, created_at FROM messages WHERE user_id = ?1 ORDER BY message_id DESC LIMIT ?2 OFFSET ?3")?;
            let rows = st.query_map(params![user_id, limit, offset], row)?;
            Ok((rows.collect::<rusqlite::Result<_>>()?, total, unread))
        })
    }

    /// Mark a message read; false when it is not this user's.
    pub fn read_message(&self, user_id: i64, message_id: i64) -> rusqlite::Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE messages SET is_read = 1 WHERE user_id = ?1 AND message_id = ?2",
                params![user_id, message_id],
            )? > 0)
        })
    }
}
