//! Object operations: PutObject (streamed, atomic, Content-MD5 / checksum / payload
//! hash verified, `aws-chunked` decoded), GetObject / HeadObject (single ranges),
//! DeleteObject, ListObjectsV2.

use super::auth::Caller;
use super::body::{self, Written};
use super::buckets::iso8601;
use super::xml::{self, esc, S3Error};
use super::{owned_bucket, public_read};
use crate::db::objects::Object;
use crate::AppState;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

fn header<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

/// Receive a body into a committed blob: returns (blob id, size, hex MD5). Shared by
/// PutObject and UploadPart.
pub async fn receive(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, Written), S3Error> {
    let raw = st.objects.temp_path();
    let written = body::to_file(body, &raw).await;
    let mut written = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&raw);
            return Err(e);
        }
    };
    let content_sha = header(headers, "x-amz-content-sha256").unwrap_or("");
    let chunked = content_sha.starts_with("STREAMING-")
        || header(headers, "content-encoding").is_some_and(|v| v.contains("aws-chunked"));
    let mut file = raw.clone();
    let mut trailers = Vec::new();
    if chunked {
        let dec = st.objects.temp_path();
        let r = tokio::task::spawn_blocking({
            let (raw, dec) = (raw.clone(), dec.clone());
            move || body::decode_aws_chunked(&raw, &dec)
        })
        .await
        .map_err(S3Error::internal)?;
        let _ = std::fs::remove_file(&raw);
        match r {
            Ok((w, t)) => {
                written = w;
                trailers = t;
                file = dec;
            }
            Err(e) => {
                let _ = std::fs::remove_file(&dec);
                return Err(e);
            }
        }
        if let Some(len) =
            header(headers, "x-amz-decoded-content-length").and_then(|v| v.parse::<u64>().ok())
        {
            if len != written.size {
                let _ = std::fs::remove_file(&file);
                return Err(S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "decoded length differs from x-amz-decoded-content-length",
                ));
            }
        }
    } else if content_sha.len() == 64
        && hex::encode(written.sha256) != content_sha.to_ascii_lowercase()
    {
        let _ = std::fs::remove_file(&file);
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ));
    }
    if let Some(md5) = header(headers, "content-md5") {
        if md5 != body::b64(&written.md5) {
            let _ = std::fs::remove_file(&file);
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    let crc = header(headers, "x-amz-checksum-crc32")
        .map(str::to_string)
        .or_else(|| {
            trailers
                .iter()
                .find(|(k, _)| k == "x-amz-checksum-crc32")
                .map(|(_, v)| v.clone())
        });
    if let Some(want) = crc {
        let got = body::crc32_b64(&file)?;
        if got != want {
            let _ = std::fs::remove_file(&file);
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                "The CRC32 checksum you specified did not match what we received.",
            ));
        }
    }
    let blob = crate::db::random_id(32);
    st.objects.commit(&file, &blob)?;
    Ok((blob, written))
}

pub async fn put_object(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, S3Error> {
    let b = owned_bucket(st, caller, bucket)?;
    if key.len() > 1024 {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "KeyTooLongError",
            "Your key is too long",
        ));
    }
    let (blob, w) = receive(st, headers, body).await?;
    let etag = hex::encode(w.md5);
    let old = st.db.put_object(&Object {
        bucket: b.name,
        key: key.to_string(),
        blob,
        size: w.size as i64,
        etag: etag.clone(),
        public_read: public_read(headers),
        created_at: crate::db::now(),
    })?;
    if let Some(old) = old {
        let _ = st.objects.delete(&old);
    }
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert("etag", v);
    }
    Ok(r)
}

/// The object, if `caller` may read it (owner, or public-read object or bucket).
pub fn readable(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: &str,
) -> Result<Object, S3Error> {
    let b = st.db.bucket(bucket)?.ok_or_else(|| {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
    })?;
    let owner = matches!(caller, Caller::Account(a) if a.app_id == b.app_id);
    let o = st.db.object(bucket, key)?;
    match o {
        Some(o) if owner || o.public_read || b.public_read => Ok(o),
        None if owner => Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )),
        _ => Err(S3Error::denied("Access Denied")),
    }
}

