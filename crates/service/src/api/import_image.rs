//! `ImportImage` (R-FLOW-FORM): checks the form against the supported list (the policy
//! crate's `check_form`: `InvalidImageOsType.Unsupported`,
//! `InvalidImageOsVersion.Unsupported`, `InvalidImageArchitecture.Unsupported`), the
//! name and description limits, and the URL (R-ERR `InvalidUrl`, R-REGION: an object of
//! this cloud's store, public-read or validly presigned and unused, in a bucket of the
//! request's region), then queues the import and returns the new `ImageId` at once;
//! the image is IMPORTING until its job ends NORMAL or IMPORTFAILED.
//!
//! `DryRun=true` runs the same form and URL checks (without using up a signed URL) and
//! the full pre-flight check — the `imgport check` engine reading the object by ranges
//! — and returns the verdict (codes, findings with rule, evidence and fix) without
//! importing. A DryRun needs no OsType / OsVersion / Architecture: `Detected` answers
//! what the form should declare (issue 15 item 2); declared values are checked against
//! the list and, when they differ from the detected ones, R-OS / R-ARCH say so. Parameters: ImageUrl, ImageName, OsType, OsVersion, Architecture,
//! ImageDescription, DryRun, Force, TagSpecification, LicenseType, BootMode, ImageFamily,
//! and our `BootTest` (R-BOOT, issue 17): boot the converted image under QEMU before it
//! becomes NORMAL (absent: the operator's `boot_test_default`). DryRun converts
//! nothing, so `DryRun` with `BootTest=true` is refused (`imgport check --boot` boots a
//! local file).

use super::error::{ApiCode, ApiError};
use super::params::text;
use super::request::{list, required, Flag, Request};
use super::Ctx;
use crate::db::images::{CreateRefused, NewImage};
use crate::s3::import_url::resolve_import_url;
use imgport_policy::Code;
use imgport_policy::{check_form, ImportForm, Severity};
use serde::Deserialize;
use serde_json::{json, Value};

/// The request (R-FLOW-FORM).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ImportImage {
    image_url: Option<String>,
    image_name: Option<String>,
    os_type: Option<String>,
    os_version: Option<String>,
    architecture: Option<String>,
    image_description: Option<String>,
    dry_run: Option<Flag>,
    force: Option<Flag>,
    tag_specification: Option<Vec<TagSpecification>>,
    license_type: Option<String>,
    boot_mode: Option<String>,
    image_family: Option<String>,
    boot_test: Option<Flag>,
}

/// One `TagSpecification`: `{ResourceType: "image", Tags: [{Key, Value}]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct TagSpecification {
    resource_type: Option<String>,
    tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

/// Form limits (R-FLOW-FORM).
pub const MAX_NAME: usize = 60;
pub const MAX_DESCRIPTION: usize = 256;
/// Longest ImageUrl accepted.
const MAX_URL: usize = 4096;
/// Tags per image, and their key / value lengths.
const MAX_TAGS: usize = 50;
const MAX_TAG_KEY: usize = 127;
const MAX_TAG_VALUE: usize = 255;

/// The tag specifications as the stored JSON array of `{"Key","Value"}`.
fn tags(specs: Option<Vec<TagSpecification>>) -> Result<String, ApiError> {
    let name = "TagSpecification";
    let mut out = Vec::new();
    for s in list(specs, name, MAX_TAGS)? {
        let rt = s.resource_type.as_deref().unwrap_or("");
        if rt != "image" {
            return Err(ApiError::invalid(
                "TagSpecification.ResourceType",
                format!(
                    "must be `image`, got `{}`",
                    imgport_policy::text::clip(rt, 32)
                ),
            ));
        }
        for t in list(s.tags, "TagSpecification.Tags", MAX_TAGS)? {
            let key = t.key.unwrap_or_default();
            let value = t.value.unwrap_or_default();
            if key.is_empty() {
                return Err(ApiError::missing("TagSpecification.Tags.Key"));
            }
            text("Tag key", &key, MAX_TAG_KEY)?;
            text("Tag value", &value, MAX_TAG_VALUE)?;
            out.push(json!({"Key": key, "Value": value}));
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::invalid(
            name,
            format!("at most {MAX_TAGS} tags per image"),
        ));
    }
    Ok(Value::Array(out).to_string())
}

