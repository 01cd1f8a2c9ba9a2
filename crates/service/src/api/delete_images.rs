//! `DeleteImages`: removes the account's images and their stored qcow2 files. An image
//! still importing is refused (its job owns the files).

use super::error::ApiError;
use super::{bool_param, str_list, Ctx};
use serde_json::{json, Value};

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let ids = str_list(p, "ImageIds", 100)?;
    if ids.is_empty() {
        return Err(ApiError::missing("ImageIds"));
    }
    let dry = bool_param(p, "DryRun")?;
    let mut found = Vec::new();
    for id in &ids {
        let img = ctx.state.db.image(ctx.account.app_id, id)?.ok_or_else(|| {
            ApiError::new(
                "InvalidImageId.NotFound",
                format!("The image `{id}` does not exist."),
            )
        })?;
        if img.state == "IMPORTING" {
            return Err(ApiError::new(
                "InvalidImageState",
                format!("The image `{id}` is still importing."),
            ));
        }
        found.push(img);
    }
    if !dry {
        for img in &found {
            let _ = std::fs::remove_file(ctx.state.image_path(&img.image_id));
            ctx.state
                .db
                .delete_image(ctx.account.app_id, &img.image_id)?;
        }
    }
    Ok(json!({}))
}
