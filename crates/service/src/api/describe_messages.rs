//! `DescribeMessages` (message centre, R-FLOW-ASYNC): a user's in-site messages, newest
//! first — each import's success or failure, with the image, the error code, the cause
//! and the fix — and the unread count. Parameters: `UserName` (default: the account's
//! owner user), `UnreadOnly`, `Offset`, `Limit` (1–100, default 20). Response:
//! `TotalCount`, `UnreadCount`, `MessageSet [{MessageId, Topic, Title, Content,
//! ImageId, ErrorCode, IsRead, CreatedTime}]`.

use super::error::ApiError;
use super::request::{int, Flag, Int, Request};
use super::{message_user, Ctx};
use crate::db::messages::TOPIC;
use crate::timefmt::api_time;
use serde::Deserialize;
use serde_json::{json, Value};

/// The request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DescribeMessages {
    user_name: Option<String>,
    unread_only: Option<Flag>,
    offset: Option<Int>,
    limit: Option<Int>,
}

impl Request for DescribeMessages {
    fn run(self, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        let (user, name) = message_user(ctx, self.user_name.as_deref())?;
        let unread_only = Flag::or_false(self.unread_only);
        let offset = int(self.offset, "Offset", 0, 0, i64::from(u32::MAX))?;
        let limit = int(self.limit, "Limit", 20, 1, 100)?;
        let (msgs, total, unread) =
            ctx.state
                .db
                .messages_filtered(user, unread_only, offset, limit)?;
        Ok(json!({
            "UserName": name,
            "TotalCount": total,
            "UnreadCount": unread,
            "MessageSet": msgs.iter().map(|m| json!({
                "MessageId": m.message_id,
                "Topic": TOPIC,
                "Title": m.title,
                "Content": m.body,
                "ImageId": m.image_id,
                "ErrorCode": m.code,
                "IsRead": m.is_read,
                "CreatedTime": api_time(m.created_at),
            })).collect::<Vec<_>>(),
        }))
    }
}
