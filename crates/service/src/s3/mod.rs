//! The embedded S3/COS-compatible object store (R-FLOW-UPLOAD): path-style
//! (`/bucket/key`) and virtual-host (`bucket.HOST`) addressing, SigV4 header and
//! presigned-query auth, buckets with a region, private or public-read objects,
//! single and multipart uploads (streamed to disk, atomic), ranged GETs, ListObjectsV2.
//! [`import_url`] decides whether an ImportImage URL points here (R-ERR InvalidUrl).

pub mod auth;
mod body;
mod buckets;
pub mod cos_auth;
pub use buckets::iso8601 as buckets_iso8601;
pub mod import_url;
mod multipart;
mod objects;
pub mod sigv4;
pub mod xml;

use crate::AppState;
use auth::Caller;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use xml::S3Error;

/// Serve the object store on `listener` until the task is dropped.
pub async fn serve_storage(
    state: AppState,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state)).await?;
    Ok(())
}

/// The object store's routes (everything goes through one dispatcher, as S3's do).
pub fn router(state: AppState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// Bucket and key of a request: virtual-host style when the Host names a bucket
/// (`bucket.` + anything that is not an IP address), else path style.
pub fn bucket_and_key(uri_path: &str, host: Option<&str>) -> (Option<String>, Option<String>) {
    let path = sigv4::decode(uri_path);
    let path = path.trim_start_matches('/');
    let host = host.unwrap_or("").split(':').next().unwrap_or("");
    let vhost = host
        .split_once('.')
        .map(|(b, _)| b)
        .filter(|_| host.parse::<std::net::IpAddr>().is_err() && host != "localhost");
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match vhost {
        Some(b) => (Some(b.to_string()), nonempty(path)),
        None => match path.split_once('/') {
            Some((b, k)) => (nonempty(b), nonempty(k)),
            None => (nonempty(path), None),
        },
    }
}

async fn handle(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match dispatch(&st, &method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, S3Error> {
    let caller = auth::authenticate(st, method, uri, headers, crate::db::now())?;
    let host = headers.get("host").and_then(|v| v.to_str().ok());
    let (bucket, key) = bucket_and_key(uri.path(), host);
    let query = sigv4::parse_query(uri.query().unwrap_or(""));
    let has = |k: &str| query.iter().any(|(n, _)| n == k);
    let Some(bucket) = bucket else {
        return match (method, caller) {
            (&Method::GET, Caller::Account(a)) => buckets::list_buckets(st, &a),
            _ => Err(S3Error::denied("Access Denied")),
        };
    };
    match key {
        None => match *method {
            Method::PUT => buckets::create_bucket(st, &caller, &bucket, headers, body).await,
            Method::HEAD => buckets::head_bucket(st, &caller, &bucket),
            Method::DELETE => buckets::delete_bucket(st, &caller, &bucket),
            Method::GET if has("location") => buckets::location(st, &caller, &bucket),
            Method::GET => objects::list_objects(st, &caller, &bucket, &query),
            _ => Err(S3Error::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )),
        },
        Some(key) => match *method {
            Method::POST if has("uploads") => {
                multipart::create(st, &caller, &bucket, &key, headers)
            }
            Method::POST if has("uploadId") => {
                multipart::complete(st, &caller, &bucket, &key, &query, body).await
            }
            Method::PUT if has("uploadId") => {
                multipart::upload_part(st, &caller, &bucket, &key, &query, headers, body).await
            }
            Method::DELETE if has("uploadId") => multipart::abort(st, &caller, &bucket, &query),
            Method::GET if has("uploadId") => {
                multipart::list_parts(st, &caller, &bucket, &key, &query)
            }
            Method::PUT => objects::put_object(st, &caller, &bucket, &key, headers, body).await,
            Method::GET => objects::get_object(st, &caller, &bucket, &key, headers, false),
            Method::HEAD => objects::get_object(st, &caller, &bucket, &key, headers, true),
            Method::DELETE => objects::delete_object(st, &caller, &bucket, &key),
            _ => Err(S3Error::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )),
        },
    }
}

/// The bucket, if `caller` owns it.
pub(crate) fn owned_bucket(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
) -> Result<crate::db::objects::Bucket, S3Error> {
    let b = st.db.bucket(bucket)?.ok_or_else(|| {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
    })?;
    match caller {
        Caller::Account(a) if a.app_id == b.app_id => Ok(b),
        _ => Err(S3Error::denied("Access Denied")),
    }
}

/// `x-amz-acl` / `x-cos-acl: public-read`.
pub(crate) fn public_read(headers: &HeaderMap) -> bool {
    ["x-amz-acl", "x-cos-acl"].iter().any(|h| {
        headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("public-read"))
    })
}
