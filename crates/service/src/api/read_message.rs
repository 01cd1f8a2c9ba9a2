//! `ReadMessage` (message centre): mark messages read. Parameters: `UserName`
//! (default: the account's owner user), `MessageId` or `MessageIds` (at most 100);
//! all or none are marked: an id that is not this user's is
//! `InvalidParameterValue.MessageNotFound`.

use super::error::ApiError;
use super::params::int_param;
use super::{message_user, Ctx};
use serde_json::{json, Value};

/// Parameters the action accepts.
pub const PARAMS: &[&str] = &["UserName", "MessageId", "MessageIds"];

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let (user, _) = message_user(ctx, p)?;
    let mut ids = Vec::new();
    if p.get("MessageId").is_some_and(|v| !v.is_null()) {
        ids.push(int_param(p, "MessageId", 0, 1, i64::MAX)?);
    }
    match p.get("MessageIds") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.len() <= 100 => {
            for v in a {
                let id = v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|id| *id > 0)
                    .ok_or_else(|| {
                        ApiError::bad_type("MessageIds", "must be a list of message ids")
                    })?;
                ids.push(id);
            }
        }
        Some(Value::Array(_)) => return Err(ApiError::invalid("MessageIds", "at most 100 ids")),
        Some(_) => return Err(ApiError::bad_type("MessageIds", "must be a list")),
    }
    if ids.is_empty() {
        return Err(ApiError::missing("MessageIds"));
    }
    match ctx.state.db.read_messages(user, &ids)? {
        Ok(()) => Ok(json!({})),
        Err(id) => Err(ApiError::new(
            "InvalidParameterValue.MessageNotFound",
            format!("There is no message {id} for this user."),
        )),
    }
}
