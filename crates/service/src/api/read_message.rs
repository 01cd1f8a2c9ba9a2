//! `ReadMessage` (message centre): mark messages read. Parameters: `UserName`
//! (default: the account's owner user), `MessageId` or `MessageIds` (at most 100);
//! all or none are marked: an id that is not this user's is
//! `InvalidParameterValue.MessageNotFound`.

use super::error::{ApiCode, ApiError};
use super::request::{int, list, Int, Request};
use super::{message_user, Ctx};
use serde::Deserialize;
use serde_json::{json, Value};

/// The request: `MessageId`, or up to 100 `MessageIds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ReadMessage {
    user_name: Option<String>,
    message_id: Option<Int>,
    message_ids: Option<Vec<Int>>,
}

impl Request for ReadMessage {
    fn run(self, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        let (user, _) = message_user(ctx, self.user_name.as_deref())?;
        let mut ids = Vec::new();
        if self.message_id.is_some() {
            ids.push(int(self.message_id, "MessageId", 0, 1, i64::MAX)?);
        }
        for id in list(self.message_ids, "MessageIds", 100)? {
            ids.push(int(Some(id), "MessageIds", 0, 1, i64::MAX)?);
        }
        if ids.is_empty() {
            return Err(ApiError::missing("MessageIds"));
        }
        match ctx.state.db.read_messages(user, &ids)? {
            Ok(()) => Ok(json!({})),
            Err(id) => Err(ApiError::new(
                ApiCode::InvalidParameterValueMessageNotFound,
                format!("There is no message {id} for this user."),
            )),
        }
    }
}
