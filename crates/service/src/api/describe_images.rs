//! `DescribeImages`: the account's images with the real field names (ImageId,
//! ImageName, ImageState, ImageSource EXTERNAL_IMPORT, ImageSize in GB, OsName,
//! Platform, Architecture, CreatedTime …) plus the import's progress, phase and failure.

use super::error::ApiError;
use super::{int_param, str_list, Ctx};
use crate::db::images::{Image, ImageFilter};
use crate::s3::buckets_iso8601 as iso8601;
use serde_json::{json, Value};

pub fn image_json(i: &Image) -> Value {
    let findings: Value = serde_json::from_str(&i.findings).unwrap_or(json!([]));
    json!({
        "ImageId": i.image_id,
        "ImageName": i.name,
        "ImageDescription": i.description,
        "ImageState": i.state,
        "ImageType": "PRIVATE_IMAGE",
        "ImageSource": "EXTERNAL_IMPORT",
        "ImageSize": (i.size_bytes + (1 << 30) - 1) >> 30,
        "OsName": format!("{} {}", i.os_type, i.os_version),
        "Platform": i.os_type,
        "Architecture": i.architecture,
        "CreatedTime": iso8601(i.created_at).replace(".000Z", "Z"),
        "ImageCreator": i.app_id.to_string(),
        "IsSupportCloudinit": !i.force,
        "ImportProgress": i.progress,
        "ImportPhase": i.phase,
        "ImportBytesDone": i.bytes_done,
        "ErrorCode": i.error_code,
        "ErrorMessage": i.error_message,
        "Findings": findings,
    })
}

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let mut f = ImageFilter {
        ids: str_list(p, "ImageIds", 100)?,
        ..ImageFilter::default()
    };
    if let Some(filters) = p.get("Filters").and_then(|v| v.as_array()) {
        for flt in filters.iter().take(10) {
            let name = flt.get("Name").and_then(|v| v.as_str()).unwrap_or("");
            let values = str_list(flt, "Values", 100)?;
            match name {
                "image-id" => f.ids.extend(values),
                "image-name" => f.names.extend(values),
                "image-state" => f.states.extend(values),
                "image-type" => {
                    if !values.iter().any(|v| v == "PRIVATE_IMAGE") {
                        return Ok(json!({"TotalCount": 0, "ImageSet": []}));
                    }
                }
                other => {
                    return Err(ApiError::invalid(
                        "Filters.Name",
                        format!("unknown filter `{other}`"),
                    ))
                }
            }
        }
    }
    if !f.ids.is_empty() && p.get("Filters").is_some() && p.get("ImageIds").is_some() {
        return Err(ApiError::new(
            "InvalidParameter",
            "ImageIds and Filters cannot be used together",
        ));
    }
    let offset = int_param(p, "Offset", 0, 0, i64::MAX)?;
    let limit = int_param(p, "Limit", 20, 0, 100)?;
    let (images, total) = ctx.state.db.images(ctx.account.app_id, &f, offset, limit)?;
    Ok(json!({
        "TotalCount": total,
        "ImageSet": images.iter().map(image_json).collect::<Vec<_>>(),
    }))
}
