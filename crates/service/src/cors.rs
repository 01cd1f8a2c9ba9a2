//! CORS for the object store (issue 8, R-FLOW-UPLOAD): the web console is served from
//! the API origin (`http://HOST:API_PORT/console/`) and talks to the object store on
//! the storage port — another origin — to list buckets and objects, create buckets,
//! HEAD objects and upload multipart parts. Browsers allow that only when the store
//! answers the CORS preflight and marks its answers for the console's origin.
//!
//! Only the console's own origins are allowed, never `*`
//! ([`console_origins`]): the API address as the browser names it (for a loopback or
//! wildcard listen address: `127.0.0.1`, `localhost` and `[::1]` with the API port;
//! with `storage_public_url` set and a wildcard listen address, that host with the API
//! port), plus the exact origins listed in `IMGPORT_CONSOLE_ORIGINS` (comma-separated,
//! e.g. `https://console.example.org`) for a console behind a proxy.
//!
//! - Preflight (`OPTIONS` with `Access-Control-Request-Method`): `204` with
//!   `Access-Control-Allow-Origin: ORIGIN`, the allowed methods (GET, HEAD, PUT, POST,
//!   DELETE) and the requested headers when each is one the S3 API uses
//!   (`authorization`, `content-type`, `content-md5`, `range`, `x-amz-*`, `x-cos-*`);
//!   `403` naming what is refused otherwise. The preflight never reaches the store.
//! - Other requests run as usual; an allowed `Origin` gets
//!   `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` (`ETag` — the
//!   console needs each part's ETag —, `Content-Range`, `Content-Length`,
//!   `Accept-Ranges`, `x-amz-request-id`, `x-amz-bucket-region`). Every answer says
//!   `Vary: Origin`. No credentials mode: requests are signed, never cookie-borne.

use crate::Config;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::IpAddr;
use std::sync::Arc;

/// The environment variable naming extra console origins.
pub const ORIGINS_ENV: &str = "IMGPORT_CONSOLE_ORIGINS";
/// Methods the console uses on the store.
pub const ALLOW_METHODS: &str = "GET, HEAD, PUT, POST, DELETE";
/// Response headers the console reads.
pub const EXPOSE_HEADERS: &str =
    "ETag, Content-Range, Content-Length, Accept-Ranges, x-amz-request-id, x-amz-bucket-region";
/// How long a browser may cache a preflight (seconds).
pub const MAX_AGE: &str = "600";
/// Most request headers a preflight may ask for, and longest list accepted.
const MAX_REQUEST_HEADERS: usize = 64;
const MAX_REQUEST_HEADERS_LEN: usize = 4096;
/// Most configured origins and longest origin.
const MAX_ORIGINS: usize = 32;
const MAX_ORIGIN_LEN: usize = 253 + 16;

/// The console origins allowed by `config`, plus the exact origins in `extra`
/// (comma-separated; entries that are not `http(s)://host[:port]` are ignored).
pub fn console_origins(config: &Config, extra: Option<&str>) -> Vec<String> {
    let port = config.listen.port();
    let ip = config.listen.ip();
    let mut v: Vec<String> = Vec::new();
    if ip.is_loopback() || ip.is_unspecified() {
        for h in ["127.0.0.1", "localhost", "[::1]"] {
            v.push(format!("http://{h}:{port}"));
        }
    }
    if !ip.is_unspecified() {
        v.push(match ip {
            IpAddr::V4(a) => format!("http://{a}:{port}"),
            IpAddr::V6(a) => format!("http://[{a}]:{port}"),
        });
    } else if let Some(host) = config
        .storage_public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_string))
    {
        v.push(format!("http://{host}:{port}"));
    }
    for o in extra.unwrap_or("").split(',').take(MAX_ORIGINS) {
        if let Some(o) = normalise_origin(o.trim()) {
            v.push(o);
        }
    }
    let mut seen = std::collections::HashSet::new();
    v.retain(|o| seen.insert(o.clone()));
    v
}

/// `scheme://host[:port]` in the form browsers send in `Origin`, or `None`.
fn normalise_origin(o: &str) -> Option<String> {
    if o.is_empty() || o.len() > MAX_ORIGIN_LEN || o.contains('*') {
        return None;
    }
    let u = url::Url::parse(o).ok()?;
    let bare = u.path() == "/" && u.query().is_none() && u.fragment().is_none();
    let scheme_ok = matches!(u.scheme(), "http" | "https");
    let no_user = u.username().is_empty() && u.password().is_none();
    (bare && scheme_ok && no_user && !o.ends_with('/') && u.host().is_some())
        .then(|| u.origin().ascii_serialization())
}

