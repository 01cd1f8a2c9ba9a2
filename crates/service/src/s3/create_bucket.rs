//! CreateBucket (R-FLOW-UPLOAD, R-REGION): a bucket lives in one region of the
//! service's `regions`: the `LocationConstraint` of the request body, else the region
//! of a COS host (`BUCKET-APPID.cos.REGION.myqcloud.com`), else the region of the
//! SigV4 credential scope when it is one of the service's, else the service's region.
//! Names follow S3's rules; a COS-style name `NAME-APPID` must carry the caller's own
//! AppId. The canned ACL may be `private` (default) or `public-read`.

use super::acl;
use super::errors::S3Error;
use super::router::Ctx;
use super::xml;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Largest CreateBucketConfiguration document read.
const MAX_CONFIG: usize = 64 * 1024;
/// A `-DIGITS` suffix at least this long is an AppId (COS `NAME-APPID`).
const APPID_DIGITS: usize = 9;

/// S3 bucket names: 3–63 of `[a-z0-9.-]`, starting and ending alphanumeric, no `..`,
/// not an IP address.
pub fn valid_name(n: &str) -> bool {
    (3..=63).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.as_bytes()[n.len() - 1].is_ascii_alphanumeric()
        && !n.contains("..")
        && n.parse::<std::net::Ipv4Addr>().is_err()
}

/// The AppId a COS-style name `NAME-APPID` carries.
pub fn name_app_id(n: &str) -> Option<&str> {
    let (_, digits) = n.rsplit_once('-')?;
    (digits.len() >= APPID_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

pub async fn run(ctx: &Ctx<'_>, bucket: &str, body: Body) -> Result<Response, S3Error> {
    let a = ctx.account()?.clone();
    if !valid_name(bucket) {
        return Err(S3Error::bad(
            "InvalidBucketName",
            format!("The bucket name {bucket:?} is not valid: use 3 to 63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (COS style: NAME-{}).", a.app_id),
        )
        .with("BucketName", bucket));
    }
    if let Some(id) = name_app_id(bucket) {
        if id != a.app_id.to_string() {
            return Err(S3Error::bad(
                "InvalidBucketName",
                format!("The bucket name {bucket:?} ends in the AppId {id}, but your AppId is {}: name COS-style buckets NAME-{}.", a.app_id, a.app_id),
            )
            .with("BucketName", bucket));
        }
    }
    let public = acl::canned(ctx, false)? == Some(crate::db::objects::ACL_PUBLIC_READ);
    let bytes = axum::body::to_bytes(body, MAX_CONFIG).await.map_err(|_| {
        S3Error::bad(
            "MalformedXML",
            "The CreateBucketConfiguration document is too large.",
        )
    })?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.trim().is_empty() && !text.contains("CreateBucketConfiguration") {
        // A PUT of `/NAME` with a body that is not a bucket configuration is an object
        // upload whose URL lost its bucket (cos-python-sdk-v5 with `Domain=` puts none
        // in the URL): refuse it instead of creating a bucket named after the key
        // (issue 15 item 6).
        return Err(S3Error::bad(
            "InvalidRequest",
            format!(
                "This PUT names no object key, so it would create a bucket named {bucket:?}, but its {} byte body is not a CreateBucketConfiguration: it looks like an object upload whose URL has no bucket. Put the bucket in the host (cos-python-sdk-v5: Endpoint=\"cos.REGION.localhost:PORT\" or Proxies, not Domain=) or in the path (/BUCKET/KEY).",
                bytes.len()
            ),
        )
        .with("BucketName", bucket));
    }
    let asked = xml::first(&text, "LocationConstraint").filter(|s| !s.is_empty());
    if let (Some(asked), Some(host)) = (&asked, &ctx.host_region) {
        if asked != host {
            return Err(S3Error::bad(
                "IllegalLocationConstraintException",
                format!("The LocationConstraint {asked} differs from the region {host} of the host the request was sent to."),
            ));
        }
    }
    // Without either, the region the request was signed for (SigV4), when it is one
    // of ours (a client's default like us-east-1 is not).
    let region = asked
        .or_else(|| ctx.host_region.clone())
        .or_else(|| {
            ctx.scope_region
                .clone()
                .filter(|r| ctx.st.config.regions.contains(r))
        })
        .unwrap_or_else(|| ctx.st.config.region.clone());
    if !ctx.st.config.regions.contains(&region) {
        return Err(S3Error::bad(
            "InvalidLocationConstraint",
            format!(
                "The location constraint {region:?} is not a region of this service; use one of: {} (R-REGION).",
                ctx.st.config.regions.join(", ")
            ),
        ));
    }
    if !ctx.st.db.create_bucket(bucket, a.app_id, &region, public)? {
        let mine = ctx
            .st
            .db
            .bucket(bucket)?
            .is_some_and(|b| b.app_id == a.app_id);
        return Err(if mine {
            S3Error::new(
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "You already own this bucket.",
            )
        } else {
            S3Error::new(
                StatusCode::CONFLICT,
                "BucketAlreadyExists",
                "The requested bucket name is not available: bucket names are shared by all accounts; choose another (COS style: NAME-APPID).",
            )
        }
        .with("BucketName", bucket));
    }
    tracing::info!(bucket, region = %region, app_id = a.app_id, public, "bucket created");
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}")) {
        r.headers_mut().insert("location", v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["abc", "images-1250000001", "a.b-c", &"a".repeat(63)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "a_b",
            "192.168.1.1",
            &"a".repeat(64),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(name_app_id("images-1250000001"), Some("1250000001"));
        assert_eq!(name_app_id("logs-2024"), None);
        assert_eq!(name_app_id("plain"), None);
    }
}
