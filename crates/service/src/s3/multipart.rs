//! Multipart upload (R-FLOW-UPLOAD, images of many GB): CreateMultipartUpload,
//! UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
//! ListMultipartUploads. Each part is received like a PutObject (streamed, verified)
//! into its own blob; Complete checks the part list, then concatenates the parts by a
//! stream copy into a new blob (committed atomically) and records the object, in one
//! transaction with dropping the upload. While the copy runs, the 200 response is
//! kept alive with whitespace, as S3 does, so clients do not time out; a failure then
//! arrives as an `<Error>` document. ETag = MD5 of the parts' MD5s + `-N`.

use super::body::TempFile;
use super::errors::{esc, xml_ok, S3Error};
use super::put_object::{receive, stored_headers, stored_response, MAX_PUT};
use super::router::Ctx;
use super::{acl, sigv4, xml};
use crate::db::objects::{Object, Part, Upload, ACL_DEFAULT};
use crate::timefmt::s3_time;
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};
use std::time::Duration;

/// Part numbers 1–10000 (S3).
pub const MAX_PARTS: i64 = 10_000;
/// Smallest part but the last: 1 MiB, COS's minimum (S3 clients send ≥ 5 MiB).
pub const MIN_PART: i64 = 1 << 20;
/// Largest CompleteMultipartUpload document read.
const MAX_COMPLETE_XML: usize = 4 << 20;
/// Most parts or uploads listed per response.
const MAX_LIST: i64 = 1000;
/// Whitespace is sent this often while a completion copies the parts.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Unfinished uploads older than this are aborted (their parts deleted).
pub const UPLOAD_LIFETIME_SECS: i64 = 7 * 24 * 3600;

const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

/// The upload named by `?uploadId`, if it is of this bucket and key and the caller's.
fn owned_upload(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Upload, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    let id = ctx.q("uploadId").unwrap_or("");
    let u = ctx
        .st
        .db
        .upload(id)?
        .filter(|u| u.bucket == b.name && u.key == key && u.app_id == b.app_id)
        .ok_or_else(|| S3Error::no_such_upload(id))?;
    Ok(u)
}

/// POST `/bucket/key?uploads`.
pub fn create(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    let acl = acl::canned(ctx, true)?.unwrap_or(ACL_DEFAULT);
    let u = Upload {
        upload_id: crate::db::random_id(32),
        bucket: b.name.clone(),
        key: key.to_string(),
        app_id: b.app_id,
        acl: acl.to_string(),
        headers: stored_headers(ctx)?,
        created_at: crate::db::now(),
    };
    ctx.st.db.create_upload(&u)?;
    Ok(xml_ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult {NS}><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
        esc(bucket),
        esc(key),
        u.upload_id
    )))
}

fn part_number(ctx: &Ctx<'_>) -> Result<i64, S3Error> {
    ctx.q("partNumber")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            S3Error::bad(
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
            .with("ArgumentName", "partNumber")
        })
}

/// PUT `/bucket/key?partNumber=N&uploadId=ID`.
pub async fn upload_part(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    body: Body,
) -> Result<Response, S3Error> {
    let u = owned_upload(ctx, bucket, key)?;
    let n = part_number(ctx)?;
    let (r, echo) = receive(ctx, body, MAX_PUT).await?;
    let etag = hex::encode(r.digests.md5);
    let blob = crate::db::random_id(32);
    let size = r.size;
    r.temp.commit(ctx.st, &blob)?;
    let part = Part {
        part_number: n,
        blob: blob.clone(),
        size: size as i64,
        etag: etag.clone(),
        checksum: echo.first().map(|(k, v)| format!("{k}:{v}")),
        created_at: crate::db::now(),
    };
    match ctx.st.db.put_part(&u.upload_id, &part) {
        Ok(Some(old)) => {
            if let Some(old) = old {
                let _ = ctx.st.objects.delete(&old);
            }
        }
        Ok(None) => {
            let _ = ctx.st.objects.delete(&blob);
            return Err(S3Error::no_such_upload(&u.upload_id));
        }
        Err(e) => {
            let _ = ctx.st.objects.delete(&blob);
            return Err(e.into());
        }
    }
    Ok(stored_response(&etag, echo))
}