/// Wrap the object store's router in the CORS layer for `config`'s console origins
/// (and those of [`ORIGINS_ENV`]).
pub fn wrap(router: Router, config: &Config) -> Router {
    let extra = std::env::var(ORIGINS_ENV).ok();
    let allowed: Arc<[String]> = console_origins(config, extra.as_deref()).into();
    router.layer(axum::middleware::from_fn_with_state(allowed, cors))
}

/// Whether a request header may be sent to the store from the console.
fn header_allowed(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "content-type" | "content-md5" | "range" | "cache-control"
    ) || name.starts_with("x-amz-")
        || name.starts_with("x-cos-")
}

fn vary(h: &mut HeaderMap, what: &'static str) {
    h.append(header::VARY, HeaderValue::from_static(what));
}

fn refuse(why: String) -> Response {
    let mut r = (
        StatusCode::FORBIDDEN,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("CORS preflight refused: {why}\n"),
    )
        .into_response();
    vary(r.headers_mut(), "Origin");
    r
}

/// Answer a preflight for `origin` (already allowed).
fn preflight(origin: &HeaderValue, headers: &HeaderMap) -> Response {
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !matches!(method, "GET" | "HEAD" | "PUT" | "POST" | "DELETE") {
        let m = imgport_policy::text::clip(method, 32);
        return refuse(format!("method `{m}` is not one of {ALLOW_METHODS}"));
    }
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if requested.len() > MAX_REQUEST_HEADERS_LEN {
        return refuse("too many request headers".into());
    }
    let names: Vec<String> = requested
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.len() > MAX_REQUEST_HEADERS {
        return refuse("too many request headers".into());
    }
    if let Some(bad) = names.iter().find(|n| !header_allowed(n)) {
        let b = imgport_policy::text::clip(bad, 64);
        return refuse(format!("request header `{b}` is not allowed"));
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    if !names.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    vary(h, "Origin");
    vary(h, "Access-Control-Request-Method");
    vary(h, "Access-Control-Request-Headers");
    r
}

async fn cors(State(allowed): State<Arc<[String]>>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let ok = origin.as_ref().and_then(|o| {
        let s = o.to_str().ok()?;
        allowed
            .iter()
            .any(|a| a.eq_ignore_ascii_case(s))
            .then(|| o.clone())
    });
    let is_preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        return match (&origin, ok) {
            (_, Some(o)) => preflight(&o, req.headers()),
            (None, None) => refuse("the request has no Origin".into()),
            (Some(o), None) => {
                let o = imgport_policy::text::clip(o.to_str().unwrap_or("?"), 128);
                refuse(format!(
                    "origin `{o}` is not a console origin of this service (allowed: {}; add more with {ORIGINS_ENV})",
                    allowed.join(", ")
                ))
            }
        };
    }
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    if let Some(o) = ok {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    vary(h, "Origin");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str, public: Option<&str>) -> Config {
        Config {
            listen: listen.parse().unwrap(),
            storage_public_url: public.map(str::to_string),
            ..Config::default()
        }
    }

    #[test]
    fn origins_of_a_loopback_console() {
        let o = console_origins(&cfg("127.0.0.1:9000", None), None);
        assert_eq!(
            o,
            [
                "http://127.0.0.1:9000",
                "http://localhost:9000",
                "http://[::1]:9000"
            ]
        );
    }

    #[test]
    fn origins_of_other_listen_addresses() {
        assert_eq!(
            console_origins(&cfg("10.1.2.3:80", None), None),
            ["http://10.1.2.3:80"]
        );
        let wild = console_origins(
            &cfg("0.0.0.0:9000", Some("http://store.example:9001")),
            None,
        );
        assert!(wild.contains(&"http://store.example:9000".to_string()));
        assert!(wild.contains(&"http://localhost:9000".to_string()));
        assert!(!wild.iter().any(|o| o.contains("0.0.0.0")));
    }

    #[test]
    fn extra_origins_are_exact_and_never_wildcards() {
        let o = console_origins(
            &cfg("10.1.2.3:80", None),
            Some(" https://Console.Example.org , *, http://a.b/path, ftp://x, http://u@h, https://ok.example:8443,"),
        );
        assert_eq!(
            o,
            [
                "http://10.1.2.3:80",
                "https://console.example.org",
                "https://ok.example:8443"
            ]
        );
    }

    #[test]
    fn allowed_request_headers() {
        for ok in [
            "authorization",
            "x-amz-date",
            "x-amz-content-sha256",
            "content-type",
            "x-cos-acl",
            "range",
        ] {
            assert!(header_allowed(ok), "{ok}");
        }
        for bad in ["cookie", "x-forwarded-for", "host", "origin"] {
            assert!(!header_allowed(bad), "{bad}");
        }
    }
}
