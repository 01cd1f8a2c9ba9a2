//! CORS of the object store for the web console (issue 8, `crates/service/src/cors.rs`,
//! mounted in `s3::router`): the console's origin (the API address) gets preflights
//! answered and its responses marked readable, with `ETag` exposed (multipart parts);
//! any other origin, method or header is refused; a CORS answer never says `*`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use imgport_service::s3::sigv4;
use imgport_service::{s3, AppState, Config};
use tower::ServiceExt;

const CONSOLE: &str = "http://127.0.0.1:9000";
const HOST: &str = "127.0.0.1:9001";

struct Store {
    app: Router,
    secret_id: String,
    secret_key: String,
    _dir: tempfile::TempDir,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    })
    .unwrap();
    let a = state.db.create_account("console", false).unwrap();
    Store {
        app: s3::router(state),
        secret_id: a.secret_id,
        secret_key: a.secret_key,
        _dir: dir,
    }
}

struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Got {
    fn h(&self, n: &str) -> &str {
        self.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn varies_on_origin(&self) -> bool {
        self.headers
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap_or("").eq_ignore_ascii_case("origin"))
    }
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Got {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    Got {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// SigV4 headers for `method path` (unsigned payload), as a browser console sends them.
fn signed(s: &Store, method: &str, path: &str, origin: &str) -> Vec<(&'static str, String)> {
    let now = time::OffsetDateTime::now_utc();
    let amz_date = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let scope = format!("{}/ap-guangzhou/s3/aws4_request", &amz_date[..8]);
    let hdrs = vec![
        ("host".to_string(), HOST.to_string()),
        (
            "x-amz-content-sha256".to_string(),
            "UNSIGNED-PAYLOAD".to_string(),
        ),
        ("x-amz-date".to_string(), amz_date.clone()),
    ];
    let sig = sigv4::signature(
        &s.secret_key,
        &amz_date,
        &scope,
        &sigv4::Request {
            method,
            raw_path: path,
            query: &[],
            signed_headers: &hdrs,
            payload_hash: "UNSIGNED-PAYLOAD",
        },
    );
    vec![
        ("origin", origin.to_string()),
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD".into()),
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}",
                s.secret_id
            ),
        ),
    ]
}

fn preflight(origin: &str, method: &str, headers: &str) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("origin", origin.to_string()),
        ("access-control-request-method", method.to_string()),
    ];
    if !headers.is_empty() {
        v.push(("access-control-request-headers", headers.to_string()));
    }
    v
}

#[tokio::test]
async fn the_console_origin_passes_the_preflight() {
    let s = store();
    for origin in [CONSOLE, "http://localhost:9000", "http://[::1]:9000"] {
        let g = send(
            &s.app,
            Method::OPTIONS,
            "/images-1/disk.qcow2?partNumber=1&uploadId=x",
            &preflight(
                origin,
                "PUT",
                "authorization,x-amz-date,x-amz-content-sha256,content-type,x-amz-acl",
            ),
            "",
        )
        .await;
        assert_eq!(g.status, StatusCode::NO_CONTENT, "{origin}: {}", g.body);
        assert_eq!(g.h("access-control-allow-origin"), origin);
        assert_eq!(
            g.h("access-control-allow-methods"),
            "GET, HEAD, PUT, POST, DELETE"
        );
        let allowed = g.h("access-control-allow-headers");
        for n in [
            "authorization",
            "x-amz-date",
            "x-amz-content-sha256",
            "content-type",
            "x-amz-acl",
        ] {
            assert!(allowed.contains(n), "{allowed}");
        }
        assert_eq!(g.h("access-control-max-age"), "600");
        assert!(g.varies_on_origin());
        assert_eq!(g.h("access-control-allow-credentials"), "");
    }
}

#[tokio::test]
async fn other_origins_methods_and_headers_are_refused() {
    let s = store();
    let cases = [
        preflight("http://evil.example", "PUT", "authorization"),
        preflight("http://127.0.0.1:9999", "GET", ""),
        preflight("null", "GET", ""),
        preflight("https://127.0.0.1:9000", "GET", ""),
        preflight(CONSOLE, "PATCH", ""),
        preflight(CONSOLE, "PUT", "authorization, cookie"),
        preflight(CONSOLE, "PUT", &vec!["x-amz-a"; 100].join(",")),
        vec![("access-control-request-method", "GET".to_string())],
    ];
    for h in cases {
        let g = send(&s.app, Method::OPTIONS, "/b/k", &h, "").await;
        assert_eq!(g.status, StatusCode::FORBIDDEN, "{h:?}");
        assert_eq!(g.h("access-control-allow-origin"), "", "{h:?}");
        assert!(g.body.starts_with("CORS preflight refused"), "{}", g.body);
        assert!(g.varies_on_origin());
    }
    // An OPTIONS that is not a preflight is the store's business (no such S3 method).
    let g = send(
        &s.app,
        Method::OPTIONS,
        "/b/k",
        &[("origin", CONSOLE.into())],
        "",
    )
    .await;
    assert_eq!(g.status, StatusCode::METHOD_NOT_ALLOWED, "{}", g.body);
}

#[tokio::test]
async fn answers_to_the_console_are_readable_and_expose_the_etag() {
    let s = store();
    let g = send(
        &s.app,
        Method::PUT,
        "/images-1",
        &signed(&s, "PUT", "/images-1", CONSOLE),
        "",
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert_eq!(g.h("access-control-allow-origin"), CONSOLE);
    let path = "/images-1/disk.qcow2";
    let g = send(
        &s.app,
        Method::PUT,
        path,
        &signed(&s, "PUT", path, CONSOLE),
        "QFI\u{fb} data",
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert_eq!(g.h("access-control-allow-origin"), CONSOLE);
    let exposed = g.h("access-control-expose-headers").to_ascii_lowercase();
    assert!(exposed.split(", ").any(|h| h == "etag"), "{exposed}");
    assert!(g.h("etag").starts_with('"'), "no ETag");
    assert!(g.varies_on_origin());

    // HEAD and list from the console: readable too.
    let g = send(
        &s.app,
        Method::HEAD,
        path,
        &signed(&s, "HEAD", path, CONSOLE),
        "",
    )
    .await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.h("access-control-allow-origin"), CONSOLE);
    let g = send(
        &s.app,
        Method::GET,
        "/images-1",
        &signed(&s, "GET", "/images-1", CONSOLE),
        "",
    )
    .await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body.contains("<Key>disk.qcow2</Key>"), "{}", g.body);
    assert_eq!(g.h("access-control-allow-origin"), CONSOLE);

    // Errors are readable by the console (it shows them verbatim)…
    let g = send(&s.app, Method::GET, "/", &[("origin", CONSOLE.into())], "").await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert!(g.body.contains("AccessDenied"), "{}", g.body);
    assert_eq!(g.h("access-control-allow-origin"), CONSOLE);
    // …but not by another origin, and no answer is marked for everyone.
    let g = send(
        &s.app,
        Method::GET,
        path,
        &signed(&s, "GET", path, "http://evil.example"),
        "",
    )
    .await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.h("access-control-allow-origin"), "");
    assert_eq!(g.h("access-control-expose-headers"), "");
    assert!(g.varies_on_origin());
    let g = send(&s.app, Method::GET, path, &[], "").await;
    assert_eq!(g.h("access-control-allow-origin"), "");
}
