//! `DeleteImages`: removes the account's images (all or none) and their stored qcow2
//! files. An image still IMPORTING is refused (`InvalidImageId.IncorrectState`: its
//! job owns the files); an unknown or other tenant's image is
//! `InvalidImageId.NotFound`. `DryRun=true` checks without deleting.
//! Parameters: `ImageIds` (1 to 100), `DryRun`, `DeleteBindedSnap` (accepted; imported
//! images have no snapshots).

use super::error::ApiError;
use super::params::{bool_param, image_id, str_list};
use super::Ctx;
use crate::db::images::DeleteRefused;
use serde_json::{json, Value};

/// Parameters the action accepts.
pub const PARAMS: &[&str] = &["ImageIds", "DryRun", "DeleteBindedSnap"];

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let mut ids = str_list(p, "ImageIds", 100)?;
    if ids.is_empty() {
        return Err(ApiError::missing("ImageIds"));
    }
    for id in &ids {
        image_id(id)?;
    }
    ids.sort();
    ids.dedup();
    let dry = bool_param(p, "DryRun")?;
    bool_param(p, "DeleteBindedSnap")?;
    let not_found = |id: &str| {
        ApiError::new(
            "InvalidImageId.NotFound",
            format!("The image `{id}` does not exist in region {}.", ctx.region),
        )
    };
    for id in &ids {
        let img = ctx
            .state
            .db
            .image(ctx.account.app_id, id)?
            .filter(|i| i.region == ctx.region)
            .ok_or_else(|| not_found(id))?;
        if img.state == crate::db::images::IMPORTING {
            return Err(ApiError::new(
                "InvalidImageId.IncorrectState",
                format!("The image `{id}` is still importing; delete it once it is NORMAL or IMPORTFAILED."),
            ));
        }
    }
    if dry {
        return Ok(json!({}));
    }
    match ctx.state.db.delete_images(ctx.account.app_id, &ids)? {
        Ok(()) => {}
        Err((id, DeleteRefused::NotFound)) => return Err(not_found(&id)),
        Err((id, DeleteRefused::Importing)) => {
            return Err(ApiError::new(
                "InvalidImageId.IncorrectState",
                format!("The image `{id}` is still importing."),
            ))
        }
    }
    for id in &ids {
        // The row is gone; what cannot be removed now, the start-up sweep removes.
        crate::jobs::files::remove_image(ctx.state, id);
        tracing::info!(image_id = %id, "image deleted");
    }
    Ok(json!({}))
}
