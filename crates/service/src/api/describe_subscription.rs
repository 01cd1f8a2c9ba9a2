//! `DescribeSubscription` (message centre): whether a user receives the image-import
//! service notices, and their webhook. Parameters: `UserName` (default: the
//! account's owner user). Response: `UserName`, `Topic`, `Subscribed`, `WebhookUrl`.

use super::error::ApiError;
use super::request::Request;
use super::{message_user, Ctx};
use crate::db::messages::TOPIC;
use serde::Deserialize;
use serde_json::{json, Value};

/// The request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DescribeSubscription {
    user_name: Option<String>,
}

impl Request for DescribeSubscription {
    fn run(self, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        let (user, name) = message_user(ctx, self.user_name.as_deref())?;
        let (subscribed, hook) = ctx.state.db.subscription(user)?;
        Ok(json!({"UserName": name, "Topic": TOPIC, "Subscribed": subscribed, "WebhookUrl": hook}))
    }
}
