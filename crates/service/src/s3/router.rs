//! Routing of object-store requests (R-FLOW-UPLOAD): addressing (path style
//! `/bucket/key`, or virtual-host style `bucket-appid.cos.REGION.myqcloud.com`,
//! `bucket.s3….amazonaws.com`, `bucket.PUBLIC-HOST`), authentication, then one
//! operation per file. Every response carries a request id.

use super::auth::{self, Caller, Payload, RequestParts};
use super::errors::S3Error;
use super::{
    acl, create_bucket, delete_bucket, delete_object, get_object, head_bucket, list_buckets,
    list_objects_v1, list_objects_v2, multipart, put_object,
};
use crate::db::accounts::Account;
use crate::db::buckets::Bucket;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::Response;
use axum::Router;

/// Longest object key (bytes), as S3.
pub const MAX_KEY: usize = 1024;

/// The object store's routes: everything goes through one dispatcher, as S3's do.
pub fn router(state: AppState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// Split `host[:port]` / `[v6]:port` into the lower-case host name (no brackets)
/// and the port.
pub fn split_host_port(h: &str) -> (String, Option<u16>) {
    let h = h.trim();
    if let Some(rest) = h.strip_prefix('[') {
        if let Some((name, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (name.to_ascii_lowercase(), port);
        }
    }
    match h.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name.to_ascii_lowercase(), port.parse().ok()),
        _ => (h.to_ascii_lowercase(), None),
    }
}

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The bucket came from the Host header.
    pub virtual_host: bool,
    /// The region a COS host names (`….cos.REGION.myqcloud.com`), known to this
    /// service or not (then no bucket is found there and none can be created).
    pub host_region: Option<String>,
}

impl Address {
    /// The path a SigV2 signature covers: `/bucket/key` whatever the addressing (for a
    /// virtual-hosted request, `/bucket` + the path as sent).
    pub fn sigv2_path(&self, raw_path: &str) -> String {
        match (&self.bucket, self.virtual_host) {
            (Some(b), true) => format!("/{b}{raw_path}"),
            _ => raw_path.to_string(),
        }
    }
}

/// The bucket (and COS region) a Host header names, if it is a virtual-host name:
/// COS `BUCKET.cos.REGION.myqcloud.com` (also `tencentcos.cn`), AWS
/// `BUCKET.s3[.-]….amazonaws.com`, and under this store's own domains — `localhost` and
/// the host of `storage_public_url` — `BUCKET.DOMAIN` or the COS shape
/// `BUCKET.cos.REGION.DOMAIN` that cos-python-sdk-v5 builds from
/// `Endpoint="cos.REGION.DOMAIN"` (issue 15 item 6). The listen address, IP addresses
/// and other names are path style.
pub fn virtual_host(cfg: &crate::Config, host_name: &str) -> Option<(String, Option<String>)> {
    let h = host_name.trim_end_matches('.');
    if h.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    for domain in [".myqcloud.com", ".tencentcos.cn"] {
        if let Some(rest) = h.strip_suffix(domain) {
            // BUCKET.cos.REGION or cos.REGION / service.cos (no bucket).
            let (bucket, region) = rest.split_once(".cos.")?;
            return Some((bucket.to_string(), Some(region.to_string())));
        }
    }
    if let Some(rest) = h.strip_suffix(".amazonaws.com") {
        let i = rest.find(".s3.").or_else(|| rest.find(".s3-"))?;
        return Some((rest[..i].to_string(), None));
    }
    let public = cfg
        .storage_public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .filter(|p| p.parse::<std::net::IpAddr>().is_err());
    let own = std::iter::once("localhost".to_string()).chain(public);
    for domain in own {
        let Some(rest) = h.strip_suffix(&format!(".{domain}")) else {
            continue;
        };
        // `cos.REGION.DOMAIN` (the service endpoint, no bucket) is path style.
        if rest.starts_with("cos.") {
            return None;
        }
        return Some(match rest.split_once(".cos.") {
            Some((bucket, region)) => (bucket.to_string(), Some(region.to_string())),
            None => (rest.to_string(), None),
        });
    }
    None
}

fn decode_utf8(s: &str) -> Result<String, S3Error> {
    String::from_utf8(super::sigv4::decode_bytes(s)).map_err(|_| {
        S3Error::bad(
            "InvalidURI",
            "The request path is not valid percent-encoded UTF-8.",
        )
    })
}

