//! Which ImageUrl an import may use (SPEC R-ERR `InvalidUrl`, R-REGION): only an
//! object of THIS service's object store — the URL's scheme, host and port must be
//! the storage listen address, `storage_public_url`, or a virtual-host name of them
//! (`BUCKET.localhost`, `BUCKET.PUBLIC-HOST`, COS `BUCKET-APPID.cos.REGION.myqcloud.com`
//! for a region of this service); nothing is ever fetched, so no other host can be
//! reached (no SSRF). The object must exist and be public-read, or the URL must carry
//! a valid, unexpired presigned signature (SigV4 or SigV2 query, COS `q-signature`/`sign`) of
//! an account that may read it; a signed URL imports once. The bucket must be in the
//! request's region.

use super::auth::{self, AuthError, RequestParts};
use super::router::{self, split_host_port};
use super::{acl, cos_auth, sigv4};
use crate::AppState;
use axum::http::{HeaderMap, HeaderValue};

/// The object an import reads.
#[derive(Debug, Clone)]
pub struct ImportSource {
    pub bucket: String,
    pub key: String,
    /// The blob of [`crate::objects::ObjectStore`] holding the bytes.
    pub blob: String,
    pub size: u64,
    /// The bucket's region.
    pub region: String,
    /// The AppId of the bucket's owner.
    pub owner_app_id: String,
}

/// Why an ImageUrl is refused (`InvalidUrl`).
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("not a link of this cloud's object storage: {0}")]
    NotOurStore(String),
    #[error("the object does not exist: {0}")]
    NoSuchObject(String),
    #[error("the object is not public-read and the link is not validly signed: {0}")]
    NotAuthorized(String),
    #[error("the signed link has expired: {0}")]
    Expired(String),
    #[error("the signed link was already used for an import: {0}")]
    AlreadyUsed(String),
    #[error("the bucket is in region {bucket_region}, the import runs in {request_region}")]
    WrongRegion {
        bucket_region: String,
        request_region: String,
    },
}

/// The finance regions of R-REGION and their names.
const FINANCE: &[(&str, &str)] = &[
    ("ap-shanghai-fsi", "Shanghai Finance"),
    ("ap-shenzhen-fsi", "Shenzhen Finance"),
];

impl UrlError {
    /// The user-facing message of the `InvalidUrl` error: what was found, the rule,
    /// what to do.
    pub fn message(&self) -> String {
        match self {
            UrlError::NotOurStore(d) => format!(
                "The ImageUrl is not a link of this cloud's object storage ({d}). Upload the image to a bucket of the object storage and import the object's link (R-ERR InvalidUrl)."
            ),
            UrlError::NoSuchObject(d) => format!(
                "The ImageUrl points to no object ({d}): the bucket or key is wrong, or the object has been deleted. Upload the image again and import its link (R-ERR InvalidUrl)."
            ),
            UrlError::NotAuthorized(d) => format!(
                "The object of the ImageUrl is private and the link carries no valid signature ({d}). Make the object public-read, or import a presigned link made with your SecretId (R-ERR InvalidUrl)."
            ),
            UrlError::Expired(d) => format!(
                "The signed ImageUrl has expired ({d}). Create a new presigned link with a longer validity and import it (R-ERR InvalidUrl)."
            ),
            UrlError::AlreadyUsed(d) => format!(
                "The signed ImageUrl was already used for an import ({d}); a signed link can be used only once. Create a new presigned link for this object (R-ERR InvalidUrl). Note: a link presigned in the same second with the same validity is byte-for-byte the used one (the signature covers only the object, the signing time and the validity) — wait a second, or give it another ExpiresIn, before presigning again."
            ),
            UrlError::WrongRegion {
                bucket_region,
                request_region,
            } => {
                let finance = |r: &str| FINANCE.iter().find(|(id, _)| *id == r).map(|(_, n)| *n);
                match (finance(request_region), finance(bucket_region)) {
                    (Some(name), _) => format!(
                        "The image is in a bucket of region {bucket_region}, but the import runs in the finance region {request_region} ({name}): the finance regions (Shanghai Finance, Shenzhen Finance) cannot import from object storage of any other region (R-REGION). Upload the image to a bucket in {request_region} and import that link."
                    ),
                    (None, Some(name)) => format!(
                        "The image is in a bucket of the finance region {bucket_region} ({name}), but the import runs in {request_region}: object storage of a finance region serves imports of that region only (R-REGION). Import it in {bucket_region}, or upload the image to a bucket in {request_region}."
                    ),
                    (None, None) => format!(
                        "The image is in a bucket of region {bucket_region}, but the import runs in {request_region}: the import service reads object storage of its own region only (R-REGION). Upload the image to a bucket in {request_region}, or import in {bucket_region}."
                    ),
                }
            }
        }
    }
}

