//! Object-store errors as S3 and COS clients expect them: an HTTP status and an XML
//! body `<Error><Code/><Message/><Resource/><RequestId/></Error>` (HEAD responses carry
//! the status only). Codes are S3's; messages say what was found and what to do.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// XML-escape text content.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An S3 error response.
#[derive(Debug)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra elements of the error document (e.g. `ActualObjectSize`).
    pub extra: Vec<(&'static str, String)>,
    /// Extra response headers (e.g. `Content-Range: bytes */SIZE` on 416).
    pub headers: Vec<(&'static str, String)>,
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        S3Error {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with(mut self, tag: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((tag, value.into()));
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 403 AccessDenied.
    pub fn denied(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", msg)
    }

    /// 400 with `code`.
    pub fn bad(code: &'static str, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }

    pub fn no_such_bucket(bucket: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            format!(
                "The specified bucket does not exist: {bucket}. Create it first (CreateBucket)."
            ),
        )
        .with("BucketName", bucket)
    }

    pub fn no_such_key(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    pub fn no_such_upload(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified multipart upload does not exist: it was completed or aborted, or the upload ID is wrong.",
        )
        .with("UploadId", id)
    }

    pub fn signature_mismatch() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    }

    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{what} is not implemented by this object store."),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }

    /// 500; the cause goes to the log, not to the client.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("object store internal error: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// The XML error document.
    pub fn document(&self, resource: &str, request_id: &str) -> String {
        let mut body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
            self.code,
            esc(&self.message)
        );
        for (tag, v) in &self.extra {
            body.push_str(&format!("<{tag}>{}</{tag}>", esc(v)));
        }
        body.push_str(&format!(
            "<Resource>{}</Resource><RequestId>{}</RequestId></Error>",
            esc(resource),
            esc(request_id)
        ));
        body
    }

    /// The response: status, headers and (unless `head`) the XML document.
    pub fn response(self, resource: &str, request_id: &str, head: bool) -> Response {
        let body = if head {
            String::new()
        } else {
            self.document(resource, request_id)
        };
        let mut r = (self.status, body).into_response();
        let h = r.headers_mut();
        if !head {
            h.insert("content-type", HeaderValue::from_static("application/xml"));
        }
        for (k, v) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(*k, v);
            }
        }
        r
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        self.response("", "", false)
    }
}

impl From<crate::db::DbError> for S3Error {
    fn from(e: crate::db::DbError) -> Self {
        S3Error::internal(e)
    }
}

impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> Self {
        S3Error::internal(e)
    }
}

/// An XML 200 response.
pub fn xml_ok(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document_is_escaped_and_complete() {
        let e = S3Error::no_such_key("a<b&c");
        let d = e.document("/bkt/a<b&c", "req1");
        assert!(d.contains("<Code>NoSuchKey</Code>"));
        assert!(d.contains("<Key>a&lt;b&amp;c</Key>"));
        assert!(d.contains("<Resource>/bkt/a&lt;b&amp;c</Resource>"));
        assert!(d.contains("<RequestId>req1</RequestId>"));
    }
}
