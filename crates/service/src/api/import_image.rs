//! `ImportImage` (R-FLOW-FORM): validates the form against the supported list (the
//! policy crate's `check_form`) and the URL (R-ERR InvalidUrl, R-REGION), then queues
//! the import and returns the new ImageId at once; the image is IMPORTING until the job
//! ends NORMAL or IMPORTFAILED. `DryRun=true` also runs the full pre-flight check
//! (`imgport check`'s engine, by range reads of the object) and returns its verdict.

use super::error::ApiError;
use super::{bool_param, req_str, str_param, Ctx};
use crate::db::images::NewImage;
use crate::s3::import_url::resolve_import_url;
use imgport_policy::{check_form, ImportForm, Severity};
use serde_json::{json, Value};

/// Form limits (R-FLOW-FORM).
pub const MAX_NAME: usize = 60;
pub const MAX_DESCRIPTION: usize = 256;

pub fn run(ctx: &Ctx<'_>, p: &Value) -> Result<Value, ApiError> {
    let url = req_str(p, "ImageUrl")?;
    let name = req_str(p, "ImageName")?;
    let os_type = req_str(p, "OsType")?;
    let os_version = req_str(p, "OsVersion")?;
    let arch = req_str(p, "Architecture")?;
    let description = str_param(p, "ImageDescription")?.unwrap_or("");
    let dry_run = bool_param(p, "DryRun")?;
    let force = bool_param(p, "Force")?;
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::new(
            "InvalidParameterValue.TooLong",
            format!("ImageName is longer than {MAX_NAME} characters"),
        ));
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::new(
            "InvalidParameterValue.TooLong",
            format!("ImageDescription is longer than {MAX_DESCRIPTION} characters"),
        ));
    }
    let mut form = ImportForm {
        os_type: Some(os_type.into()),
        os_version: Some(os_version.into()),
        architecture: Some(arch.into()),
        force,
        region: Some(ctx.region.clone()),
        source_region: None,
    };
    if let Some(f) = check_form(&form)
        .into_iter()
        .find(|f| f.severity == Severity::Error)
    {
        let code = f
            .code
            .map(|c| c.as_str())
            .unwrap_or("InvalidParameterValue");
        return Err(ApiError::new(code, f.message));
    }
    let src = resolve_import_url(ctx.state, url, &ctx.region, false)
        .map_err(|e| ApiError::new("InvalidUrl", e.message()))?;
    form.source_region = Some(src.region.clone());
    if dry_run {
        let reader = ctx
            .state
            .objects
            .open(&src.blob)
            .map_err(ApiError::internal)?;
        let report = imgport_check::check(reader, &form).map_err(|e| {
            ApiError::new("InternalError", format!("the image could not be read: {e}"))
        })?;
        let v = &report.verdict;
        return Ok(json!({
            "DryRun": true,
            "Importable": v.importable,
            "ErrorCode": v.first_code().map(|c| c.as_str()),
            "Codes": v.codes.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "Findings": v.findings,
            "Passed": v.passed,
            "Facts": {"Format": report.format, "Guest": report.guest},
            "BytesRead": report.bytes_read,
            "ElapsedMs": report.elapsed_ms,
        }));
    }
    // Consume the single-use signature now (a second import with the URL fails).
    let src = resolve_import_url(ctx.state, url, &ctx.region, true)
        .map_err(|e| ApiError::new("InvalidUrl", e.message()))?;
    let id = ctx.state.db.create_image(&NewImage {
        app_id: ctx.account.app_id,
        name,
        description,
        os_type,
        os_version,
        architecture: arch,
        force,
        region: &ctx.region,
        source_url: url,
        source_blob: &src.blob,
    })?;
    tracing::info!(image_id = %id, "import queued");
    ctx.state.wake_workers();
    Ok(json!({ "ImageId": id }))
}
