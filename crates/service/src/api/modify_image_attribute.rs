//! `ModifyImageAttribute`: rename an image or change its description, with the import
//! form's limits (name 1–60 characters, description ≤ 256). Parameters: `ImageId`,
//! `ImageName`, `ImageDescription` (at least one of the two), `ImageFamily`,
//! `ImageDeprecated` (accepted, not stored). A name another image of the account holds in
//! the region is `InvalidImageName.Duplicate` (issue 15 item 5).

use super::error::{ApiCode, ApiError};
use super::import_image::{MAX_DESCRIPTION, MAX_NAME};
use super::params::{image_id, text};
use super::request::{required, Flag, Request};
use super::Ctx;
use serde::Deserialize;
use serde_json::{json, Value};

/// The request. `ImageFamily` and `ImageDeprecated` are accepted and ignored (no image
/// families or deprecation here).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ModifyImageAttribute {
    image_id: Option<String>,
    image_name: Option<String>,
    image_description: Option<String>,
    #[serde(rename = "ImageFamily")]
    _image_family: Option<String>,
    #[serde(rename = "ImageDeprecated")]
    _image_deprecated: Option<Flag>,
}

impl Request for ModifyImageAttribute {
    fn run(self, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        let id = required(&self.image_id, "ImageId")?;
        image_id(id)?;
        let name = self.image_name.as_deref();
        let desc = self.image_description.as_deref();
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
                ApiCode::InvalidImageIdNotFound,
                format!("The image `{id}` does not exist in region {}.", ctx.region),
            ));
        }
        Ok(json!({}))
    }
}
