//! The web console (issue 8; R-FLOW-UPLOAD, R-FLOW-FORM, R-FLOW-ASYNC, R-FLOW-RESULT),
//! served under `/console/` on the API port: static HTML, ES modules and CSS from
//! `web/` (see `web/README.md`), embedded in the binary with `include_bytes!`. The
//! browser signs every cloud-API call itself (TC3-HMAC-SHA256, the same signed
//! `POST /` tccli uses) and every object-store request (SigV4), so the console
//! implements no rule of its own: this module only serves files.
//!
//! - `GET /console` redirects to `/console/`; `GET /console/` is `index.html`.
//! - `GET /console/config.json`: what the page needs to know about this service
//!   (regions, the object store's origin, the API version), never cached.
//! - `GET /console/PATH`: an embedded asset, looked up by exact name in [`ASSETS`]
//!   (nothing is read from disk, so no path can escape); a path without an extension
//!   is a page of the console and gets `index.html` (history-API routes); anything
//!   else is 404. `HEAD` works on every route.
//!
//! Every answer carries `Content-Security-Policy` (scripts, styles and images only from
//! this origin; connections only to this origin and the object store — the console
//! makes no other network call), `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer` (presigned URLs never leak) and
//! `X-Frame-Options: DENY`. Assets are `Cache-Control: no-cache` with a strong `ETag`
//! (their names carry no hash), so a new binary's console is picked up at once and an
//! unchanged file costs a `304`.

use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

/// One embedded file of `web/`.
pub struct Asset {
    /// Path below `/console/` (and below `web/`).
    pub path: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($p:literal) => {
        Asset {
            path: $p,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $p)),
        }
    };
}

/// Every file the console serves. `tests/console_assets.rs` checks that this list
/// and the files under `web/` (except `README.md`) are the same.
pub const ASSETS: &[Asset] = &[
    asset!("index.html"),
    asset!("favicon.svg"),
    asset!("css/console.css"),
    asset!("js/app.js"),
    asset!("js/check-worker.js"),
    asset!("js/precheck.js"),
    asset!("js/api.js"),
    asset!("js/crypto.js"),
    asset!("js/s3.js"),
    asset!("js/sigv4.js"),
    asset!("js/tc3.js"),
    asset!("js/ui.js"),
    asset!("js/upload.js"),
    asset!("js/pages/buckets.js"),
    asset!("js/pages/images.js"),
    asset!("js/pages/import.js"),
    asset!("js/pages/messages.js"),
    asset!("js/pages/signin.js"),
];

/// The in-browser check (web/pkg/, issue 15), when scripts/build-wasm.sh built it
/// before this binary (build.rs); empty otherwise.
pub const WASM_ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/wasm_assets.rs"));

/// Longest asset path looked up (longer requests are 404 without a lookup).
const MAX_PATH: usize = 256;

/// The console's routes; mount with `.merge(console::router().with_state(state))`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { redirect("/console/") }))
        .route("/console/", get(index))
        .route("/console/config.json", get(config_json))
        .route("/console/{*path}", get(asset_or_page))
}

/// The content type of an asset, by extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The embedded asset at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    all_assets().find(|a| a.path == path)
}

/// [`ASSETS`] and [`WASM_ASSETS`].
pub fn all_assets() -> impl Iterator<Item = &'static Asset> {
    ASSETS.iter().chain(WASM_ASSETS)
}

/// The strong ETag of an asset (a SHA-256 prefix of its bytes), computed once.
fn etag(a: &'static Asset) -> &'static str {
    static TAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        all_assets()
            .map(|a| {
                let d = Sha256::digest(a.body);
                (a.path, format!("\"{}\"", hex::encode(&d[..16])))
            })
            .collect()
    })
    .get(a.path)
    .map(String::as_str)
    .unwrap_or("\"\"")
}

fn redirect(to: &'static str) -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static(to))],
    )
        .into_response()
}

