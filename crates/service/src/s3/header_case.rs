//! Response header names spelled as COS and S3 spell them (`ETag`, `Content-Length`,
//! `Last-Modified`, …). HTTP header names are case-insensitive, but cos-python-sdk-v5
//! hands its callers `dict(response.headers)`, and code written against COS reads
//! `response['ETag']` — the SDK itself does in `upload_file_from_buffer`. The HTTP
//! layer (hyper) writes lower-case names unless a response carries its header-case
//! map extension, whose type is private; it attaches such a map to each request it
//! parses with `preserve_header_case`. So at start-up one request spelling the wanted
//! names is parsed in memory, its extensions are kept, and every response gets a copy.

use axum::body::Body;
use axum::http::{Extensions, Request, Response};
use std::sync::{Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static CASES: OnceLock<Extensions> = OnceLock::new();

/// The spellings used in responses.
const NAMES: &[&str] = &[
    "ETag",
    "Content-Length",
    "Content-Type",
    "Content-Range",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Language",
    "Cache-Control",
    "Expires",
    "Last-Modified",
    "Accept-Ranges",
    "Location",
    "Server",
    "Date",
    "Connection",
];

/// Learn the header-case map (once; a failure only leaves names lower-case).
pub async fn init() {
    if CASES.get().is_some() {
        return;
    }
    match tokio::time::timeout(std::time::Duration::from_secs(5), capture()).await {
        Ok(Some(mut ext)) => {
            // Only the header-case map is wanted (no upgrade was asked for anyway).
            ext.remove::<hyper::upgrade::OnUpgrade>();
            let _ = CASES.set(ext);
        }
        _ => tracing::warn!("could not set up header spellings; response headers stay lower-case"),
    }
}

async fn capture() -> Option<Extensions> {
    let (mut client, server) = tokio::io::duplex(16 * 1024);
    let (tx, rx) = tokio::sync::oneshot::channel::<Extensions>();
    let tx = Mutex::new(Some(tx));
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        if let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(req.extensions().clone());
        }
        async { Ok::<_, std::convert::Infallible>(Response::new(Body::empty())) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .serve_connection(hyper_util::rt::TokioIo::new(server), svc);
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut head = String::from("GET / HTTP/1.1\r\nHost: header-case\r\n");
    for n in NAMES
        .iter()
        .filter(|n| !matches!(**n, "Content-Length" | "Connection"))
    {
        head.push_str(&format!("{n}: x\r\n"));
    }
    head.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    client.write_all(head.as_bytes()).await.ok()?;
    let ext = rx.await.ok()?;
    let mut sink = Vec::new();
    let _ = client.read_to_end(&mut sink).await;
    Some(ext)
}

/// Give `resp` the spellings (no-op before [`init`]).
pub fn apply(resp: &mut Response<Body>) {
    if let Some(ext) = CASES.get() {
        resp.extensions_mut().extend(ext.clone());
    }
}