/// Parse a single `bytes=` range against `size`: Ok(None) for the whole object.
fn range(h: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(h) = h else { return Ok(None) };
    let unsat = || {
        S3Error::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: S3 answers with the whole object
    }
    let (a, b) = spec.split_once('-').ok_or_else(unsat)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| unsat())?;
            if n == 0 || size == 0 {
                return Err(unsat());
            }
            (size.saturating_sub(n), size - 1)
        }
        (s, "") => (s.parse().map_err(|_| unsat())?, size.saturating_sub(1)),
        (s, e) => {
            let s: u64 = s.parse().map_err(|_| unsat())?;
            let e: u64 = e.parse().map_err(|_| unsat())?;
            if e < s {
                return Ok(None);
            }
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if start >= size {
        return Err(unsat());
    }
    Ok(Some((start, end)))
}

pub fn get_object(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    head_only: bool,
) -> Result<Response, S3Error> {
    let o = readable(st, caller, bucket, key)?;
    let size = o.size as u64;
    let r = range(header(headers, "range"), size)?;
    let (status, start, len) = match r {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        None => (StatusCode::OK, 0, size),
    };
    let body = if head_only || len == 0 {
        Body::empty()
    } else {
        body::from_source(st.objects.open(&o.blob)?, start, len)
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("content-length", len.to_string());
    set("etag", format!("\"{}\"", o.etag));
    set("accept-ranges", "bytes".into());
    set("content-type", "application/octet-stream".into());
    set(
        "last-modified",
        time::OffsetDateTime::from_unix_timestamp(o.created_at)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc2822)
                    .ok()
            })
            .unwrap_or_default()
            .replace("+0000", "GMT"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            "content-range",
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(resp)
}

pub fn delete_object(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    owned_bucket(st, caller, bucket)?;
    if let Some(blob) = st.db.delete_object(bucket, key)? {
        let _ = st.objects.delete(&blob);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub fn list_objects(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    query: &[(String, String)],
) -> Result<Response, S3Error> {
    owned_bucket(st, caller, bucket)?;
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let prefix = q("prefix").unwrap_or("");
    let delimiter = q("delimiter").filter(|d| !d.is_empty());
    let max_keys: i64 = q("max-keys")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .clamp(0, 1000);
    let after = q("continuation-token")
        .or(q("start-after"))
        .or(q("marker"))
        .unwrap_or("");
    let mut contents = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut cursor = after.to_string();
    let mut truncated = false;
    'scan: loop {
        let page = st.db.list_objects(bucket, prefix, &cursor, 1000)?;
        if page.is_empty() {
            break;
        }
        for o in page {
            cursor = o.key.clone();
            if (contents.len() + prefixes.len()) as i64 >= max_keys {
                truncated = true;
                break 'scan;
            }
            if let Some(d) = delimiter {
                if let Some(i) = o.key[prefix.len()..].find(d) {
                    let p = o.key[..prefix.len() + i + d.len()].to_string();
                    if prefixes.last() != Some(&p) {
                        prefixes.push(p);
                    }
                    continue;
                }
            }
            contents.push(o);
        }
    }
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        esc(bucket),
        esc(prefix),
        contents.len() + prefixes.len()
    );
    if let Some(d) = delimiter {
        body.push_str(&format!("<Delimiter>{}</Delimiter>", esc(d)));
    }
    if truncated {
        let last = contents
            .last()
            .map(|o| o.key.clone())
            .or(prefixes.last().cloned())
            .unwrap_or_default();
        body.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            esc(&last)
        ));
    }
    for o in &contents {
        body.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>\"{}\"</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            esc(&o.key),
            iso8601(o.created_at),
            o.etag,
            o.size
        ));
    }
    for p in &prefixes {
        body.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            esc(p)
        ));
    }
    body.push_str("</ListBucketResult>");
    Ok(xml::ok(body))
}