/// Show at most this much of a URL, and never its signature.
pub(super) fn shown(u: &url::Url) -> String {
    let mut s = format!(
        "{}://{}{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        match u.port() {
            Some(p) => format!(":{p}"),
            None => String::new(),
        }
    );
    s.push_str(u.path());
    if u.query().is_some() {
        s.push_str("?…");
    }
    imgport_policy::text::clip(s, 300)
}

/// Whether `(scheme, host, port)` is the object store's own address.
fn direct_address(st: &AppState, scheme: &str, host: &str, port: u16) -> bool {
    let listen = st.config.storage_listen;
    let mut names = vec![listen.ip().to_string()];
    if listen.ip().is_loopback() || listen.ip().is_unspecified() {
        names.extend([
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ]);
    }
    if scheme == "http" && port == listen.port() && names.iter().any(|n| n == host) {
        return true;
    }
    public_url(st).is_some_and(|(s, h, p)| s == scheme && h == host && p == port)
}

fn public_url(st: &AppState) -> Option<(String, String, u16)> {
    let u = url::Url::parse(st.config.storage_public_url.as_deref()?).ok()?;
    let (h, _) = split_host_port(u.host_str()?);
    Some((u.scheme().to_string(), h, u.port_or_known_default()?))
}

/// Whether a virtual-host name is one of ours, for this scheme and port.
fn our_virtual_host(
    st: &AppState,
    scheme: &str,
    host: &str,
    explicit_port: Option<u16>,
    port: u16,
) -> bool {
    let cos = [".myqcloud.com", ".tencentcos.cn"];
    if cos.iter().any(|d| host.ends_with(d)) {
        return explicit_port.is_none();
    }
    if host.ends_with(".localhost") {
        let listen = st.config.storage_listen;
        return scheme == "http" && port == listen.port();
    }
    if host.ends_with(".amazonaws.com") {
        return false;
    }
    public_url(st)
        .is_some_and(|(s, h, p)| s == scheme && p == port && host.ends_with(&format!(".{h}")))
}

fn auth_error(e: AuthError, shown: &str) -> UrlError {
    match e {
        AuthError::Expired => UrlError::Expired(shown.to_string()),
        AuthError::Mismatch => {
            UrlError::NotAuthorized(format!("{shown}: the signature does not match"))
        }
        AuthError::UnknownKey => {
            UrlError::NotAuthorized(format!("{shown}: it is signed with an unknown SecretId"))
        }
        AuthError::NotYetValid => {
            UrlError::NotAuthorized(format!("{shown}: the signature is not valid yet"))
        }
        AuthError::Skewed => UrlError::NotAuthorized(format!("{shown}: the signature time is off")),
        AuthError::Malformed(_, m) => UrlError::NotAuthorized(format!("{shown}: {m}")),
        AuthError::Db(e) => {
            UrlError::NotAuthorized(format!("{shown}: the signature could not be checked ({e})"))
        }
    }
}

/// The link as a URL, and as messages show it: at most [`MAX_URL`] bytes, `http(s)`
/// with a host and no user information.
pub(super) fn parse_link(url: &str) -> Result<(url::Url, String), UrlError> {
    if url.len() > MAX_URL {
        return Err(UrlError::NotOurStore(format!(
            "a link of {} bytes",
            url.len()
        )));
    }
    let u = url::Url::parse(url.trim()).map_err(|e| {
        UrlError::NotOurStore(format!(
            "{:?} is not a URL: {e}",
            imgport_policy::text::clip(url, 100)
        ))
    })?;
    let shown = shown(&u);
    if !matches!(u.scheme(), "http" | "https")
        || u.host_str().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
    {
        return Err(UrlError::NotOurStore(shown));
    }
    Ok((u, shown))
}

/// A signed link imports once (across all servers of the database): with `consume`
/// its signature `key` is recorded as used now; without (DryRun) only checked.
pub(super) fn use_once(
    st: &AppState,
    key: &str,
    expires_at: i64,
    consume: bool,
    shown: &str,
) -> Result<(), UrlError> {
    let db_err = |e: crate::db::DbError| UrlError::NoSuchObject(format!("{shown}: {e}"));
    let fresh = if consume {
        st.db.use_signature(key, expires_at).map_err(db_err)?
    } else {
        !st.db.signature_used(key).map_err(db_err)?
    };
    if fresh {
        Ok(())
    } else {
        Err(UrlError::AlreadyUsed(shown.to_string()))
    }
}

