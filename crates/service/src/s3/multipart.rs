//! Multipart upload: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts. Parts are committed blobs; the upload's state is a
//! small JSON file under `DATA/multipart/`; Complete concatenates the parts (streamed)
//! into a new blob atomically. ETag: MD5 of the parts' MD5s, `-N`.

use super::auth::Caller;
use super::objects::receive;
use super::xml::{self, esc, S3Error};
use super::{owned_bucket, public_read};
use crate::db::objects::Object;
use crate::AppState;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// S3's limits: part numbers 1–10000, parts ≥ 5 MiB except the last.
const MAX_PARTS: u32 = 10_000;
const MIN_PART: i64 = 5 << 20;
/// Largest CompleteMultipartUpload body.
const MAX_COMPLETE_XML: usize = 2 << 20;
/// Serialises the read-modify-write of upload state files (parts arrive in parallel).
static STATE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[derive(Serialize, Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    app_id: i64,
    public_read: bool,
    /// part number → (blob, size, hex md5)
    parts: BTreeMap<u32, (String, i64, String)>,
}

fn dir(st: &AppState) -> PathBuf {
    st.config.data_dir.join("multipart")
}

fn path(st: &AppState, id: &str) -> Result<PathBuf, S3Error> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(no_upload());
    }
    Ok(dir(st).join(format!("{id}.json")))
}

fn no_upload() -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified multipart upload does not exist.",
    )
}

fn load(st: &AppState, id: &str, caller: &Caller) -> Result<Upload, S3Error> {
    let text = std::fs::read_to_string(path(st, id)?).map_err(|_| no_upload())?;
    let u: Upload = serde_json::from_str(&text).map_err(S3Error::internal)?;
    match caller {
        Caller::Account(a) if a.app_id == u.app_id => Ok(u),
        _ => Err(S3Error::denied("Access Denied")),
    }
}

fn save(st: &AppState, id: &str, u: &Upload) -> Result<(), S3Error> {
    let p = path(st, id)?;
    let tmp = p.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(u).map_err(S3Error::internal)?)?;
    std::fs::rename(tmp, p)?;
    Ok(())
}

fn upload_id(q: &[(String, String)]) -> &str {
    q.iter()
        .find(|(k, _)| k == "uploadId")
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

pub fn create(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
) -> Result<Response, S3Error> {
    let b = owned_bucket(st, caller, bucket)?;
    std::fs::create_dir_all(dir(st))?;
    let id = crate::db::random_id(32);
    save(
        st,
        &id,
        &Upload {
            bucket: b.name.clone(),
            key: key.into(),
            app_id: b.app_id,
            public_read: public_read(headers),
            parts: BTreeMap::new(),
        },
    )?;
    Ok(xml::ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
        esc(bucket),
        esc(key)
    )))
}

pub async fn upload_part(
    st: &AppState,
    caller: &Caller,
    _bucket: &str,
    _key: &str,
    q: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, S3Error> {
    let id = upload_id(q).to_string();
    load(st, &id, caller)?;
    let n: u32 = q
        .iter()
        .find(|(k, _)| k == "partNumber")
        .and_then(|(_, v)| v.parse().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    let (blob, w) = receive(st, headers, body).await?;
    let etag = hex::encode(w.md5);
    // Reload after the (long) upload, under the lock: other parts arrive in parallel.
    {
        let _g = STATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut u = load(st, &id, caller)?;
        if let Some((old, _, _)) = u.parts.insert(n, (blob, w.size as i64, etag.clone())) {
            let _ = st.objects.delete(&old);
        }
        save(st, &id, &u)?;
    }
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert("etag", v);
    }
    Ok(r)
}

pub async fn complete(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: &str,
    q: &[(String, String)],
    body: Body,
) -> Result<Response, S3Error> {
    let id = upload_id(q).to_string();
    let u = load(st, &id, caller)?;
    let bytes = axum::body::to_bytes(body, MAX_COMPLETE_XML)
        .await
        .map_err(|_| S3Error::new(StatusCode::BAD_REQUEST, "MalformedXML", "body too large"))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let numbers: Vec<u32> = xml::all(&text, "PartNumber")
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    let etags: Vec<String> = xml::all(&text, "ETag")
        .iter()
        .map(|e| e.replace("&quot;", "").trim_matches('"').to_string())
        .collect();
    if numbers.is_empty()
        || numbers.len() != etags.len()
        || numbers.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order or was empty.",
        ));
    }
    let mut chosen = Vec::new();
    for (i, (n, e)) in numbers.iter().zip(&etags).enumerate() {
        let p = u.parts.get(n).filter(|p| &p.2 == e).ok_or_else(|| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                format!("part {n} was not uploaded or its ETag differs"),
            )
        })?;
        if i + 1 < numbers.len() && p.1 < MIN_PART {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            ));
        }
        chosen.push(p.clone());
    }
    // Concatenate (blocking I/O off the async threads).
    let st2 = st.clone();
    let parts = chosen.clone();
    let (tmp, size) = tokio::task::spawn_blocking(move || -> Result<(PathBuf, u64), S3Error> {
        let tmp = st2.objects.temp_path();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        for (blob, len, _) in &parts {
            let src = st2.objects.open(blob)?;
            let mut pos = 0u64;
            while pos < *len as u64 {
                let n = ((*len as u64 - pos) as usize).min(buf.len());
                src.read_exact_at(&mut buf[..n], pos)
                    .map_err(S3Error::internal)?;
                out.write_all(&buf[..n])?;
                pos += n as u64;
            }
            size += *len as u64;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
        Ok((tmp, size))
    })
    .await
    .map_err(S3Error::internal)??;
    let mut md5 = Md5::new();
    for (_, _, e) in &chosen {
        md5.update(hex::decode(e).unwrap_or_default());
    }
    let etag = format!("{}-{}", hex::encode(md5.finalize()), chosen.len());
    let blob = crate::db::random_id(32);
    st.objects.commit(&tmp, &blob)?;
    let old = st.db.put_object(&Object {
        bucket: u.bucket.clone(),
        key: u.key.clone(),
        blob,
        size: size as i64,
        etag: etag.clone(),
        public_read: u.public_read,
        created_at: crate::db::now(),
    })?;
    if let Some(old) = old {
        let _ = st.objects.delete(&old);
    }
    for (blob, _, _) in u.parts.values() {
        let _ = st.objects.delete(blob);
    }
    let _ = std::fs::remove_file(path(st, &id)?);
    Ok(xml::ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>/{b}/{k}</Location><Bucket>{b}</Bucket><Key>{k}</Key><ETag>\"{etag}\"</ETag></CompleteMultipartUploadResult>",
        b = esc(bucket),
        k = esc(key)
    )))
}

pub fn abort(
    st: &AppState,
    caller: &Caller,
    _bucket: &str,
    q: &[(String, String)],
) -> Result<Response, S3Error> {
    let id = upload_id(q);
    let u = load(st, id, caller)?;
    for (blob, _, _) in u.parts.values() {
        let _ = st.objects.delete(blob);
    }
    let _ = std::fs::remove_file(path(st, id)?);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub fn list_parts(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: &str,
    q: &[(String, String)],
) -> Result<Response, S3Error> {
    let id = upload_id(q);
    let u = load(st, id, caller)?;
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId><IsTruncated>false</IsTruncated>",
        esc(bucket),
        esc(key)
    );
    for (n, (_, size, etag)) in &u.parts {
        body.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>\"{etag}\"</ETag><Size>{size}</Size></Part>"
        ));
    }
    body.push_str("</ListPartsResult>");
    Ok(xml::ok(body))
}
