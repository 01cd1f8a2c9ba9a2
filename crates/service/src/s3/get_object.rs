//! GetObject and HeadObject: the owner, or anyone for a public-read object (R-ERR
//! InvalidUrl: private objects need a signature). One byte range per request
//! (`bytes=a-b`, `bytes=a-`, `bytes=-n`; 416 when unsatisfiable; several ranges or a
//! malformed header get the whole object, as S3 does), conditional requests
//! (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since), `response-*`
//! header overrides on signed requests. The body is streamed from the blob.

use super::acl;
use super::auth::Caller;
use super::body;
use super::errors::S3Error;
use super::router::Ctx;
use crate::timefmt::{http_date, parse_http_date};
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What a `Range` header asks of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// No single well-formed range: the whole object.
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// The range a `Range` header asks of an object of `size` bytes.
pub fn parse_range(h: Option<&str>, size: u64) -> Range {
    match range_of(h, size) {
        Ok(Some((s, e))) => Range::Part(s, e),
        Ok(None) => Range::Whole,
        Err(()) => Range::Unsatisfiable,
    }
}

fn range_of(h: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => {
            let Some(n) = num(b) else { return Ok(None) };
            if n == 0 || size == 0 {
                return Err(());
            }
            Ok(Some((size.saturating_sub(n), size - 1)))
        }
        // bytes=A-: from A to the end.
        (false, true) => {
            let Some(s) = num(a) else { return Ok(None) };
            if s >= size {
                return Err(());
            }
            Ok(Some((s, size - 1)))
        }
        (false, false) => {
            let (Some(s), Some(e)) = (num(a), num(b)) else {
                return Ok(None);
            };
            if e < s {
                return Ok(None);
            }
            if s >= size {
                return Err(());
            }
            Ok(Some((s, e.min(size - 1))))
        }
        (true, true) => Ok(None),
    }
}

/// Whether an `If-Match` / `If-None-Match` list names `etag` (or is `*`).
fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| {
        let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
        t == "*" || t == etag
    })
}

/// `response-*` query parameters that override response headers.
const OVERRIDES: &[(&str, &str)] = &[
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

pub fn run(ctx: &Ctx<'_>, bucket: &str, key: &str, head: bool) -> Result<Response, S3Error> {
    let b = ctx.bucket(bucket)?;
    let owner = ctx.owns(&b);
    let o =
        match ctx.st.db.object(bucket, key)? {
            Some(o) if owner || acl::object_public(&o.acl, &b) => o,
            None if owner || b.public_read => return Err(S3Error::no_such_key(key)),
            _ => return Err(S3Error::denied(
                "Access Denied: the object is private; sign the request or use a presigned URL.",
            )),
        };
    if ctx.has("partNumber") {
        return Err(S3Error::not_implemented("GetObject by partNumber"));
    }
    if ctx.query.iter().any(|(k, _)| k.starts_with("response-"))
        && matches!(ctx.caller, Caller::Anonymous)
    {
        return Err(S3Error::bad(
            "InvalidRequest",
            "Request specific response headers cannot be used for anonymous GET requests.",
        ));
    }
    let size = o.size as u64;
    let etag = format!("\"{}\"", o.etag);
    let last_modified = http_date(o.created_at);
    let since = |h: &str| ctx.header(h).and_then(parse_http_date);
    if let Some(m) = ctx.header("if-match") {
        if !etag_listed(m, &o.etag) {
            return Err(S3Error::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold (If-Match: the object changed).",
            )
            .with("Condition", "If-Match"));
        }
    } else if since("if-unmodified-since").is_some_and(|t| o.created_at > t) {
        return Err(S3Error::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold (If-Unmodified-Since).",
        )
        .with("Condition", "If-Unmodified-Since"));
    }
    let not_modified = match ctx.header("if-none-match") {
        Some(m) => etag_listed(m, &o.etag),
        None => since("if-modified-since").is_some_and(|t| o.created_at <= t),
    };
    if not_modified {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        for (k, v) in [("etag", &etag), ("last-modified", &last_modified)] {
            if let Ok(v) = HeaderValue::from_str(v) {
                r.headers_mut().insert(k, v);
            }
        }
        return Ok(r);
    }
    let range = ctx.header("range");
    let (status, start, len) = match parse_range(range, size) {
        Range::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        Range::Whole => (StatusCode::OK, 0, size),
        Range::Unsatisfiable => {
            return Err(S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            )
            .with("RangeRequested", range.unwrap_or(""))
            .with("ActualObjectSize", size.to_string())
            .with_header("content-range", format!("bytes */{size}")))
        }
    };
    let body = if head || len == 0 {
        Body::empty()
    } else {
        body::from_source(ctx.st.objects.open(&o.blob)?, start, len)
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    let mut set = |k: &str, v: &str| {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    };
    set("content-type", "application/octet-stream");
    for (k, v) in &o.headers {
        set(k, v);
    }
    for (param, header) in OVERRIDES {
        if let Some(v) = ctx.q(param) {
            set(header, v);
        }
    }
    set("content-length", &len.to_string());
    set("etag", &etag);
    set("last-modified", &last_modified);
    set("accept-ranges", "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            "content-range",
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |h: &str, size| parse_range(Some(h), size);
        assert_eq!(r("bytes=0-9", 100), Range::Part(0, 9));
        assert_eq!(r("bytes=90-200", 100), Range::Part(90, 99));
        assert_eq!(r("bytes=10-", 100), Range::Part(10, 99));
        assert_eq!(r("bytes=-10", 100), Range::Part(90, 99));
        assert_eq!(r("bytes=-1000", 100), Range::Part(0, 99));
        assert_eq!(r("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(r("bytes=100-200", 100), Range::Unsatisfiable);
        assert_eq!(r("bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Range::Unsatisfiable);
        // Not a single well-formed range: the whole object.
        for whole in [
            "bytes=5-1",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=1",
        ] {
            assert_eq!(r(whole, 100), Range::Whole, "{whole}");
        }
        assert_eq!(parse_range(None, 100), Range::Whole);
        assert_eq!(r("bytes=99999999999999999999999-", 100), Range::Whole);
    }

    #[test]
    fn etag_lists() {
        assert!(etag_listed("\"abc\"", "abc"));
        assert!(etag_listed("x, W/\"abc\"", "abc"));
        assert!(etag_listed("*", "abc"));
        assert!(!etag_listed("\"abd\"", "abc"));
    }
}
