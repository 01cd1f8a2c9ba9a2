//! DeleteObject and DeleteObjects (POST `?delete`): by the bucket's owner; deleting a
//! missing key succeeds, as in S3. A deleted object's URL no longer imports (R-ERR
//! InvalidUrl: "the object has been deleted").

use super::errors::{esc, xml_ok, S3Error};
use super::router::{Ctx, MAX_KEY};
use super::{body, xml};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};

/// Keys one DeleteObjects request may name (S3's limit).
const MAX_DELETE_KEYS: usize = 1000;
/// Largest Delete document read.
const MAX_DELETE_XML: usize = 2 << 20;

fn delete_one(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<(), S3Error> {
    if let Some(blob) = ctx.st.db.delete_object(bucket, key)? {
        let _ = ctx.st.objects.delete(&blob);
        tracing::info!(request_id = %ctx.request_id, bucket, key, "object deleted");
    }
    Ok(())
}

/// DELETE `/bucket/key`.
pub fn run(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    delete_one(ctx, &b.name, key)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST `/bucket?delete`.
pub async fn delete_objects(ctx: &Ctx<'_>, bucket: &str, body: Body) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    let bytes = axum::body::to_bytes(body, MAX_DELETE_XML)
        .await
        .map_err(|_| S3Error::bad("MalformedXML", "The Delete document is too large."))?;
    if let Some(md5) = ctx.header("content-md5") {
        if body::unb64(md5).as_deref() != Some(&Md5::digest(&bytes)[..]) {
            return Err(S3Error::bad(
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let quiet = xml::first(&text, "Quiet").is_some_and(|q| q.eq_ignore_ascii_case("true"));
    let keys: Vec<String> = xml::all(&text, "Object")
        .iter()
        .filter_map(|o| xml::first(o, "Key"))
        .collect();
    if keys.is_empty() || keys.len() > MAX_DELETE_KEYS {
        return Err(S3Error::bad(
            "MalformedXML",
            format!("The Delete document must name 1 to {MAX_DELETE_KEYS} objects."),
        ));
    }
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    for k in &keys {
        if k.is_empty() || k.len() > MAX_KEY {
            out.push_str(&format!(
                "<Error><Key>{}</Key><Code>InvalidArgument</Code><Message>The key is empty or longer than {MAX_KEY} bytes.</Message></Error>",
                esc(k)
            ));
            continue;
        }
        match delete_one(ctx, &b.name, k) {
            Ok(()) if !quiet => out.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", esc(k))),
            Ok(()) => {}
            Err(e) => out.push_str(&format!(
                "<Error><Key>{}</Key><Code>{}</Code><Message>{}</Message></Error>",
                esc(k),
                e.code,
                esc(&e.message)
            )),
        }
    }
    out.push_str("</DeleteResult>");
    Ok(xml_ok(out))
}
