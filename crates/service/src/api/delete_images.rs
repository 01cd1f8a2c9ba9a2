//! `DeleteImages`: removes the account's images (all or none) and their stored qcow2
//! files. An image still IMPORTING is refused (`InvalidImageId.IncorrectState`: its
//! job owns the files); an unknown or other tenant's image is
//! `InvalidImageId.NotFound`. `DryRun=true` checks without deleting.
//! Parameters: `ImageIds` (1 to 100), `DryRun`, `DeleteBindedSnap` (accepted; imported
//! images have no snapshots).

use super::error::{ApiCode, ApiError};
use super::params::image_id;
use super::request::{list, Flag, Request};
use super::Ctx;
use crate::db::images::DeleteRefused;
use serde::Deserialize;
use serde_json::{json, Value};

/// The request. `DeleteBindedSnap` is accepted and ignored: an imported image has no
/// snapshots.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DeleteImages {
    image_ids: Option<Vec<String>>,
    dry_run: Option<Flag>,
    #[serde(rename = "DeleteBindedSnap")]
    _delete_binded_snap: Option<Flag>,
}

impl Request for DeleteImages {
    fn run(self, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        let mut ids = list(self.image_ids, "ImageIds", 100)?;
        if ids.is_empty() {
            return Err(ApiError::missing("ImageIds"));
        }
        for id in &ids {
            image_id(id)?;
        }
        ids.sort();
        ids.dedup();
        let dry = Flag::or_false(self.dry_run);
        let not_found = |id: &str| {
            ApiError::new(
                ApiCode::InvalidImageIdNotFound,
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
                ApiCode::InvalidImageIdIncorrectState,
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
                    ApiCode::InvalidImageIdIncorrectState,
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
}
