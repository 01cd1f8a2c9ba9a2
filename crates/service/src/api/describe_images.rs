//! `DescribeImages` (R-FLOW-RESULT): the account's images in the request's region,
//! with the real field names — ImageId, ImageName, ImageDescription, ImageState
//! (IMPORTING / NORMAL / IMPORTFAILED), ImageType `PRIVATE_IMAGE`, ImageSource
//! `EXTERNAL_IMPORT`, ImageSize (GB), OsName, Platform, Architecture, CreatedTime
//! (ISO 8601), ImageCreator, IsSupportCloudinit, Tags — plus the import's progress:
//! `ImportPhase`, `ImportProgress` (percent), `ImportBytesDone`/`ImportBytesTotal`,
//! `ErrorCode`, `ErrorMessage`, `Findings` (the verdict's, with rule, evidence and
//! fix), `ImportAttempts`, `ImportTimings` (per phase and attempt) and `BootTest` (R-BOOT,
//! issue 17: `null` unless the import boots its image; else the outcome, what was seen,
//! the time taken and the serial console's last 60 lines).
//!
//! Parameters: `ImageIds` (at most 100) or `Filters` (`image-id`, `image-name`,
//! `image-state`, `image-type`, `platform`; not both), `Offset`, `Limit` (≤ 100).

use super::error::{ApiCode, ApiError};
use super::params::image_id;
use super::request::{int, list, Int, Request};
use super::Ctx;
use crate::db::images::{Image, ImageFilter, IMPORTING};
use crate::timefmt::api_time;
use imgport_policy::BootFacts;
use serde::Deserialize;
use serde_json::{json, Value};

/// The request. `InstanceType` is accepted and ignored (every image here fits any).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DescribeImages {
    image_ids: Option<Vec<String>>,
    filters: Option<Vec<Filter>>,
    offset: Option<Int>,
    limit: Option<Int>,
    #[serde(rename = "InstanceType")]
    _instance_type: Option<String>,
}

/// One of `Filters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct Filter {
    name: Option<String>,
    values: Option<Vec<String>>,
}

const MAX_FILTERS: usize = 10;
const MAX_VALUES: usize = 100;

/// The API view of an image.
pub fn image_json(ctx: &Ctx<'_>, i: &Image) -> Value {
    let findings: Value = serde_json::from_str(&i.findings).unwrap_or_else(|_| json!([]));
    let tags: Value = serde_json::from_str(&i.tags).unwrap_or_else(|_| json!([]));
    let no_cloudinit = findings
        .as_array()
        .is_some_and(|a| a.iter().any(|f| f["code"] == "CloudInitNotInstalled"));
    let bits = if i.architecture == "i386" { 32 } else { 64 };
    let os_name = if i.os_version == "-" || i.os_type.contains(&i.os_version) {
        format!("{} {bits}-bit", i.os_type)
    } else {
        format!("{} {} {bits}-bit", i.os_type, i.os_version)
    };
    let timings: Vec<Value> = ctx
        .state
        .db
        .job_phases(&i.image_id)
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            json!({
                "Attempt": t.attempt,
                "Phase": t.phase,
                "StartedTime": api_time(t.started_ms / 1000),
                "DurationMs": t.elapsed_ms,
                "Bytes": t.bytes,
                "Outcome": t.outcome,
            })
        })
        .collect();
    json!({
        "ImageId": i.image_id,
        "ImageName": i.name,
        "ImageDescription": i.description,
        "ImageState": i.state,
        "ImageType": "PRIVATE_IMAGE",
        "ImageSource": "EXTERNAL_IMPORT",
        "ImageSize": (i.virtual_size as u64).div_ceil(1 << 30),
        "OsName": os_name,
        "Platform": i.os_type,
        "Architecture": i.architecture,
        "CreatedTime": api_time(i.created_at),
        "ImageCreator": i.app_id.to_string(),
        "IsSupportCloudinit": !no_cloudinit,
        "Tags": tags,
        "ImportPhase": i.phase,
        "ImportProgress": i.progress,
        "ImportBytesDone": i.bytes_done,
        "ImportBytesTotal": i.bytes_total,
        "ImportAttempts": i.attempts,
        "StoredSize": i.size_bytes,
        "ErrorCode": i.error_code,
        "ErrorMessage": i.error_message,
        "Findings": findings,
        "ImportTimings": timings,
        "BootTest": boot_test_json(i),
    })
}

