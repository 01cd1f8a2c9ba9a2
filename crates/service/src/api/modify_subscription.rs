//! `ModifySubscription` (message centre, R-FLOW-ASYNC): subscribe or unsubscribe a
//! user to the image-import service notices; unsubscribed users get no messages.
//! Parameters: `UserName` (default: the account's owner user), `Subscribed`
//! (required), `WebhookUrl` (optional: each message is also POSTed there as JSON;
//! only plain-HTTP URLs whose host and port are on the operator's allow-list,
//! `webhook_allow`, empty by default — see [`webhook`]; `""` removes it; absent keeps
//! it).

use super::error::ApiError;
use super::params::{opt_bool, str_param};
use super::{message_user, Ctx};
use crate::messages::webhook;
use serde_json::{json, Value};

/// Parameters the action accepts.
pub const PARAMS: &[&str] = &["UserName", "Subscribed", "WebhookUrl"];

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let (user, _) = message_user(ctx, p)?;
    let subscribed = opt_bool(p, "Subscribed")?.ok_or_else(|| ApiError::missing("Subscribed"))?;
    let hook = match str_param(p, "WebhookUrl")? {
        None => ctx.state.db.subscription(user)?.1,
        Some("") => None,
        Some(h) => {
            webhook::validate(h, &ctx.state.config)
                .map_err(|why| ApiError::invalid("WebhookUrl", why))?;
            Some(h.to_string())
        }
    };
    ctx.state
        .db
        .set_subscription(user, subscribed, hook.as_deref())?;
    Ok(json!({}))
}
