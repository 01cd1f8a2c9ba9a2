//! PutObject (R-FLOW-UPLOAD): the body is streamed to a temporary file (plain, or
//! `aws-chunked` with chunk signatures verified), checked against what the request
//! promises — the signed `x-amz-content-sha256`, `Content-MD5`, `x-amz-checksum-*`
//! headers or trailers, `x-amz-decoded-content-length` — and only then committed
//! (rename) and recorded; a failed upload leaves nothing. `Expect: 100-continue` is
//! answered by the HTTP layer when the body is first read, i.e. after the signature
//! and the bucket were accepted; a refused request gets its error instead. ETag = hex
//! MD5 of the bytes.

use super::acl;
use super::auth::Payload;
use super::body::{self, Algo, BodySpec, Framing, Received};
use super::errors::S3Error;
use super::router::Ctx;
use crate::db::objects::{Object, ACL_DEFAULT};
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Largest single PUT (and part), as S3: 5 GiB.
pub const MAX_PUT: u64 = 5 << 30;
/// Largest total of stored headers (`Content-Type`, `x-amz-meta-*`, …).
const MAX_STORED_HEADERS: usize = 8 * 1024;

/// The headers stored with an object and returned on GET/HEAD.
pub fn stored_headers(ctx: &Ctx<'_>) -> Result<Vec<(String, String)>, S3Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in ctx.headers {
        let k = k.as_str();
        let keep = matches!(
            k,
            "content-type"
                | "content-disposition"
                | "content-language"
                | "cache-control"
                | "expires"
        ) || k.starts_with("x-amz-meta-")
            || k.starts_with("x-cos-meta-");
        let Ok(v) = v.to_str() else { continue };
        if keep {
            out.push((k.to_string(), v.to_string()));
        } else if k == "content-encoding" {
            // `aws-chunked` is the framing of this request, not of the object.
            let rest: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            if !rest.is_empty() {
                out.push((k.to_string(), rest.join(",")));
            }
        }
    }
    let total: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_STORED_HEADERS {
        return Err(S3Error::bad(
            "MetadataTooLarge",
            format!("Your metadata headers exceed the maximum allowed metadata size ({MAX_STORED_HEADERS} bytes)."),
        ));
    }
    Ok(out)
}

/// What the request's headers promise about its body: checksums in headers and in the
/// trailer (`x-amz-trailer`), and `Content-MD5`.
struct Promised {
    expected: Vec<(Algo, String)>,
    trailer_algos: Vec<Algo>,
    content_md5: Option<Vec<u8>>,
}

fn promised(ctx: &Ctx<'_>, framing: &Framing) -> Result<Promised, S3Error> {
    let mut expected: Vec<(Algo, String)> = Vec::new();
    for a in Algo::ALL {
        if let Some(v) = ctx.header(a.header()) {
            expected.push((a, v.trim().to_string()));
        }
    }
    let mut trailer_algos: Vec<Algo> = Vec::new();
    if let Some(t) = ctx.header("x-amz-trailer") {
        if !matches!(framing, Framing::AwsChunked { trailer: true, .. }) {
            return Err(S3Error::bad(
                "InvalidRequest",
                "x-amz-trailer needs a STREAMING-…-TRAILER x-amz-content-sha256.",
            ));
        }
        for name in t.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let a = Algo::from_header(name).ok_or_else(|| {
                S3Error::bad(
                    "InvalidRequest",
                    format!("The trailer {:?} is not a supported checksum (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256).", imgport_policy::text::clip(name, 60)),
                )
            })?;
            trailer_algos.push(a);
        }
    }
    let content_md5 = match ctx.header("content-md5") {
        Some(v) => Some(body::unb64(v).filter(|d| d.len() == 16).ok_or_else(|| {
            S3Error::bad(
                "InvalidDigest",
                "The Content-MD5 you specified is not valid base64 of 16 bytes.",
            )
        })?),
        None => None,
    };
    Ok(Promised {
        expected,
        trailer_algos,
        content_md5,
    })
}

