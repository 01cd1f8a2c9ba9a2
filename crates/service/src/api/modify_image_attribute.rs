//! `ModifyImageAttribute`: rename an image or change its description, with the import
//! form's limits (name 1–60 characters, description ≤ 256). Parameters: `ImageId`,
//! `ImageName`, `ImageDescription` (at least one of the two), `ImageFamily`,
//! `ImageDeprecated` (accepted, not stored). A name another image of the account holds in
//! the region is `InvalidImageName.Duplicate` (issue 15 item 5).

use super::error::ApiError;
use super::import_image::{MAX_DESCRIPTION, MAX_NAME};
use super::params::{bool_param, image_id, req_str, str_param, text};
use super::Ctx;
use serde_json::{json, Value};

/// Parameters the action accepts.
pub const PARAMS: &[&str] = &[
    "ImageId",
    "ImageName",
    "ImageDescription",
    "ImageFamily",
    "ImageDeprecated",
];

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let id = req_str(p, "ImageId")?;
    image_id(id)?;
    let name = str_param(p, "ImageName")?;
    let desc = str_param(p, "ImageDescription")?;
    bool_param(p, "ImageDeprecated")?;
    if name.is_none() && desc.is_none() {
        return Err(ApiError::missing("ImageName"));
    }
    if let Some(n) = name {
        if n.trim().is_empty() {
            return Err(ApiError::invalid("ImageName", "must not be empty"));
        }
        text("ImageName", n, MAX_NAME)?;
    }
    if let Some(d) = desc {
        text("ImageDescription", d, MAX_DESCRIPTION)?;
    }
    let in_region = ctx
        .state
        .db
        .image(ctx.account.app_id, id)?
        .is_some_and(|i| i.region == ctx.region);
    if let (true, Some(n)) = (in_region, name) {
        if let Some(other) = ctx
            .state
            .db
            .image_named(ctx.account.app_id, &ctx.region, n, id)?
        {
            return Err(super::import_image::duplicate_name(n, &other, &ctx.region));
        }
    }
    if !in_region
        || !ctx
            .state
            .db
            .modify_image(ctx.account.app_id, id, name, desc)?
    {
        return Err(ApiError::new(
            "InvalidImageId.NotFound",
            format!("The image `{id}` does not exist in region {}.", ctx.region),
        ));
    }
    Ok(json!({}))
}