/// Resolve bucket and key from the Host header and the (encoded) path.
pub fn address(cfg: &crate::Config, host: &str, raw_path: &str) -> Result<Address, S3Error> {
    let (name, _) = split_host_port(host);
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    let a = match virtual_host(cfg, &name).filter(|(b, _)| !b.is_empty()) {
        Some((bucket, host_region)) => Address {
            bucket: Some(bucket),
            key: nonempty(decode_utf8(path)?),
            virtual_host: true,
            host_region,
        },
        None => {
            let (b, k) = path.split_once('/').unwrap_or((path, ""));
            Address {
                bucket: nonempty(decode_utf8(b)?),
                key: nonempty(decode_utf8(k)?),
                virtual_host: false,
                host_region: None,
            }
        }
    };
    if a.key.as_ref().is_some_and(|k| k.len() > MAX_KEY) {
        return Err(S3Error::bad(
            "KeyTooLongError",
            format!("Your key is too long: at most {MAX_KEY} bytes."),
        ));
    }
    Ok(a)
}

/// A request being served.
pub struct Ctx<'a> {
    pub st: &'a AppState,
    pub caller: Caller,
    pub payload: Payload,
    pub headers: &'a HeaderMap,
    pub query: Vec<(String, String)>,
    pub host_region: Option<String>,
    /// The region of a SigV4 credential scope (what a bucket-less request asks for).
    pub scope_region: Option<String>,
    pub request_id: String,
}

impl Ctx<'_> {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, k: &str) -> bool {
        self.query.iter().any(|(n, _)| n == k)
    }

    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }

    /// The signed-in account (anonymous callers are refused).
    pub fn account(&self) -> Result<&Account, S3Error> {
        match &self.caller {
            Caller::Account(a) => Ok(a),
            Caller::Anonymous => Err(S3Error::denied(
                "Access Denied: sign the request with your SecretId/SecretKey (anonymous access is for public-read objects only).",
            )),
        }
    }

    /// The bucket `name` (a COS host must name its region).
    pub fn bucket(&self, name: &str) -> Result<Bucket, S3Error> {
        let b = self
            .st
            .db
            .bucket(name)?
            .ok_or_else(|| S3Error::no_such_bucket(name))?;
        if let Some(r) = &self.host_region {
            if *r != b.region {
                return Err(S3Error::no_such_bucket(name).with(
                    "Detail",
                    format!(
                        "the bucket is in region {}, the request went to {r} (R-REGION)",
                        b.region
                    ),
                ));
            }
        }
        Ok(b)
    }

    /// Whether the caller owns `b`.
    pub fn owns(&self, b: &Bucket) -> bool {
        matches!(&self.caller, Caller::Account(a) if a.app_id == b.app_id)
    }

    /// The bucket, if the caller owns it (a tenant only sees its own buckets).
    pub fn owned_bucket(&self, name: &str) -> Result<Bucket, S3Error> {
        let b = self.bucket(name)?;
        if self.owns(&b) {
            Ok(b)
        } else {
            Err(S3Error::denied(
                "Access Denied: the bucket belongs to another account.",
            ))
        }
    }
}

async fn handle(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = crate::db::random_id(16).to_ascii_uppercase();
    let head = method == Method::HEAD;
    let resource = uri.path().to_string();
    let mut resp = match dispatch(&st, &method, &uri, &headers, body, &request_id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(request_id = %request_id, %method, path = %resource, code = e.code, status = e.status.as_u16(), "storage request refused: {}", e.message);
            e.response(&resource, &request_id, head)
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-cos-request-id", v);
    }
    h.insert("server", HeaderValue::from_static("imgport"));
    super::header_case::apply(&mut resp);
    resp
}

/// Subresources of buckets this store does not implement (501 rather than being
/// mistaken for a listing).
const BUCKET_UNSUPPORTED: &[&str] = &[
    "accelerate",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "versioning",
    "versions",
    "website",
    "referer",
    "domain",
    "origin",
];

/// Subresources of objects this store does not implement.
const OBJECT_UNSUPPORTED: &[&str] = &[
    "tagging",
    "torrent",
    "retention",
    "legal-hold",
    "attributes",
    "restore",
    "select",
    "append",
];

