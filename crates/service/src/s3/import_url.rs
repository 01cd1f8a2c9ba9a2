//! Which ImageUrl an import may use (SPEC R-ERR `InvalidUrl`, R-REGION): only objects
//! of THIS service's object store (never another host: no SSRF), existing, and either
//! public-read or carrying a valid, unexpired presigned signature that has not been
//! used for an import before; in a bucket of the request's region.

use super::auth;
use super::sigv4;
use crate::AppState;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};

/// The object an import reads.
#[derive(Debug, Clone)]
pub struct ImportSource {
    pub bucket: String,
    pub key: String,
    pub blob: String,
    pub size: u64,
    pub region: String,
    pub owner_app_id: i64,
    /// The presigned signature, when the URL carried one (consumed at import).
    pub signature: Option<String>,
}

/// Why an ImageUrl is refused (`InvalidUrl`).
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is not an object of this cloud's object storage: {0}")]
    NotOurStore(String),
    #[error("the object does not exist (deleted, or a wrong bucket or key): {0}")]
    NoSuchObject(String),
    #[error("the object is private and the URL is not validly signed: {0}")]
    NotAuthorized(String),
    #[error("the signed URL has expired: {0}")]
    Expired(String),
    #[error("the signed URL was already used for an import; a signed URL can be used once — create a new one: {0}")]
    AlreadyUsed(String),
    #[error("bucket region {bucket_region} differs from the import region {request_region}")]
    WrongRegion {
        bucket_region: String,
        request_region: String,
    },
}

impl UrlError {
    /// The user-facing message of the `InvalidUrl` error (R-REGION wording for the
    /// finance regions).
    pub fn message(&self) -> String {
        match self {
            UrlError::WrongRegion {
                bucket_region,
                request_region,
            } => {
                let finance = ["ap-shanghai-fsi", "ap-shenzhen-fsi"];
                if finance.contains(&request_region.as_str())
                    || finance.contains(&bucket_region.as_str())
                {
                    format!(
                        "InvalidUrl: the image is in a bucket of region {bucket_region}, but the import runs in {request_region}. \
                         Images for a finance region (ap-shanghai-fsi, ap-shenzhen-fsi) must be uploaded to a bucket of that same finance region (R-REGION)"
                    )
                } else {
                    format!(
                        "InvalidUrl: the image must be in a bucket of the import's region; the bucket is in {bucket_region}, the import runs in {request_region} (R-REGION)"
                    )
                }
            }
            other => format!("InvalidUrl: {other}"),
        }
    }
}

/// The host:port the object store answers on, as clients name it.
fn store_authorities(st: &AppState) -> Vec<(String, u16)> {
    let mut v = vec![(
        st.config.storage_listen.ip().to_string(),
        st.config.storage_listen.port(),
    )];
    if st.config.storage_listen.ip().is_loopback() {
        v.push(("localhost".into(), st.config.storage_listen.port()));
    }
    if let Some(u) = st
        .config
        .storage_public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
    {
        if let (Some(h), Some(p)) = (u.host_str(), u.port_or_known_default()) {
            v.push((h.to_string(), p));
        }
    }
    v
}

/// Resolve `url` for an import in `request_region`. With `consume`, a presigned URL's
/// signature is recorded as used (so a second import with it fails).
pub fn resolve_import_url(
    st: &AppState,
    url: &str,
    request_region: &str,
    consume: bool,
) -> Result<ImportSource, UrlError> {
    let clip: String = url.chars().take(200).collect();
    let u = url::Url::parse(url).map_err(|e| UrlError::NotOurStore(format!("{clip}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(UrlError::NotOurStore(clip));
    }
    let host = u.host_str().unwrap_or("").to_ascii_lowercase();
    let port = u.port_or_known_default().unwrap_or(0);
    let ours = store_authorities(st);
    let vhost_of = ours
        .iter()
        .find(|(h, p)| *p == port && host.ends_with(&format!(".{h}")))
        .map(|(h, _)| h.clone());
    // The cloud's own COS domain (`BUCKET-APPID.cos.REGION.myqcloud.com`), which this
    // object store stands in for: still only our own objects are read, nothing is fetched.
    let cos_domain = host.ends_with(".myqcloud.com") && host.split(".cos.").count() == 2;
    if !ours.iter().any(|(h, p)| *h == host && *p == port) && vhost_of.is_none() && !cos_domain {
        return Err(UrlError::NotOurStore(clip));
    }
    let authority = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let (bucket, key) = super::bucket_and_key(u.path(), Some(&authority));
    let (Some(bucket), Some(key)) = (bucket, key) else {
        return Err(UrlError::NoSuchObject(clip));
    };
    let db_err = |e: rusqlite::Error| UrlError::NoSuchObject(format!("{clip}: {e}"));
    let b = st
        .db
        .bucket(&bucket)
        .map_err(db_err)?
        .ok_or_else(|| UrlError::NoSuchObject(clip.clone()))?;
    let o = st
        .db
        .object(&bucket, &key)
        .map_err(db_err)?
        .ok_or_else(|| UrlError::NoSuchObject(clip.clone()))?;
    let query = sigv4::parse_query(u.query().unwrap_or(""));
    // Who signed the URL (COS `q-signature` or SigV4 `X-Amz-Signature`), if anyone.
    let now = crate::db::now();
    let signed: Option<(
        String,
        Result<crate::db::accounts::Account, super::xml::S3Error>,
    )> = if let Some(cos) = super::cos_auth::parse(&query) {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&host) {
            headers.insert("host", v);
        }
        let r = super::cos_auth::verify(st, &cos, "GET", &format!("/{key}"), &query, &headers, now);
        Some((cos.signature, r))
    } else if let Some((_, s)) = query.iter().find(|(k, _)| k == "X-Amz-Signature") {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&authority) {
            headers.insert("host", v);
        }
        let path_and_query = &url[url.find(u.path()).unwrap_or(0)..];
        let uri: Uri = path_and_query
            .parse()
            .map_err(|_| UrlError::NotOurStore(clip.clone()))?;
        let r = auth::presigned(st, &Method::GET, &uri, &headers, &query, s, now);
        Some((s.clone(), r))
    } else {
        None
    };
    let sig = match signed {
        Some((s, verdict)) => {
            match verdict {
                Ok(a) if a.app_id == b.app_id => {}
                Ok(_) => {
                    return Err(UrlError::NotAuthorized(format!(
                        "{clip}: signed by another account"
                    )))
                }
                Err(e) if e.message.contains("expired") => return Err(UrlError::Expired(clip)),
                Err(e) => return Err(UrlError::NotAuthorized(format!("{clip}: {}", e.message))),
            }
            let fresh = if consume {
                st.db.use_signature(&s).map_err(db_err)?
            } else {
                !st.db.signature_used(&s).map_err(db_err)?
            };
            if !fresh {
                return Err(UrlError::AlreadyUsed(clip));
            }
            Some(s)
        }
        None if o.public_read || b.public_read => None,
        None => return Err(UrlError::NotAuthorized(clip)),
    };
    if b.region != request_region {
        return Err(UrlError::WrongRegion {
            bucket_region: b.region,
            request_region: request_region.to_string(),
        });
    }
    Ok(ImportSource {
        bucket,
        key,
        blob: o.blob,
        size: o.size as u64,
        region: b.region,
        owner_app_id: b.app_id,
        signature: sig,
    })
}
