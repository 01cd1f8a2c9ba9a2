//! HeadBucket and GetBucketLocation: whether the bucket exists and may be used by the
//! caller, and its region (R-REGION).

use super::errors::{esc, xml_ok, S3Error};
use super::router::Ctx;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// HEAD `/bucket`: 200 for the owner (and anyone, for a public-read bucket).
pub fn head(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let b = ctx.bucket(bucket)?;
    if !ctx.owns(&b) && !b.public_read {
        return Err(S3Error::denied("Access Denied"));
    }
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&b.region) {
        r.headers_mut().insert("x-amz-bucket-region", v.clone());
        r.headers_mut().insert("x-cos-bucket-region", v);
    }
    Ok(r)
}

/// GET `/bucket?location`.
pub fn location(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    Ok(xml_ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{}</LocationConstraint>",
        esc(&b.region)
    )))
}