async fn dispatch(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    request_id: &str,
) -> Result<Response, S3Error> {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let addr = address(&st.config, host, uri.path())?;
    // The object path a COS signature covers: `/key` (virtual host); for a path-style
    // request also the whole path.
    let mut cos_paths = vec![format!("/{}", addr.key.as_deref().unwrap_or(""))];
    if !addr.virtual_host {
        cos_paths
            .push(String::from_utf8_lossy(&super::sigv4::decode_bytes(uri.path())).into_owned());
    }
    let sigv2_path = addr.sigv2_path(uri.path());
    let auth = auth::authenticate(
        st,
        &RequestParts {
            method: method.as_str(),
            raw_path: uri.path(),
            raw_query: uri.query().unwrap_or(""),
            headers,
            cos_paths: &cos_paths,
            sigv2_path: &sigv2_path,
        },
        crate::db::now(),
    )
    .map_err(auth::AuthError::into_s3)?;
    let signed = auth.signed;
    let ctx = Ctx {
        st,
        caller: auth.caller,
        payload: auth.payload,
        headers,
        query: super::sigv4::parse_query(uri.query().unwrap_or("")),
        host_region: addr.host_region.clone(),
        scope_region: signed.as_ref().and_then(|s| s.scope_region.clone()),
        request_id: request_id.to_string(),
    };
    if let (Some(s), Some(bucket)) = (&signed, &addr.bucket) {
        // Issue 18 item 2: a SigV4 signature is scoped to the bucket's region, as in
        // S3; CreateBucket (the bucket is not there yet) and GetBucketLocation (how a
        // client learns the region) are exempt, as they are in S3.
        let create = *method == Method::PUT && addr.key.is_none() && !ctx.has("acl");
        let location = *method == Method::GET && addr.key.is_none() && ctx.has("location");
        if let (Some(r), false) = (&s.scope_region, create || location) {
            if let Some(b) = st.db.bucket(bucket)? {
                if b.region != *r {
                    return Err(auth::wrong_region(s, r, &b.region));
                }
            }
        }
    }
    // Issue 18 item 1: a signature changes state once ([`crate::replay`]).
    let replay_key = match (&signed, method) {
        (Some(s), &Method::PUT | &Method::POST | &Method::DELETE) => {
            if !crate::replay::first_use(&st.db, &s.replay_key, s.expires_at, None)? {
                return Err(S3Error::denied(
                    "This request's signature was already used by an earlier request: the request was sent again (a replay). A signature authenticates one PUT, POST or DELETE; sign each request anew (the SDKs do).",
                ));
            }
            Some(s.replay_key.clone())
        }
        _ => None,
    };
    let r = operate(&ctx, method, addr, body).await;
    if let (Err(_), Some(k)) = (&r, replay_key) {
        // Refused (an S3 operation changes all or nothing): the client may send it
        // again, e.g. DeleteBucket after emptying the bucket, within the same second.
        // Only the request that recorded the signature gets here, and method, path and
        // query are signed: a later replay does what its signer asked.
        crate::replay::release(&st.db, &k);
    }
    r
}

