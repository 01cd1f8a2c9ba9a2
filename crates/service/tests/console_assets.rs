//! The console's asset server (issue 8, `crates/service/src/console.rs`): every file of
//! `web/` is embedded and served with its content type, `Cache-Control: no-cache`, a
//! strong ETag (304 on revalidation) and the security headers; console pages fall back
//! to `index.html`; nothing outside the embedded table is ever served, whatever the
//! path; `config.json` names the object store the browser must use.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use imgport_service::{console, AppState, Config};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

fn console(config: Config) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(Config {
        data_dir: dir.path().to_path_buf(),
        ..config
    })
    .unwrap();
    (console::router().with_state(state), dir)
}

struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn send(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap()
        .to_vec();
    Got {
        status,
        headers,
        body,
    }
}

fn get_header<'a>(g: &'a Got, name: &str) -> &'a str {
    g.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, base, out);
        } else {
            out.insert(
                p.strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

#[test]
fn every_file_of_web_is_embedded_and_nothing_else() {
    let web = web_dir();
    let mut on_disk = BTreeSet::new();
    files_under(&web, &web, &mut on_disk);
    on_disk.remove("README.md");
    // web/pkg/ is built, not kept in git (scripts/build-wasm.sh): its own test below.
    on_disk.retain(|p| !p.starts_with("pkg/") && !p.starts_with("pkg.new/"));
    let embedded: BTreeSet<String> = console::ASSETS.iter().map(|a| a.path.to_string()).collect();
    assert_eq!(
        on_disk, embedded,
        "web/ and console::ASSETS differ: add new files to the ASSETS table"
    );
    for a in console::ASSETS {
        assert_eq!(
            std::fs::read(web.join(a.path)).unwrap(),
            a.body,
            "{} differs from the embedded copy",
            a.path
        );
    }
}

/// The in-browser check (issue 15 item 1) is embedded when web/pkg/ was built before
/// this binary (scripts/test.sh builds it first; without it the test fails under
/// IMGPORT_TEST_REQUIRE_TOOLS=1), byte for byte, and served as `application/wasm` with a
/// CSP that lets the worker compile it.
#[tokio::test]
async fn the_in_browser_check_is_embedded_when_built() {
    if console::WASM_ASSETS.is_empty() {
        imgport_test_support::switch::skip(
            "web/pkg/ (the in-browser check) was not built before this binary",
            "run scripts/build-wasm.sh, then rebuild",
        );
        return;
    }
    let paths: Vec<&str> = console::WASM_ASSETS.iter().map(|a| a.path).collect();
    assert_eq!(paths, ["pkg/imgport_wasm.js", "pkg/imgport_wasm_bg.wasm"]);
    for a in console::WASM_ASSETS {
        assert_eq!(
            std::fs::read(web_dir().join(a.path)).ok().as_deref(),
            Some(a.body),
            "{} differs from the embedded copy: rebuild after scripts/build-wasm.sh",
            a.path
        );
    }
    let (app, _d) = console(Config::default());
    let g = send(&app, Method::GET, "/console/pkg/imgport_wasm_bg.wasm", &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(get_header(&g, "content-type"), "application/wasm");
    assert_eq!(&g.body[..4], b"\0asm");
    let csp = get_header(&g, "content-security-policy");
    assert!(
        csp.contains("'wasm-unsafe-eval'") && csp.contains("worker-src 'self'"),
        "{csp}"
    );
}

#[test]
fn the_console_loads_nothing_from_other_origins() {
    // No CDN, fonts or scripts: every URL in the assets is relative to this origin.
    for a in console::ASSETS {
        let text = String::from_utf8_lossy(a.body);
        for bad in ["https://", "//cdn", "@import url(http", "fonts.googleapis"] {
            let hits: Vec<&str> = text
                .lines()
                .filter(|l| l.contains(bad) && !l.trim_start().starts_with("//"))
                .filter(|l| !l.contains("docs.aws.amazon.com"))
                .collect();
            assert!(hits.is_empty(), "{} refers to {bad}: {hits:?}", a.path);
        }
    }
}

#[tokio::test]
async fn assets_have_their_types_cache_headers_and_etags() {
    let (app, _d) = console(Config::default());
    for (path, ctype) in [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/js/app.js", "text/javascript; charset=utf-8"),
        (
            "/console/js/pages/import.js",
            "text/javascript; charset=utf-8",
        ),
        ("/console/css/console.css", "text/css; charset=utf-8"),
        ("/console/favicon.svg", "image/svg+xml"),
    ] {
        let g = send(&app, Method::GET, path, &[]).await;
        assert_eq!(g.status, StatusCode::OK, "{path}");
        assert_eq!(get_header(&g, "content-type"), ctype, "{path}");
        assert_eq!(get_header(&g, "cache-control"), "no-cache", "{path}");
        assert_eq!(get_header(&g, "x-content-type-options"), "nosniff");
        assert_eq!(get_header(&g, "referrer-policy"), "no-referrer");
        assert_eq!(get_header(&g, "x-frame-options"), "DENY");
        let csp = get_header(&g, "content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:9001"),
            "{csp}"
        );
        let etag = get_header(&g, "etag").to_string();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        assert!(!g.body.is_empty());
        // Revalidation: 304 without a body; another tag gets the file.
        let again = send(&app, Method::GET, path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(get_header(&again, "etag"), etag);
        let other = send(&app, Method::GET, path, &[("if-none-match", "\"x\"")]).await;
        assert_eq!(other.status, StatusCode::OK);
    }
    let index = send(&app, Method::GET, "/console/", &[]).await;
    assert!(String::from_utf8_lossy(&index.body).contains("/console/js/app.js"));
}

#[tokio::test]
async fn head_works_and_console_redirects_to_its_slash() {
    let (app, _d) = console(Config::default());
    let g = send(&app, Method::HEAD, "/console/js/app.js", &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(
        get_header(&g, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(g.body.is_empty());
    let r = send(&app, Method::GET, "/console", &[]).await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(get_header(&r, "location"), "/console/");
}

#[tokio::test]
async fn console_pages_fall_back_to_index_and_missing_files_are_404() {
    let (app, _d) = console(Config::default());
    let index = send(&app, Method::GET, "/console/", &[]).await.body;
    for page in [
        "/console/signin",
        "/console/images",
        "/console/buckets?bucket=x",
        "/console/messages/",
        "/console/import",
    ] {
        let g = send(&app, Method::GET, page, &[]).await;
        assert_eq!(g.status, StatusCode::OK, "{page}");
        assert_eq!(g.body, index, "{page}");
    }
    for missing in [
        "/console/js/missing.js",
        "/console/css/x.css",
        "/console/README.md",
        "/console/index.htm",
    ] {
        let g = send(&app, Method::GET, missing, &[]).await;
        assert_eq!(g.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(get_header(&g, "content-type"), "text/plain; charset=utf-8");
    }
}

#[tokio::test]
async fn no_path_escapes_the_embedded_table() {
    let (app, _d) = console(Config::default());
    let index = send(&app, Method::GET, "/console/", &[]).await.body;
    let secret = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for evil in [
        "/console/../Cargo.toml",
        "/console/..%2fCargo.toml",
        "/console/%2e%2e/Cargo.toml",
        "/console/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/console/js/..%2f..%2f..%2fcrates/service/Cargo.toml",
        "/console/%2fetc%2fpasswd",
        "/console//etc/passwd",
        "/console/..%5c..%5cCargo.toml",
        "/console/%00",
        "/console/%ff%fe",
        "/console/js/app.js%00.txt",
        "/console/..",
        "/console/./index.html/..",
        &format!("/console/{}", "a/".repeat(200)),
    ] {
        let g = send(&app, Method::GET, evil, &[]).await;
        assert!(
            g.status == StatusCode::NOT_FOUND
                || g.status == StatusCode::BAD_REQUEST
                || (g.status == StatusCode::OK && g.body == index),
            "{evil}: {} {:?}",
            g.status,
            String::from_utf8_lossy(&g.body[..g.body.len().min(100)])
        );
        assert_ne!(g.body, secret, "{evil} served a file from disk");
    }
}

#[tokio::test]
async fn config_names_the_regions_and_the_object_store() {
    let (app, _d) = console(Config::default());
    let g = send(&app, Method::GET, "/console/config.json", &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(get_header(&g, "cache-control"), "no-store");
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    assert_eq!(v["Region"], "ap-guangzhou");
    assert_eq!(v["StorageUrl"], "http://127.0.0.1:9001");
    assert_eq!(v["ApiVersion"], "2017-03-12");
    assert_eq!(v["Service"], "cvm");
    assert!(v["Regions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "ap-shanghai-fsi"));

    // A store on every interface is reached at the host the browser used.
    let (wild, _d2) = console(Config {
        storage_listen: "0.0.0.0:9001".parse().unwrap(),
        ..Config::default()
    });
    let g = send(
        &wild,
        Method::GET,
        "/console/config.json",
        &[(header::HOST.as_str(), "images.example.org:9000")],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    assert_eq!(v["StorageUrl"], "http://images.example.org:9001");
    assert!(get_header(&g, "content-security-policy")
        .contains("connect-src 'self' http://images.example.org:9001"));
    // A hostile Host header is not echoed into the policy.
    let g = send(
        &wild,
        Method::GET,
        "/console/config.json",
        &[(header::HOST.as_str(), "x; script-src *")],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    assert_eq!(v["StorageUrl"], "http://127.0.0.1:9001");

    // The configured public URL wins.
    let (public, _d3) = console(Config {
        storage_public_url: Some("https://store.example.org/".into()),
        ..Config::default()
    });
    let g = send(&public, Method::GET, "/console/config.json", &[]).await;
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    assert_eq!(v["StorageUrl"], "https://store.example.org");
}