/// The (number, ETag) list of a CompleteMultipartUpload document (ascending, at
/// most `MAX_PARTS`).
pub fn requested_parts(doc: &str) -> Result<Vec<(i64, String)>, S3Error> {
    let malformed = || {
        S3Error::bad(
            "MalformedXML",
            "The CompleteMultipartUpload document is not well formed: each Part needs a PartNumber and an ETag.",
        )
    };
    let mut out = Vec::new();
    for p in xml::all(doc, "Part") {
        let n = xml::first(p, "PartNumber")
            .and_then(|n| n.trim().parse::<i64>().ok())
            .ok_or_else(malformed)?;
        let e = xml::first(p, "ETag").ok_or_else(malformed)?;
        out.push((n, e.trim().trim_matches('"').to_ascii_lowercase()));
        if out.len() as i64 > MAX_PARTS {
            return Err(malformed());
        }
    }
    if out.is_empty() {
        return Err(malformed());
    }
    if out.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(S3Error::bad(
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        ));
    }
    Ok(out)
}

/// POST `/bucket/key?uploadId=ID`.
pub async fn complete(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    body: Body,
) -> Result<Response, S3Error> {
    let u = owned_upload(ctx, bucket, key)?;
    let bytes = axum::body::to_bytes(body, MAX_COMPLETE_XML)
        .await
        .map_err(|_| {
            S3Error::bad(
                "MalformedXML",
                "The CompleteMultipartUpload document is too large.",
            )
        })?;
    let wanted = requested_parts(&String::from_utf8_lossy(&bytes))?;
    let stored = ctx.st.db.parts(&u.upload_id, 0, MAX_PARTS + 1)?;
    let mut chosen: Vec<Part> = Vec::with_capacity(wanted.len());
    for (i, (n, etag)) in wanted.iter().enumerate() {
        let p = stored
            .iter()
            .find(|p| p.part_number == *n && p.etag == *etag)
            .ok_or_else(|| {
                S3Error::bad(
                    "InvalidPart",
                    format!("One or more of the specified parts could not be found: part {n} was not uploaded or its ETag differs."),
                )
                .with("PartNumber", n.to_string())
            })?;
        if i + 1 < wanted.len() && p.size < MIN_PART {
            return Err(S3Error::bad(
                "EntityTooSmall",
                format!("Your proposed upload is smaller than the minimum allowed size: part {n} has {} bytes; every part but the last needs at least {MIN_PART}.", p.size),
            )
            .with("PartNumber", n.to_string()));
        }
        chosen.push(p.clone());
    }
    let mut md5 = Md5::new();
    for p in &chosen {
        md5.update(hex::decode(&p.etag).unwrap_or_default());
    }
    let etag = format!("{}-{}", hex::encode(md5.finalize()), chosen.len());
    let blobs: Vec<String> = chosen.iter().map(|p| p.blob.clone()).collect();
    let expected: u64 = chosen.iter().map(|p| p.size as u64).sum();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let st = ctx.st.clone();
    let request_id = ctx.request_id.clone();
    let (bucket_s, key_s) = (bucket.to_string(), key.to_string());
    tokio::spawn(async move {
        let _ = tx
            .send(Ok(Bytes::from_static(
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            )))
            .await;
        let etag2 = etag.clone();
        let job = tokio::task::spawn_blocking(move || finish(&st, &u, &blobs, expected, &etag2));
        tokio::pin!(job);
        let doc = loop {
            tokio::select! {
                r = &mut job => {
                    break match r.map_err(S3Error::internal).and_then(|r| r) {
                        Ok(()) => format!(
                            "<CompleteMultipartUploadResult {NS}><Location>/{b}/{k}</Location><Bucket>{b}</Bucket><Key>{k}</Key><ETag>{e}</ETag></CompleteMultipartUploadResult>",
                            b = esc(&bucket_s),
                            k = esc(&key_s),
                            e = esc(&format!("\"{etag}\""))
                        ),
                        Err(e) => e
                            .document(&format!("/{bucket_s}/{key_s}"), &request_id)
                            .split_once('\n')
                            .map(|(_, d)| d.to_string())
                            .unwrap_or_default(),
                    };
                }
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    let _ = tx.send(Ok(Bytes::from_static(b" "))).await;
                }
            }
        };
        let _ = tx.send(Ok(Bytes::from(doc))).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut r = (StatusCode::OK, Body::from_stream(stream)).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    Ok(r)
}

/// Concatenate the parts into a new blob and record the object (blocking).
fn finish(
    st: &AppState,
    u: &Upload,
    blobs: &[String],
    expected: u64,
    etag: &str,
) -> Result<(), S3Error> {
    let temp = TempFile::new(st.objects.temp_path());
    let size = st.objects.concat(blobs, temp.path())?;
    if size != expected {
        return Err(S3Error::internal(format!(
            "multipart {}: concatenated {size} bytes, parts hold {expected}",
            u.upload_id
        )));
    }
    let blob = crate::db::random_id(32);
    temp.commit(st, &blob)?;
    let o = Object {
        bucket: u.bucket.clone(),
        key: u.key.clone(),
        blob: blob.clone(),
        size: size as i64,
        etag: etag.to_string(),
        acl: u.acl.clone(),
        headers: u.headers.clone(),
        created_at: crate::db::now(),
    };
    match st.db.complete_upload(&u.upload_id, &o) {
        Ok(Some((old, parts))) => {
            for b in old.into_iter().chain(parts) {
                let _ = st.objects.delete(&b);
            }
            tracing::info!(bucket = %u.bucket, key = %u.key, size, parts = blobs.len(), "multipart upload completed");
            Ok(())
        }
        Ok(None) => {
            let _ = st.objects.delete(&blob);
            Err(S3Error::no_such_upload(&u.upload_id))
        }
        Err(e) => {
            let _ = st.objects.delete(&blob);
            Err(e.into())
        }
    }
}

/// Abort an upload and delete its parts.
pub fn abort_upload(st: &AppState, upload_id: &str) -> Result<bool, S3Error> {
    match st.db.abort_upload(upload_id)? {
        Some(blobs) => {
            for b in blobs {
                let _ = st.objects.delete(&b);
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

/// DELETE `/bucket/key?uploadId=ID`.
pub fn abort(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let u = owned_upload(ctx, bucket, key)?;
    if !abort_upload(ctx.st, &u.upload_id)? {
        return Err(S3Error::no_such_upload(&u.upload_id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn limit(ctx: &Ctx<'_>, name: &'static str) -> Result<i64, S3Error> {
    match ctx.q(name) {
        None => Ok(MAX_LIST),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(MAX_LIST))
            .ok_or_else(|| {
                S3Error::bad(
                    "InvalidArgument",
                    format!("{name} must be a number from 0 to 1000."),
                )
                .with("ArgumentName", name)
            }),
    }
}

fn owner(ctx: &Ctx<'_>, app_id: i64) -> String {
    let name = ctx
        .st
        .db
        .account(app_id)
        .ok()
        .flatten()
        .map(|a| a.name)
        .unwrap_or_default();
    format!(
        "<Initiator><ID>{app_id}</ID><DisplayName>{n}</DisplayName></Initiator><Owner><ID>{app_id}</ID><DisplayName>{n}</DisplayName></Owner>",
        n = esc(&name)
    )
}

/// GET `/bucket/key?uploadId=ID`.
pub fn list_parts(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let u = owned_upload(ctx, bucket, key)?;
    let max = limit(ctx, "max-parts")?;
    let marker = match ctx.q("part-number-marker") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                S3Error::bad(
                    "InvalidArgument",
                    "part-number-marker must be a part number.",
                )
                .with("ArgumentName", "part-number-marker")
            })?,
    };
    let mut parts = ctx.st.db.parts(&u.upload_id, marker, max + 1)?;
    let truncated = parts.len() as i64 > max;
    parts.truncate(max as usize);
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult {NS}><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>{}<StorageClass>STANDARD</StorageClass><PartNumberMarker>{marker}</PartNumberMarker>",
        esc(bucket),
        esc(key),
        u.upload_id,
        owner(ctx, u.app_id)
    );
    if let Some(last) = parts.last() {
        body.push_str(&format!(
            "<NextPartNumberMarker>{}</NextPartNumberMarker>",
            last.part_number
        ));
    }
    body.push_str(&format!(
        "<MaxParts>{max}</MaxParts><IsTruncated>{truncated}</IsTruncated>"
    ));
    for p in &parts {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size></Part>",
            p.part_number,
            s3_time(p.created_at),
            esc(&format!("\"{}\"", p.etag)),
            p.size
        ));
    }
    body.push_str("</ListPartsResult>");
    Ok(xml_ok(body))
}

/// GET `/bucket?uploads`.
pub fn list_uploads(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    if ctx.q("delimiter").is_some_and(|d| !d.is_empty()) {
        return Err(S3Error::not_implemented(
            "ListMultipartUploads with a delimiter",
        ));
    }
    let max = limit(ctx, "max-uploads")?;
    let url = match ctx.q("encoding-type") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::bad(
                "InvalidArgument",
                "Invalid Encoding Method specified in Request: only url.",
            ))
        }
    };
    let text = |s: &str| {
        if url {
            sigv4::uri_encode(s, true)
        } else {
            esc(s)
        }
    };
    let prefix = ctx.q("prefix").unwrap_or("");
    let key_marker = ctx.q("key-marker").unwrap_or("");
    // Without key-marker, upload-id-marker is ignored (S3).
    let id_marker = if key_marker.is_empty() {
        ""
    } else {
        ctx.q("upload-id-marker").unwrap_or("")
    };
    let id_marker_cmp = if key_marker.is_empty() {
        ""
    } else if id_marker.is_empty() {
        "\u{10FFFF}"
    } else {
        id_marker
    };
    let mut ups = ctx
        .st
        .db
        .uploads(&b.name, prefix, key_marker, id_marker_cmp, max + 1)?;
    let truncated = ups.len() as i64 > max;
    ups.truncate(max as usize);
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult {NS}><Bucket>{}</Bucket><KeyMarker>{}</KeyMarker><UploadIdMarker>{}</UploadIdMarker><Prefix>{}</Prefix><MaxUploads>{max}</MaxUploads><IsTruncated>{truncated}</IsTruncated>",
        esc(&b.name),
        text(key_marker),
        esc(id_marker),
        text(prefix)
    );
    if url {
        body.push_str("<EncodingType>url</EncodingType>");
    }
    if let (true, Some(last)) = (truncated, ups.last()) {
        body.push_str(&format!(
            "<NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{}</NextUploadIdMarker>",
            text(&last.key),
            last.upload_id
        ));
    }
    for u in &ups {
        body.push_str(&format!(
            "<Upload><Key>{}</Key><UploadId>{}</UploadId>{}<StorageClass>STANDARD</StorageClass><Initiated>{}</Initiated></Upload>",
            text(&u.key),
            u.upload_id,
            owner(ctx, u.app_id),
            s3_time(u.created_at)
        ));
    }
    body.push_str("</ListMultipartUploadsResult>");
    Ok(xml_ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_lists() {
        let ok = requested_parts("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"AB\"</ETag></Part><Part><ETag>&quot;cd&quot;</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>").unwrap();
        assert_eq!(ok, vec![(1, "ab".to_string()), (3, "cd".to_string())]);
        let e = requested_parts("<Part><PartNumber>2</PartNumber><ETag>a</ETag></Part><Part><PartNumber>1</PartNumber><ETag>b</ETag></Part>").unwrap_err();
        assert_eq!(e.code, "InvalidPartOrder");
        assert_eq!(requested_parts("<x/>").unwrap_err().code, "MalformedXML");
        assert_eq!(
            requested_parts("<Part><PartNumber>x</PartNumber><ETag>a</ETag></Part>")
                .unwrap_err()
                .code,
            "MalformedXML"
        );
    }
}
