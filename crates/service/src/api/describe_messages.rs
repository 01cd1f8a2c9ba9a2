//! `DescribeMessages` (message centre, R-FLOW-ASYNC): a user's in-site messages, newest
//! first — each import's success or failure, with the image, the error code, the cause
//! and the fix — and the unread count. Parameters: `UserName` (default: the account's
//! owner user), `UnreadOnly`, `Offset`, `Limit` (1–100, default 20). Response:
//! `TotalCount`, `UnreadCount`, `MessageSet [{MessageId, Topic, Title, Content,
//! ImageId, ErrorCode, IsRead, CreatedTime}]`.

use super::error::ApiError;
use super::params::{bool_param, int_param};
use super::{message_user, Ctx};
use crate::db::messages::TOPIC;
use crate::timefmt::api_time;
use serde_json::{json, Value};

/// Parameters the action accepts.
pub const PARAMS: &[&str] = &["UserName", "UnreadOnly", "Offset", "Limit"];

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let (user, name) = message_user(ctx, p)?;
    let unread_only = bool_param(p, "UnreadOnly")?;
    let offset = int_param(p, "Offset", 0, 0, i64::from(u32::MAX))?;
    let limit = int_param(p, "Limit", 20, 1, 100)?;
    let (msgs, total, unread) = ctx
        .state
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
