//! S3 XML bodies: escaping, error documents, and the few elements we read.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// An S3 error: HTTP status, `Code`, `Message`.
#[derive(Debug)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        S3Error {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn denied(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", msg)
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("storage internal error: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "internal error",
        )
    }
}

impl From<rusqlite::Error> for S3Error {
    fn from(e: rusqlite::Error) -> Self {
        S3Error::internal(e)
    }
}

impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> Self {
        S3Error::internal(e)
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            esc(&self.message)
        );
        let mut r = (self.status, body).into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/xml"));
        r
    }
}

/// An XML 200 response.
pub fn ok(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

/// The text of every `<tag>…</tag>` in `xml` (tiny documents we receive: bucket
/// configuration, CompleteMultipartUpload).
pub fn all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(a) = rest.find(&open) {
        let after = &rest[a + open.len()..];
        let Some(b) = after.find(&close) else { break };
        out.push(after[..b].trim());
        rest = &after[b + close.len()..];
    }
    out
}