/// An optional parameter that must be one of `allowed`.
fn one_of(v: Option<&str>, name: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match v {
        Some(v) if !allowed.contains(&v) => Err(ApiError::invalid(
            name,
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

impl Request for ImportImage {
    fn run(self, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        let req = self.checked(ctx)?;
        let mut form = ImportForm {
            os_type: req.os_type.clone(),
            os_version: req.os_version.clone(),
            architecture: req.arch.clone(),
            force: req.force,
            region: Some(ctx.region.clone()),
            source_region: None,
        };
        refuse_form(&form)?;
        let src =
            resolve_import_url(ctx.state, &req.url, &ctx.region, false).map_err(invalid_url)?;
        form.source_region = Some(src.region.clone());
        // An import has all three (required above); a DryRun is checked with what it has.
        let (Some(os_type), Some(os_version), Some(arch), false) =
            (&req.os_type, &req.os_version, &req.arch, req.dry_run)
        else {
            return dry_run_check(ctx, &src.blob, &form);
        };
        queue_import(ctx, &req, os_type, os_version, arch)
    }
}

/// The request's values, each checked (R-FLOW-FORM): what the import or DryRun uses.
struct Checked {
    dry_run: bool,
    /// Absent only in a DryRun.
    os_type: Option<String>,
    os_version: Option<String>,
    arch: Option<String>,
    url: String,
    name: String,
    description: String,
    force: bool,
    boot_test: bool,
    /// The stored JSON array of tags.
    tags: String,
}

impl ImportImage {
    /// Check every parameter's presence, length and value, in the API's order.
    fn checked(self, ctx: &Ctx<'_>) -> Result<Checked, ApiError> {
        let dry_run = Flag::or_false(self.dry_run);
        // A DryRun may leave the OS out: it reports what it detected (`Detected`) for the
        // form (issue 15 item 2); an import needs all three.
        let form_field = |v: &'_ Option<String>, name: &str| -> Result<Option<String>, ApiError> {
            if dry_run {
                Ok(v.clone())
            } else {
                required(v, name).map(|s| Some(s.to_string()))
            }
        };
        let os_type = form_field(&self.os_type, "OsType")?;
        let os_version = form_field(&self.os_version, "OsVersion")?;
        let arch = form_field(&self.architecture, "Architecture")?;
        let url = required(&self.image_url, "ImageUrl")?;
        let name = required(&self.image_name, "ImageName")?;
        let description = self.image_description.as_deref().unwrap_or("");
        let force = Flag::or_false(self.force);
        let boot_test = self.boot_test.map(|Flag(b)| b);
        if dry_run && boot_test == Some(true) {
            return Err(ApiError::invalid(
            "BootTest",
            "a DryRun converts nothing, so there is no image to boot: import with BootTest=true, \
             or boot a local copy with `imgport check --boot IMAGE`",
        ));
        }
        let boot_test = boot_test.unwrap_or(ctx.state.config.boot_test_default);
        text("ImageName", name, MAX_NAME)?;
        text("ImageDescription", description, MAX_DESCRIPTION)?;
        if url.len() > MAX_URL {
            return Err(ApiError::new(
                Code::InvalidUrl,
                format!("InvalidUrl: the URL is longer than {MAX_URL} characters."),
            ));
        }
        one_of(
            self.boot_mode.as_deref(),
            "BootMode",
            &["Legacy BIOS", "UEFI"],
        )?;
        one_of(
            self.license_type.as_deref(),
            "LicenseType",
            &["TencentCloud", "BYOL"],
        )?;
        if let Some(f) = &self.image_family {
            text("ImageFamily", f, MAX_NAME)?;
        }
        let (url, name, description) = (url.to_string(), name.to_string(), description.to_string());
        let tags = tags(self.tag_specification)?;
        Ok(Checked {
            dry_run,
            os_type,
            os_version,
            arch,
            url,
            name,
            description,
            force,
            boot_test,
            tags,
        })
    }
}

/// The form against the supported list (the policy crate's `check_form`): its first
/// error, with its fix, is the API error.
fn refuse_form(form: &ImportForm) -> Result<(), ApiError> {
    if let Some(f) = check_form(form)
        .into_iter()
        .find(|f| f.severity == Severity::Error)
    {
        let code = f
            .code
            .map_or(ApiCode::InvalidParameterValue, ApiCode::Policy);
        let fix = f.fix.first().map(|x| format!(" {x}")).unwrap_or_default();
        return Err(ApiError::new(code, format!("{}.{fix}", f.message)));
    }
    Ok(())
}

/// An ImageUrl the store refuses: `InvalidUrl`.
fn invalid_url(e: crate::s3::import_url::UrlError) -> ApiError {
    ApiError::new(Code::InvalidUrl, e.message())
}

/// `ImageQuotaLimitExceeded`: the account already holds `held` images.
fn quota_exceeded(held: i64) -> ApiError {
    ApiError::new(
        ApiCode::ImageQuotaLimitExceeded,
        format!(
            "The account holds {held} images; at most {} are allowed. Delete images you no longer need (DeleteImages).",
            crate::db::images::QUOTA
        ),
    )
}

/// The import itself: quota and name checked, the single-use URL used up, the image
/// row and its job created, the workers woken; returns the new `ImageId`.
fn queue_import(
    ctx: &Ctx<'_>,
    req: &Checked,
    os_type: &str,
    os_version: &str,
    arch: &str,
) -> Result<Value, ApiError> {
    let name = req.name.as_str();
    let (_, held) = ctx.state.db.images(
        ctx.account.app_id,
        &crate::db::images::ImageFilter::default(),
        0,
        0,
    )?;
    if held >= crate::db::images::QUOTA {
        return Err(quota_exceeded(held));
    }
    // A duplicate name is refused before the link is used up (create_image checks again,
    // in its transaction, for imports racing each other).
    if let Some(other) = ctx
        .state
        .db
        .image_named(ctx.account.app_id, &ctx.region, name, "")?
    {
        return Err(duplicate_name(name, &other, &ctx.region));
    }
    // Use up the single-use signature now: a second import with this URL is InvalidUrl.
    let src = resolve_import_url(ctx.state, &req.url, &ctx.region, true).map_err(invalid_url)?;
    let id = ctx
        .state
        .db
        .create_image(&NewImage {
            app_id: ctx.account.app_id,
            name,
            description: &req.description,
            os_type,
            os_version,
            architecture: arch,
            force: req.force,
            region: &ctx.region,
            source_url: &req.url,
            source_blob: &src.blob,
            tags: &req.tags,
            request_id: &ctx.request_id,
            boot_test: req.boot_test,
        })?
        .map_err(|refused| match refused {
            CreateRefused::Quota => quota_exceeded(held),
            CreateRefused::DuplicateName(other) => duplicate_name(name, &other, &ctx.region),
        })?;
    tracing::info!(image_id = %id, bucket = %src.bucket, key = %src.key, "import queued");
    ctx.state.wake_workers();
    Ok(json!({ "ImageId": id }))
}

/// `InvalidImageName.Duplicate` (issue 15 item 5): image names are unique per account
/// and region, as the cloud's are.
pub fn duplicate_name(name: &str, other: &str, region: &str) -> ApiError {
    ApiError::new(
        ApiCode::InvalidImageNameDuplicate,
        format!(
            "The image name `{name}` is already used by image {other} in region {region}. Choose another ImageName (names are unique per region), or rename or delete {other} first."
        ),
    )
}

/// The pre-flight check of `DryRun`: the `imgport check` engine over the object.
fn dry_run_check(ctx: &Ctx<'_>, blob: &str, form: &ImportForm) -> Result<Value, ApiError> {
    let reader = ctx.state.open_source(blob).map_err(|e| {
        ApiError::new(
            Code::InvalidUrl,
            format!("InvalidUrl: the object behind ImageUrl could not be opened: {e}"),
        )
    })?;
    let report = imgport_check::check(reader, form).map_err(|e| {
        ApiError::new(
            Code::InternalError,
            format!("The image could not be checked (the stored object could not be read): {e}"),
        )
    })?;
    let v = &report.verdict;
    Ok(json!({
        "DryRun": true,
        "Importable": v.importable,
        "ErrorCode": v.first_code().map(|c| c.as_str()),
        "Codes": v.codes.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "Findings": v.findings,
        "Passed": v.passed,
        "Detected": report.guest.as_ref().map(imgport_policy::detected_form).unwrap_or_default(),
        "Facts": {"Format": report.format, "Guest": report.guest},
        "ImageSize": report.image_size,
        "BytesRead": report.bytes_read,
        "ElapsedMs": report.elapsed_ms,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_specifications() {
        let tags = |p: Value| {
            super::super::request::parse::<ImportImage>(&p).and_then(|r| tags(r.tag_specification))
        };
        assert_eq!(tags(json!({})).unwrap(), "[]");
        let t = tags(json!({"TagSpecification": [{"ResourceType": "image", "Tags": [{"Key": "team", "Value": "web"}]}]})).unwrap();
        assert_eq!(t, r#"[{"Key":"team","Value":"web"}]"#);
        for bad in [
            json!({"TagSpecification": "x"}),
            json!({"TagSpecification": [{"ResourceType": "instance", "Tags": []}]}),
            json!({"TagSpecification": [{"ResourceType": "image", "Tags": [{"Value": "v"}]}]}),
            json!({"TagSpecification": [{"ResourceType": "image", "Tags": [{"Key": "k".repeat(200), "Value": "v"}]}]}),
            json!({"TagSpecification": [{"ResourceType": "image", "Tags": vec![json!({"Key": "k", "Value": "v"}); 51]}]}),
        ] {
            assert!(tags(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn enumerations() {
        assert!(one_of(Some("UEFI"), "BootMode", &["Legacy BIOS", "UEFI"]).is_ok());
        assert!(one_of(None, "BootMode", &["UEFI"]).is_ok());
        assert_eq!(
            one_of(Some("EFI"), "BootMode", &["UEFI"]).unwrap_err().code,
            "InvalidParameterValue"
        );
    }
}
