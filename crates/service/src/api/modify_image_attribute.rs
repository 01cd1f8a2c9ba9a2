//! `ModifyImageAttribute`: rename an image or change its description (same limits as
//! the import form).

use super::error::ApiError;
use super::import_image::{MAX_DESCRIPTION, MAX_NAME};
use super::{req_str, str_param, Ctx};
use serde_json::{json, Value};

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let id = req_str(p, "ImageId")?;
    let name = str_param(p, "ImageName")?;
    let desc = str_param(p, "ImageDescription")?;
    if name.is_none() && desc.is_none() {
        return Err(ApiError::missing("ImageName"));
    }
    if name.is_some_and(|n| n.is_empty() || n.chars().count() > MAX_NAME) {
        return Err(ApiError::invalid(
            "ImageName",
            format!("1 to {MAX_NAME} characters"),
        ));
    }
    if desc.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::invalid(
            "ImageDescription",
            format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if !ctx
        .state
        .db
        .modify_image(ctx.account.app_id, id, name, desc)?
    {
        return Err(ApiError::new(
            "InvalidImageId.NotFound",
            format!("The image `{id}` does not exist."),
        ));
    }
    Ok(json!({}))
}