/// The received body against what was promised; the checksums to echo in the response.
fn verify(
    r: &Received,
    sha256: Option<String>,
    content_md5: Option<Vec<u8>>,
    mut expected: Vec<(Algo, String)>,
    trailer_algos: &[Algo],
) -> Result<Vec<(&'static str, String)>, S3Error> {
    if let Some(want) = sha256 {
        if r.digests.sha256.map(hex::encode).as_deref() != Some(want.as_str()) {
            return Err(S3Error::bad(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
    }
    if let Some(want) = content_md5 {
        if want[..] != r.digests.md5[..] {
            return Err(S3Error::bad(
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    for (name, _) in &r.trailers {
        if !trailer_algos.iter().any(|a| a.header() == name) {
            return Err(S3Error::bad(
                "InvalidRequest",
                format!("The trailer {name} was not announced in x-amz-trailer."),
            ));
        }
    }
    for a in trailer_algos {
        let v = r
            .trailers
            .iter()
            .find(|(k, _)| k == a.header())
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                S3Error::bad(
                    "InvalidRequest",
                    format!(
                        "x-amz-trailer announced {} but the body has no such trailer.",
                        a.header()
                    ),
                )
            })?;
        expected.push((*a, v));
    }
    let mut echo = Vec::new();
    for (a, want) in &expected {
        let got = r.digests.checksum(*a).unwrap_or_default();
        if got != *want {
            return Err(S3Error::bad(
                "BadDigest",
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    a.name()
                ),
            ));
        }
        echo.push((a.header(), got));
    }
    Ok(echo)
}

/// Receive and verify a body (PutObject and UploadPart). Returns the received body
/// and the verified checksum headers to echo.
pub async fn receive(
    ctx: &Ctx<'_>,
    body: Body,
    limit: u64,
) -> Result<(Received, Vec<(&'static str, String)>), S3Error> {
    let decoded_length = match ctx.header("x-amz-decoded-content-length") {
        Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
            S3Error::bad(
                "InvalidArgument",
                "x-amz-decoded-content-length is not a number.",
            )
        })?),
        None => None,
    };
    let content_length = ctx
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (framing, sha256) = match &ctx.payload {
        Payload::Unsigned => (Framing::Plain, None),
        Payload::Sha256(h) => (Framing::Plain, Some(h.clone())),
        Payload::Streaming { signer, trailer } => (
            Framing::AwsChunked {
                signer: signer.clone(),
                trailer: *trailer,
            },
            None,
        ),
    };
    let streaming = matches!(framing, Framing::AwsChunked { .. });
    let announced = if streaming {
        decoded_length
    } else {
        content_length
    };
    if announced.is_some_and(|n| n > limit) {
        return Err(S3Error::bad(
            "EntityTooLarge",
            format!("Your proposed upload exceeds the maximum allowed size of {limit} bytes; use a multipart upload with parts of at most 5 GiB."),
        )
        .with("MaxSizeAllowed", limit.to_string()));
    }
    let Promised {
        expected,
        trailer_algos,
        content_md5,
    } = promised(ctx, &framing)?;
    let mut checksums: Vec<Algo> = expected.iter().map(|(a, _)| *a).collect();
    checksums.extend(trailer_algos.iter().copied());
    let spec = BodySpec {
        framing,
        limit,
        decoded_length: if streaming { decoded_length } else { None },
        sha256: sha256.is_some(),
        checksums,
    };
    let r = body::receive(ctx.st, body, spec).await?;
    let echo = verify(&r, sha256, content_md5, expected, &trailer_algos)?;
    Ok((r, echo))
}

pub async fn run(ctx: &Ctx<'_>, bucket: &str, key: &str, body: Body) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    let acl = acl::canned(ctx, true)?.unwrap_or(ACL_DEFAULT);
    let headers = stored_headers(ctx)?;
    let (r, echo) = receive(ctx, body, MAX_PUT).await?;
    let etag = hex::encode(r.digests.md5);
    let blob = crate::db::random_id(32);
    let size = r.size;
    r.temp.commit(ctx.st, &blob)?;
    let o = Object {
        bucket: b.name,
        key: key.to_string(),
        blob: blob.clone(),
        size: size as i64,
        etag: etag.clone(),
        acl: acl.to_string(),
        headers,
        created_at: crate::db::now(),
    };
    let old = match ctx.st.db.put_object(&o) {
        Ok(old) => old,
        Err(e) => {
            let _ = ctx.st.objects.delete(&blob);
            return Err(e.into());
        }
    };
    if let Some(old) = old {
        let _ = ctx.st.objects.delete(&old);
    }
    tracing::info!(request_id = %ctx.request_id, bucket, key, size, "object stored");
    Ok(stored_response(&etag, echo))
}

/// `200 OK` for a stored body (PutObject, UploadPart): its ETag and the verified
/// checksum headers (`x-amz-checksum-*`) echoed back, as S3 does.
pub(super) fn stored_response(etag: &str, echo: Vec<(&'static str, String)>) -> Response {
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert("etag", v);
    }
    for (k, v) in echo {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    resp
}
