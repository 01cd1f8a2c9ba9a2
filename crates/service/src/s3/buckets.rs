//! Bucket operations: CreateBucket (with a region, R-REGION), HeadBucket, DeleteBucket,
//! GetBucketLocation, ListBuckets.

use super::auth::Caller;
use super::xml::{self, esc, S3Error};
use super::{owned_bucket, public_read};
use crate::db::accounts::Account;
use crate::AppState;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Most bytes of a CreateBucketConfiguration body read.
const MAX_CONFIG: usize = 64 * 1024;

/// Bucket names: 3–63 of `[a-z0-9.-]`, starting and ending alphanumeric.
fn valid_name(n: &str) -> bool {
    (3..=63).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.as_bytes()[n.len() - 1].is_ascii_alphanumeric()
}

pub async fn create_bucket(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, S3Error> {
    let Caller::Account(a) = caller else {
        return Err(S3Error::denied("Access Denied"));
    };
    if !valid_name(bucket) {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_CONFIG).await.map_err(|_| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "configuration too large",
        )
    })?;
    let text = String::from_utf8_lossy(&bytes);
    // COS names the region in the host: BUCKET-APPID.cos.REGION.myqcloud.com.
    let cos_region = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.split(':').next())
        .and_then(|h| h.split_once(".cos.").map(|(_, r)| r.to_string()))
        .and_then(|r| r.strip_suffix(".myqcloud.com").map(str::to_string));
    let region = xml::all(&text, "LocationConstraint")
        .first()
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
        .or(cos_region)
        .unwrap_or_else(|| st.config.region.clone());
    if !st.config.regions.contains(&region) {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidLocationConstraint",
            format!(
                "The specified location-constraint '{region}' is not valid; known regions: {}",
                st.config.regions.join(", ")
            ),
        ));
    }
    if !st
        .db
        .create_bucket(bucket, a.app_id, &region, public_read(headers))?
    {
        let mine = st.db.bucket(bucket)?.is_some_and(|b| b.app_id == a.app_id);
        return Err(S3Error::new(
            StatusCode::CONFLICT,
            if mine {
                "BucketAlreadyOwnedByYou"
            } else {
                "BucketAlreadyExists"
            },
            "The requested bucket name is not available.",
        ));
    }
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = format!("/{bucket}").parse() {
        r.headers_mut().insert("location", v);
    }
    Ok(r)
}

pub fn head_bucket(st: &AppState, caller: &Caller, bucket: &str) -> Result<Response, S3Error> {
    let b = owned_bucket(st, caller, bucket)?;
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = b.region.parse() {
        r.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(r)
}

pub fn location(st: &AppState, caller: &Caller, bucket: &str) -> Result<Response, S3Error> {
    let b = owned_bucket(st, caller, bucket)?;
    Ok(xml::ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{}</LocationConstraint>",
        esc(&b.region)
    )))
}

pub fn delete_bucket(st: &AppState, caller: &Caller, bucket: &str) -> Result<Response, S3Error> {
    owned_bucket(st, caller, bucket)?;
    if !st.db.list_objects(bucket, "", "", 1)?.is_empty() {
        return Err(S3Error::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
        ));
    }
    st.db.delete_bucket(bucket)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub fn list_buckets(st: &AppState, a: &Account) -> Result<Response, S3Error> {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>{}</ID><DisplayName>{}</DisplayName></Owner><Buckets>",
        a.app_id,
        esc(&a.name)
    );
    for b in st.db.buckets(a.app_id)? {
        body.push_str(&format!(
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate><BucketRegion>{}</BucketRegion></Bucket>",
            esc(&b.name),
            iso8601(b.created_at),
            esc(&b.region)
        ));
    }
    body.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml::ok(body))
}

/// `2026-11-25T07:00:00.000Z`.
pub fn iso8601(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}