/// The boot test of an import (R-BOOT): `null` when none was asked for; `pending` until
/// it ran; `not-run` when the import ended before it (refused by the check, or failed).
fn boot_test_json(i: &Image) -> Value {
    if !i.boot_test {
        return Value::Null;
    }
    let facts = i
        .boot_result
        .as_deref()
        .and_then(|s| serde_json::from_str::<BootFacts>(s).ok());
    let Some(b) = facts else {
        let (outcome, reason) = if i.state == IMPORTING {
            (
                "pending",
                "the image is booted once it is converted".to_string(),
            )
        } else {
            (
                "not-run",
                format!(
                    "the import ended in phase `{}` before the boot test",
                    i.phase
                ),
            )
        };
        return json!({"Requested": true, "Outcome": outcome, "Reason": reason, "SerialTail": []});
    };
    json!({
        "Requested": true,
        "Outcome": b.outcome.as_str(),
        "Failure": b.failure.map(|f| f.as_str()),
        "Reason": b.reason,
        "ElapsedMs": b.elapsed_ms,
        "TimeoutSecs": b.timeout_secs,
        "Accelerator": b.accel,
        "SerialTail": b.serial_tail,
    })
}

/// The filter of a request, or `None` when it can match nothing (an image-type other
/// than PRIVATE_IMAGE).
fn filter(ctx: &Ctx<'_>, r: &mut DescribeImages) -> Result<Option<ImageFilter>, ApiError> {
    let mut f = ImageFilter {
        ids: list(r.image_ids.take(), "ImageIds", 100)?,
        region: Some(ctx.region.clone()),
        ..ImageFilter::default()
    };
    let has_filters = r.filters.is_some();
    if !f.ids.is_empty() && has_filters {
        return Err(ApiError::new(
            ApiCode::InvalidParameter,
            "ImageIds and Filters cannot be specified together.",
        ));
    }
    for id in &f.ids {
        image_id(id)?;
    }
    let mut matches_nothing = false;
    if has_filters {
        for flt in list(r.filters.take(), "Filters", MAX_FILTERS)? {
            let name = flt.name.ok_or_else(|| ApiError::missing("Filters.Name"))?;
            let values = list(flt.values, "Filters.Values", MAX_VALUES)?;
            if values.is_empty() {
                return Err(ApiError::missing("Filters.Values"));
            }
            match name.as_str() {
                "image-id" => {
                    for v in &values {
                        image_id(v)?;
                    }
                    f.ids.extend(values)
                }
                "image-name" => f.names.extend(values),
                "image-state" => f.states.extend(values),
                "platform" => f.platforms.extend(values),
                "image-type" => {
                    if !values.iter().any(|v| v == "PRIVATE_IMAGE") {
                        matches_nothing = true;
                    }
                }
                other => {
                    let other = imgport_policy::text::clip(other, 64);
                    return Err(ApiError::new(
                        ApiCode::InvalidFilter,
                        format!("The filter `{other}` is not supported; use image-id, image-name, image-state, image-type or platform."),
                    ));
                }
            }
        }
    }
    Ok((!matches_nothing).then_some(f))
}

impl Request for DescribeImages {
    fn run(mut self, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        let f = filter(ctx, &mut self)?;
        let offset = int(self.offset, "Offset", 0, 0, i64::from(u32::MAX))?;
        let limit = int(self.limit, "Limit", 20, 0, 100)?;
        let Some(f) = f else {
            return Ok(json!({"TotalCount": 0, "ImageSet": []}));
        };
        let (images, total) = ctx.state.db.images(ctx.account.app_id, &f, offset, limit)?;
        Ok(json!({
            "TotalCount": total,
            "ImageSet": images.iter().map(|i| image_json(ctx, i)).collect::<Vec<_>>(),
        }))
    }
}
