//! Message-centre actions (R-FLOW-ASYNC): `DescribeMessages` (a user's in-site
//! messages and unread count), `ReadMessage`, `DescribeSubscription` and
//! `ModifySubscription` (subscribe or unsubscribe a user to image-import notices; an
//! optional loopback webhook). `UserName` defaults to the account's owner user.

use super::error::ApiError;
use super::{bool_param, int_param, str_param, Ctx};
use serde_json::{json, Value};

fn user(ctx: &Ctx<'_>, p: &Value) -> Result<i64, ApiError> {
    let name = str_param(p, "UserName")?
        .unwrap_or(&ctx.account.name)
        .to_string();
    ctx.state
        .db
        .user_id(ctx.account.app_id, &name)?
        .ok_or_else(|| {
            ApiError::new(
                "InvalidParameterValue.UserNotFound",
                format!("The user `{name}` does not exist in this account."),
            )
        })
}

pub fn describe_messages(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let u = user(ctx, p)?;
    let offset = int_param(p, "Offset", 0, 0, i64::MAX)?;
    let limit = int_param(p, "Limit", 20, 1, 100)?;
    let (msgs, total, unread) = ctx.state.db.messages(u, offset, limit)?;
    Ok(json!({
        "TotalCount": total,
        "UnreadCount": unread,
        "MessageSet": msgs.iter().map(|m| json!({
            "MessageId": m.message_id,
            "Title": m.title,
            "Content": m.body,
            "ImageId": m.image_id,
            "ErrorCode": m.code,
            "IsRead": m.is_read,
            "CreatedTime": crate::s3::buckets_iso8601(m.created_at).replace(".000Z", "Z"),
        })).collect::<Vec<_>>(),
    }))
}

pub fn read_message(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let u = user(ctx, p)?;
    let id = int_param(p, "MessageId", -1, 0, i64::MAX)?;
    if !ctx.state.db.read_message(u, id)? {
        return Err(ApiError::new(
            "InvalidParameterValue.MessageNotFound",
            format!("No message {id} for this user."),
        ));
    }
    Ok(json!({}))
}

pub fn describe_subscription(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let u = user(ctx, p)?;
    let (subscribed, hook) = ctx.state.db.subscription(u)?;
    Ok(json!({"Subscribed": subscribed, "WebhookUrl": hook, "Topic": "image-import"}))
}

pub fn modify_subscription(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let u = user(ctx, p)?;
    if p.get("Subscribed").is_none() {
        return Err(ApiError::missing("Subscribed"));
    }
    let subscribed = bool_param(p, "Subscribed")?;
    let hook = str_param(p, "WebhookUrl")?.filter(|s| !s.is_empty());
    if let Some(h) = hook {
        let ok = url::Url::parse(h).ok().is_some_and(|u| {
            u.scheme() == "http"
                && u.host_str()
                    .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]")
        });
        if !ok {
            return Err(ApiError::invalid(
                "WebhookUrl",
                "only http://127.0.0.1 or localhost webhooks are allowed on this service",
            ));
        }
    }
    ctx.state.db.set_subscription(u, subscribed, hook)?;
    Ok(json!({}))
}
