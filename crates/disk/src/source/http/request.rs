//! One range request and what its failure means: `GET` with `Range` (and `If-Match` /
//! `If-Range` on a strong ETag) following redirects only as [`RedirectPolicy`] allows;
//! transport errors and HTTP statuses classified as fatal or worth a retry (the
//! service maps 401/403/404/410 to `InvalidUrl`, SPEC R-ERR).

use super::response::header;
use super::url::{redact_url, same_origin_target};
use super::{Failure, HttpSource, RedirectPolicy, MAX_REDIRECT_HOPS};
use crate::Error;
use std::sync::atomic::Ordering;
use ureq::http::{Response, Uri};
use ureq::Body;

impl HttpSource {
    /// The strong ETag to make requests conditional on, if any (weak validators
    /// cannot be used with `If-Match`/`If-Range`, RFC 9110 §13.1.1, §13.1.5).
    fn strong_etag(&self) -> Option<&str> {
        self.etag.as_deref().filter(|e| !e.starts_with("W/"))
    }

    /// Send `GET` with `Range: bytes=first-last`, following redirects as allowed.
    /// Returns the first non-redirect answer.
    pub(super) fn send(
        &self,
        first: u64,
        last: u64,
    ) -> std::result::Result<Response<Body>, Failure> {
        let mut uri = self.uri.clone();
        let mut hops = 0u32;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let mut req = self
                .agent
                .get(uri.clone())
                .header("Range", format!("bytes={first}-{last}"));
            if let Some(tag) = self.strong_etag() {
                req = req.header("If-Match", tag).header("If-Range", tag);
            }
            let resp = req.call().map_err(|e| {
                self.transport_failure(e, &format!("requesting bytes {first}-{last}"))
            })?;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let status = resp.status().as_u16();
            let Some(location) = header(resp.headers(), "location") else {
                return Err(Failure {
                    error: Error::RemoteStatus {
                        url: self.shown.clone(),
                        status,
                        detail: "redirect without a usable Location header".to_string(),
                    },
                    retry: false,
                });
            };
            match self.opts.redirects {
                RedirectPolicy::None => {
                    let shown = match location.parse::<Uri>() {
                        Ok(u) if u.scheme().is_some() => redact_url(&u),
                        _ => location.split(['?', '#']).next().unwrap_or("").to_string(),
                    };
                    return Err(self.fatal(format!(
                        "the server redirects (HTTP {status}) to {shown}; redirects are not followed, only the URL given is read"
                    )));
                }
                RedirectPolicy::SameOrigin => {
                    let next = same_origin_target(&uri, location).map_err(|d| self.fatal(d))?;
                    hops += 1;
                    if hops > MAX_REDIRECT_HOPS {
                        return Err(self.fatal(format!("more than {MAX_REDIRECT_HOPS} redirects")));
                    }
                    uri = next;
                }
            }
        }
    }

    /// Classify a transport error: resets and dropped connections are retried,
    /// timeouts and protocol errors are not.
    pub(super) fn transport_failure(&self, e: ureq::Error, during: &str) -> Failure {
        use std::io::ErrorKind as K;
        match e {
            ureq::Error::Timeout(t) => {
                let limit = match t {
                    ureq::Timeout::Resolve | ureq::Timeout::Connect => {
                        format!("connect timeout of {:?}", self.opts.connect_timeout)
                    }
                    ureq::Timeout::PerCall | ureq::Timeout::Global => {
                        format!("request timeout of {:?}", self.opts.request_timeout)
                    }
                    _ => format!("read timeout of {:?}", self.opts.read_timeout),
                };
                self.fatal(format!("timed out {during} ({t}: over the {limit})"))
            }
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    K::ConnectionReset
                        | K::ConnectionAborted
                        | K::BrokenPipe
                        | K::UnexpectedEof
                        | K::ConnectionRefused
                ) =>
            {
                self.transient(format!("connection failed {during}: {io}"))
            }
            ureq::Error::Io(io) if io.kind() == K::TimedOut => self.fatal(format!(
                "timed out {during}: {io} (read timeout {:?})",
                self.opts.read_timeout
            )),
            ureq::Error::ConnectionFailed => self.transient(format!("connection failed {during}")),
            ureq::Error::HostNotFound => self.fatal("host not found"),
            other => self.fatal(format!("failed {during}: {other}")),
        }
    }

    /// The error for a non-206 final answer.
    pub(super) fn status_failure(&self, resp: &Response<Body>) -> Failure {
        let status = resp.status().as_u16();
        let (detail, retry) = match status {
            200 if self.strong_etag().is_some() => {
                return self.fatal(
                    "the server sent the whole object (HTTP 200) instead of the asked-for range: the object \
                     changed since it was opened (If-Range with its ETag failed) or the server stopped \
                     honouring Range requests",
                )
            }
            200 => {
                return self.fatal(
                    "the server does not support Range requests (it answered HTTP 200 with the whole \
                     object); imgport reads images by range requests only and does not download the whole file",
                )
            }
            401 | 403 => (
                "access denied: the object is not public-read, or the signed URL is invalid, expired or already used"
                    .to_string(),
                false,
            ),
            404 => ("not found: the object does not exist or was deleted".to_string(), false),
            410 => ("gone: the object was deleted".to_string(), false),
            412 => (
                format!(
                    "the object changed since it was opened (If-Match {} no longer matches)",
                    self.etag.as_deref().unwrap_or("?")
                ),
                false,
            ),
            416 => ("range not satisfiable: the object is shorter than it was when opened".to_string(), false),
            408 | 429 | 500..=599 => (format!("server error ({})", reason(status)), true),
            _ => (format!("unexpected answer ({}) to a range request", reason(status)), false),
        };
        Failure {
            error: Error::RemoteStatus {
                url: self.shown.clone(),
                status,
                detail,
            },
            retry,
        }
    }
}

/// `"Service Unavailable"` for 503: the standard reason phrase of a status code.
fn reason(status: u16) -> &'static str {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("non-standard status")
}