/// Run the operation a request addresses.
async fn operate(
    ctx: &Ctx<'_>,
    method: &Method,
    addr: Address,
    body: Body,
) -> Result<Response, S3Error> {
    let unsupported = |list: &[&str]| {
        ctx.query
            .iter()
            .find(|(k, _)| list.contains(&k.as_str()))
            .map(|(k, _)| S3Error::not_implemented(&format!("The ?{k} subresource")))
    };
    let Some(bucket) = addr.bucket else {
        return match *method {
            Method::GET => list_buckets::run(ctx),
            _ => Err(S3Error::method_not_allowed()),
        };
    };
    let copy_source = ctx
        .header("x-amz-copy-source")
        .or(ctx.header("x-cos-copy-source"));
    match addr.key {
        None => {
            if let Some(e) = unsupported(BUCKET_UNSUPPORTED) {
                return Err(e);
            }
            match *method {
                Method::PUT if ctx.has("acl") => acl::put_bucket_acl(ctx, &bucket, body).await,
                Method::PUT => create_bucket::run(ctx, &bucket, body).await,
                Method::HEAD => head_bucket::head(ctx, &bucket),
                Method::GET if ctx.has("location") => head_bucket::location(ctx, &bucket),
                Method::GET if ctx.has("acl") => acl::get_bucket_acl(ctx, &bucket),
                Method::GET if ctx.has("uploads") => multipart::list_uploads(ctx, &bucket),
                Method::GET if ctx.q("list-type") == Some("2") => {
                    list_objects_v2::run(ctx, &bucket)
                }
                Method::GET => list_objects_v1::run(ctx, &bucket),
                Method::DELETE => delete_bucket::run(ctx, &bucket),
                Method::POST if ctx.has("delete") => {
                    delete_object::delete_objects(ctx, &bucket, body).await
                }
                _ => Err(S3Error::method_not_allowed()),
            }
        }
        Some(key) => {
            if let Some(e) = unsupported(OBJECT_UNSUPPORTED) {
                return Err(e);
            }
            match *method {
                Method::PUT if ctx.has("uploadId") => {
                    if copy_source.is_some() {
                        return Err(S3Error::not_implemented("UploadPartCopy"));
                    }
                    multipart::upload_part(ctx, &bucket, &key, body).await
                }
                Method::PUT if ctx.has("acl") => {
                    acl::put_object_acl(ctx, &bucket, &key, body).await
                }
                Method::PUT if copy_source.is_some() => Err(S3Error::not_implemented("CopyObject")),
                Method::PUT => put_object::run(ctx, &bucket, &key, body).await,
                Method::GET if ctx.has("uploadId") => multipart::list_parts(ctx, &bucket, &key),
                Method::GET if ctx.has("acl") => acl::get_object_acl(ctx, &bucket, &key),
                Method::GET => get_object::run(ctx, &bucket, &key, false),
                Method::HEAD => get_object::run(ctx, &bucket, &key, true),
                Method::POST if ctx.has("uploads") => multipart::create(ctx, &bucket, &key),
                Method::POST if ctx.has("uploadId") => {
                    multipart::complete(ctx, &bucket, &key, body).await
                }
                Method::DELETE if ctx.has("uploadId") => multipart::abort(ctx, &bucket, &key),
                Method::DELETE => delete_object::run(ctx, &bucket, &key),
                _ => Err(S3Error::method_not_allowed()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> crate::Config {
        crate::Config {
            storage_public_url: Some("https://storage.example.com".into()),
            ..Default::default()
        }
    }

    fn a(host: &str, path: &str) -> Address {
        address(&cfg(), host, path).unwrap()
    }

    #[test]
    fn path_style_and_virtual_hosts() {
        let p = a("127.0.0.1:9001", "/images-1250000001/dir/a%20b.qcow2");
        assert_eq!(p.bucket.as_deref(), Some("images-1250000001"));
        assert_eq!(p.key.as_deref(), Some("dir/a b.qcow2"));
        assert!(!p.virtual_host);
        assert_eq!(a("localhost:9001", "/b/").key, None);
        assert_eq!(a("localhost:9001", "/").bucket, None);
        assert_eq!(
            a("storage.example.com", "/b/k").bucket.as_deref(),
            Some("b")
        );
        assert_eq!(a("[::1]:9001", "/b/k").bucket.as_deref(), Some("b"));

        let c = a(
            "images-1250000001.cos.ap-shanghai.myqcloud.com",
            "/dir/x.qcow2",
        );
        assert_eq!(c.bucket.as_deref(), Some("images-1250000001"));
        assert_eq!(c.key.as_deref(), Some("dir/x.qcow2"));
        assert_eq!(c.host_region.as_deref(), Some("ap-shanghai"));
        assert!(c.virtual_host);
        assert_eq!(
            a("b-1.cos.mars-1.myqcloud.com", "/").host_region.as_deref(),
            Some("mars-1")
        );
        assert_eq!(a("service.cos.myqcloud.com", "/").bucket, None);

        assert_eq!(
            a("my.bucket.s3.eu-west-1.amazonaws.com", "/k")
                .bucket
                .as_deref(),
            Some("my.bucket")
        );
        assert_eq!(
            a("bkt.s3-eu-west-1.amazonaws.com:80", "/k")
                .bucket
                .as_deref(),
            Some("bkt")
        );
        assert_eq!(
            a("s3.amazonaws.com", "/bkt/k").bucket.as_deref(),
            Some("bkt")
        );
        assert_eq!(a("bkt.localhost:9001", "/k").bucket.as_deref(), Some("bkt"));
        assert_eq!(
            a("bkt.storage.example.com", "/").bucket.as_deref(),
            Some("bkt")
        );
        assert_eq!(a("bkt.storage.example.com", "/").key, None);
        // The COS shape under our own domains (cos-python-sdk-v5 with
        // `Endpoint="cos.REGION.localhost:PORT"`, issue 15 item 6).
        let l = a("b-1250000001.cos.ap-guangzhou.localhost:9001", "/d/k.qcow2");
        assert_eq!(l.bucket.as_deref(), Some("b-1250000001"));
        assert_eq!(l.key.as_deref(), Some("d/k.qcow2"));
        assert_eq!(l.host_region.as_deref(), Some("ap-guangzhou"));
        let e = a("cos.ap-guangzhou.localhost:9001", "/b/k");
        assert_eq!((e.bucket.as_deref(), e.virtual_host), (Some("b"), false));
        let p = a("bkt.cos.ap-shanghai.storage.example.com", "/k");
        assert_eq!(p.bucket.as_deref(), Some("bkt"));
        assert_eq!(p.host_region.as_deref(), Some("ap-shanghai"));

        assert_eq!(
            address(&cfg(), "h", "/b/%FF").unwrap_err().code,
            "InvalidURI"
        );
        let long = format!("/b/{}", "k".repeat(1025));
        assert_eq!(
            address(&cfg(), "h", &long).unwrap_err().code,
            "KeyTooLongError"
        );
    }

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("A.b:90"), ("a.b".into(), Some(90)));
        assert_eq!(split_host_port("[::1]:9001"), ("::1".into(), Some(9001)));
        assert_eq!(split_host_port("::1"), ("::1".into(), None));
        assert_eq!(split_host_port("h"), ("h".into(), None));
    }
}