/// A host name or IP literal as a browser sends it in `Host` (no port), or `None`.
fn request_host(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::HOST)?.to_str().ok()?;
    if h.is_empty() || h.len() > 255 {
        return None;
    }
    let host = if let Some(rest) = h.strip_prefix('[') {
        // [v6]:port
        let (ip, _) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = ip.parse().ok()?;
        return Some(format!("[{ip}]"));
    } else {
        h.rsplit_once(':').map_or(h, |(host, _)| host)
    };
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    ok.then(|| host.to_ascii_lowercase())
}

/// The origin (`http://host:port`) of the object store as this browser reaches it:
/// `storage_public_url` when configured; else the storage address, or — when it
/// listens on every interface — the host the browser used for the console with the
/// storage port.
pub fn storage_origin(config: &crate::Config, headers: &HeaderMap) -> String {
    if let Some(u) = &config.storage_public_url {
        if let Ok(u) = url::Url::parse(u) {
            return u.origin().ascii_serialization();
        }
    }
    let st: SocketAddr = config.storage_listen;
    if st.ip().is_unspecified() {
        let host = request_host(headers).unwrap_or_else(|| match st.ip() {
            IpAddr::V4(_) => "127.0.0.1".into(),
            IpAddr::V6(_) => "[::1]".into(),
        });
        return format!("http://{host}:{}", st.port());
    }
    format!("http://{st}")
}

/// Security headers of every console answer (see the module comment).
fn secure(mut r: Response, storage: &str) -> Response {
    let csp = format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {storage}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// An embedded asset, or `304` when the client's copy is current.
fn serve(st: &AppState, a: &'static Asset, headers: &HeaderMap) -> Response {
    let tag = etag(a);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let storage = storage_origin(&st.config, headers);
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(a.path)),
            )],
            a.body,
        )
            .into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    secure(r, &storage)
}

fn index_asset() -> &'static Asset {
    // The table names index.html first; `find` keeps this honest if it moves.
    find("index.html").unwrap_or(&ASSETS[0])
}

async fn index(State(st): State<AppState>, headers: HeaderMap) -> Response {
    serve(&st, index_asset(), &headers)
}

fn not_found(st: &AppState, headers: &HeaderMap) -> Response {
    let r = (
        StatusCode::NOT_FOUND,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "Not found: the console has no such file.\n",
    )
        .into_response();
    secure(r, &storage_origin(&st.config, headers))
}

/// `/console/PATH`: an asset; a console page (no extension) → `index.html`; else 404.
/// `PATH` arrives percent-decoded; it is only ever a key into [`ASSETS`].
async fn asset_or_page(
    State(st): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    if path.len() > MAX_PATH {
        return not_found(&st, &headers);
    }
    if let Some(a) = find(&path) {
        return serve(&st, a, &headers);
    }
    let suspicious = path.split('/').any(|s| s == ".." || s == ".")
        || path.contains(['\\', '\0'])
        || path.starts_with('/');
    let last = path.rsplit('/').next().unwrap_or("");
    let page = !suspicious
        && !last.contains('.')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'));
    if page {
        serve(&st, index_asset(), &headers)
    } else {
        not_found(&st, &headers)
    }
}

/// `GET /console/config.json`: the service facts the page needs.
async fn config_json(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let c = &st.config;
    let storage = storage_origin(c, &headers);
    let body = serde_json::json!({
        "Region": c.region,
        "Regions": c.regions,
        "StorageUrl": storage,
        "ApiVersion": crate::api::VERSION,
        "Service": crate::api::SERVICE,
        "Version": env!("CARGO_PKG_VERSION"),
    });
    let mut r = axum::Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(r, &storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("css/console.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("x"), "application/octet-stream");
    }

    #[test]
    fn hosts_from_requests() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(v).unwrap());
            request_host(&m)
        };
        assert_eq!(h("Example.org:9000").as_deref(), Some("example.org"));
        assert_eq!(h("10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert_eq!(h("[::1]:9000").as_deref(), Some("[::1]"));
        assert_eq!(h("evil.org/'x:1"), None);
        assert_eq!(h("[nope]:1"), None);
        assert_eq!(h(""), None);
    }

    #[test]
    fn etags_are_strong_and_distinct() {
        let a = etag(find("index.html").unwrap());
        let b = etag(find("js/app.js").unwrap());
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34);
        assert_ne!(a, b);
    }
}
