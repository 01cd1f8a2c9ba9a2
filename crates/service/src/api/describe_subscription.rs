//! `DescribeSubscription` (message centre): whether a user receives the image-import
//! service notices, and their webhook. Parameters: `UserName` (default: the
//! account's owner user). Response: `UserName`, `Topic`, `Subscribed`, `WebhookUrl`.

use super::error::ApiError;
use super::{message_user, Ctx};
use crate::db::messages::TOPIC;
use serde_json::{json, Value};

/// Parameters the action accepts.
pub const PARAMS: &[&str] = &["UserName"];

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let (user, name) = message_user(ctx, p)?;
    let (subscribed, hook) = ctx.state.db.subscription(user)?;
    Ok(json!({"UserName": name, "Topic": TOPIC, "Subscribed": subscribed, "WebhookUrl": hook}))
}