/// Where an import link points on this store, found: the bucket and object rows.
struct Located {
    authority: String,
    host: String,
    addr: router::Address,
    bucket: String,
    key: String,
    bucket_row: crate::db::buckets::Bucket,
    object: crate::db::objects::Object,
}

/// The bucket and object `u` names (its host one of ours, `vhost` when by virtual host).
fn locate(
    st: &AppState,
    u: &url::Url,
    host: String,
    vhost: bool,
    shown: &str,
) -> Result<Located, UrlError> {
    let shown = shown.to_string();
    let authority = match u.port() {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let addr = router::address(&st.config, &authority, u.path())
        .map_err(|e| UrlError::NoSuchObject(format!("{shown}: {}", e.message)))?;
    if vhost && !addr.virtual_host {
        return Err(UrlError::NotOurStore(shown));
    }
    let cos_host = [".myqcloud.com", ".tencentcos.cn"]
        .iter()
        .any(|d| host.ends_with(d));
    if cos_host
        && !addr
            .host_region
            .as_ref()
            .is_some_and(|r| st.config.regions.contains(r))
    {
        return Err(UrlError::NotOurStore(format!(
            "{shown}: the host names no region of this service ({})",
            st.config.regions.join(", ")
        )));
    }
    let (Some(bucket), Some(key)) = (addr.bucket.clone(), addr.key.clone()) else {
        return Err(UrlError::NoSuchObject(format!(
            "{shown}: the link names no object (BUCKET/KEY)"
        )));
    };
    let db_err = |e: crate::db::DbError| UrlError::NoSuchObject(format!("{shown}: {e}"));
    let b =
        st.db.bucket(&bucket).map_err(db_err)?.ok_or_else(|| {
            UrlError::NoSuchObject(format!("{shown}: there is no bucket {bucket}"))
        })?;
    if let Some(r) = &addr.host_region {
        if *r != b.region {
            return Err(UrlError::NoSuchObject(format!(
                "{shown}: the bucket {bucket} is in {}, not in {r}",
                b.region
            )));
        }
    }
    let o = st
        .db
        .object(&bucket, &key)
        .map_err(db_err)?
        .ok_or_else(|| {
            UrlError::NoSuchObject(format!("{shown}: there is no object {key} in {bucket}"))
        })?;
    Ok(Located {
        authority,
        host,
        addr,
        bucket,
        key,
        bucket_row: b,
        object: o,
    })
}

/// Who signed the link, if anyone: (used-signature key, expiry, verdict). SigV4 (scoped to
/// the bucket's region), COS (`q-sign-algorithm`) or SigV2 query signatures.
fn link_signature(
    st: &AppState,
    u: &url::Url,
    loc: &Located,
    now: i64,
) -> Option<(String, i64, Result<crate::db::accounts::Account, AuthError>)> {
    let (authority, host, addr) = (&loc.authority, &loc.host, &loc.addr);
    let (bucket, key, bucket_region) = (&loc.bucket, &loc.key, &loc.bucket_row.region);
    let raw_query = u.query().unwrap_or("");
    let query = sigv4::parse_query(raw_query);
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if q("X-Amz-Signature").is_some() || q("X-Amz-Algorithm").is_some() {
        let hosts: Vec<String> = if authority != host {
            vec![authority.to_string(), host.to_string()]
        } else {
            vec![host.to_string()]
        };
        let mut verdict = Err(AuthError::Mismatch);
        for h in &hosts {
            let lookup = |n: &str| (n == "host").then(|| h.clone());
            verdict = auth::presigned(st, "GET", u.path(), raw_query, &lookup, now);
            if !matches!(verdict, Err(AuthError::Mismatch)) {
                break;
            }
        }
        // Issue 18 item 2: scoped to the bucket's region, as S3 requires.
        let verdict = verdict.and_then(|p| match p.signed.scope_region {
            Some(r) if r != *bucket_region => Err(AuthError::Malformed(
                "AuthorizationQueryParametersError",
                format!(
                    "it is signed for region {}, but the bucket {bucket} is in {}; presign it for {}",
                    imgport_policy::text::clip(r, 64),
                    bucket_region,
                    bucket_region
                ),
            )),
            _ => Ok(p.account),
        });
        // Accepted until X-Amz-Date + X-Amz-Expires (0: unknown — then the URL is
        // refused anyway, or its record is simply kept).
        let expires_at = q("X-Amz-Date")
            .and_then(sigv4::parse_amz_date)
            .zip(q("X-Amz-Expires").and_then(|e| e.parse::<i64>().ok()))
            .map_or(0, |(t, e)| t.saturating_add(e));
        Some((
            format!(
                "sigv4:{}",
                q("X-Amz-Signature").unwrap_or("").to_ascii_lowercase()
            ),
            expires_at,
            verdict,
        ))
    } else if let Some(sig) = q("sign")
        .filter(|s| s.starts_with("q-sign-algorithm="))
        .map(|s| cos_auth::parse(&sigv4::parse_query(s)))
        .or_else(|| q("q-sign-algorithm").map(|_| cos_auth::parse(&query)))
    {
        let verdict = sig.and_then(|sig| {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(authority) {
                headers.insert("host", v);
            }
            let mut cos_paths = vec![format!("/{key}")];
            if !addr.virtual_host {
                cos_paths.push(sigv4::decode(u.path()));
            }
            let parts = RequestParts {
                method: "GET",
                raw_path: u.path(),
                raw_query,
                headers: &headers,
                cos_paths: &cos_paths,
                sigv2_path: "",
            };
            cos_auth::verify(st, &sig, &parts, &query, now)
                .map(|a| (a, sig.signature.clone(), cos_auth::expiry(&sig)))
        });
        match verdict {
            Ok((a, s, expires_at)) => Some((format!("cos:{s}"), expires_at, Ok(a))),
            Err(e) => Some((String::new(), 0, Err(e))),
        }
    } else if q("Signature").is_some() || q("AWSAccessKeyId").is_some() {
        // SigV2 (`aws s3 presign` without a region; issue 15 item 3): it names no
        // region, so the bucket's region is checked against the request's below only.
        match auth::presigned_v2(st, "GET", &addr.sigv2_path(u.path()), raw_query, now) {
            Ok(p) => Some((
                format!("sigv2:{}", q("Signature").unwrap_or("")),
                p.signed.expires_at,
                Ok(p.account),
            )),
            Err(e) => Some((String::new(), 0, Err(e))),
        }
    } else {
        None
    }
}

/// Longest URL considered.
const MAX_URL: usize = 16 * 1024;

/// R-ERR InvalidUrl, R-REGION: resolve `url` for an import in `request_region`. With
/// `consume`, a signed URL's signature is recorded as used, so a second import with it
/// fails with [`UrlError::AlreadyUsed`]; without, it is only checked (DryRun).
pub fn resolve_import_url(
    state: &AppState,
    url: &str,
    request_region: &str,
    consume: bool,
) -> Result<ImportSource, UrlError> {
    let st = state;
    if let Some(store) = &st.external {
        return super::external_url::resolve(st, store, url, request_region, consume);
    }
    let (u, shown) = parse_link(url)?;
    let scheme = u.scheme();
    let (host, _) = split_host_port(u.host_str().unwrap_or(""));
    let port = u.port_or_known_default().unwrap_or(0);
    let direct = direct_address(st, scheme, &host, port);
    let vhost = !direct && our_virtual_host(st, scheme, &host, u.port(), port);
    if !direct && !vhost {
        return Err(UrlError::NotOurStore(format!(
            "{shown}; this service's object storage is {} (or BUCKET-APPID.cos.REGION.myqcloud.com)",
            st.config.storage_url()
        )));
    }
    let loc = locate(st, &u, host, vhost, &shown)?;
    let signed = link_signature(st, &u, &loc, crate::db::now());
    let (b, o) = (loc.bucket_row, loc.object);
    let public = acl::object_public(&o.acl, &b);
    let used_key = match signed {
        Some((key, expires_at, verdict)) => {
            let signer = verdict.map_err(|e| auth_error(e, &shown))?;
            if signer.app_id != b.app_id && !public {
                return Err(UrlError::NotAuthorized(format!(
                    "{shown}: it is signed by another account than the bucket's owner"
                )));
            }
            Some((key, expires_at))
        }
        None if public => None,
        None => return Err(UrlError::NotAuthorized(shown)),
    };
    if b.region != request_region {
        return Err(UrlError::WrongRegion {
            bucket_region: b.region,
            request_region: request_region.to_string(),
        });
    }
    if let Some((k, expires_at)) = used_key {
        use_once(st, &k, expires_at, consume, &shown)?;
    }
    Ok(ImportSource {
        bucket: loc.bucket,
        key: loc.key,
        blob: o.blob,
        size: o.size as u64,
        region: b.region,
        owner_app_id: b.app_id.to_string(),
    })
}
