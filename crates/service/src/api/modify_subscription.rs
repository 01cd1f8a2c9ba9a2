//! `ModifySubscription` (message centre, R-FLOW-ASYNC): subscribe or unsubscribe a
//! user to the image-import service notices; unsubscribed users get no messages.
//! Parameters: `UserName` (default: the account's owner user), `Subscribed`
//! (required), `WebhookUrl` (optional: each message is also POSTed there as JSON;
//! only plain-HTTP URLs whose host and port are on the operator's allow-list,
//! `webhook_allow`, empty by default — see [`webhook`]; `""` removes it; absent keeps
//! it).

use super::error::ApiError;
use super::request::{Flag, Request};
use super::{message_user, Ctx};
use crate::messages::webhook;
use serde::Deserialize;
use serde_json::{json, Value};

/// The request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ModifySubscription {
    user_name: Option<String>,
    subscribed: Option<Flag>,
    webhook_url: Option<String>,
}

impl Request for ModifySubscription {
    fn run(self, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        let (user, _) = message_user(ctx, self.user_name.as_deref())?;
        let Flag(subscribed) = self
            .subscribed
            .ok_or_else(|| ApiError::missing("Subscribed"))?;
        let hook = match self.webhook_url.as_deref() {
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
}
