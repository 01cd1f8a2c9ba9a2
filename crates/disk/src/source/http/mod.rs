//! An HTTP(S) object as a [`ReadAt`] source, read by `Range` requests only.
//!
//! `imgport check URL` and the import service never download a whole image to check
//! it (DESIGN pipeline: "source (range reads)"). Every read is one
//! `GET` with `Range: bytes=FIRST-LAST` (RFC 9110 §14.2) that must be answered
//! `206 Partial Content` with a matching `Content-Range` (RFC 9110 §14.4) and exactly
//! the asked-for number of body bytes. Anything else is an [`Error::Remote`] naming
//! the problem, or an [`Error::RemoteStatus`] for an HTTP error status (the service
//! maps 401/403/404/410 to `InvalidUrl`, SPEC R-ERR).
//!
//! Safety rules: only `http`/`https`; redirects are not followed (optionally within
//! the same origin only, never to another host); the object's size is fixed at open and
//! checked on every answer, together with its ETag (`If-Match`/`If-Range` are sent when
//! the ETag is strong), so an object replaced mid-check is detected; bodies are read to
//! at most the expected length + 1; sizes over [`HttpOptions::max_size`] are refused.
//! The URL's query string (a presigned S3/COS signature) is sent byte-for-byte and
//! never shown in messages.
//!
//! Here: the options, opening (the client, the size probe), retries and the
//! [`ReadAt`] interface; `request.rs` sends one range request and classifies its
//! failures, `response.rs` validates the answer, `content_range.rs` parses
//! `Content-Range`, `url.rs` redacts URLs and judges redirect targets.

mod content_range;
mod request;
mod response;
mod url;

pub use content_range::{parse_content_range, ContentRange};

use super::block_cache::{BlockCache, BlockCacheOptions};
use super::{check_bounds, ReadAt};
use crate::{Error, Result};
use response::header;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ureq::http::Uri;
use url::redact_url;

/// Default bound on an object's size: 16 TiB.
pub const DEFAULT_MAX_SIZE: u64 = 16 << 40;
/// Most redirects followed for one request under [`RedirectPolicy::SameOrigin`].
const MAX_REDIRECT_HOPS: u32 = 5;

/// Which redirects an [`HttpSource`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectPolicy {
    /// Follow none: a 3xx answer is an error (the default).
    #[default]
    None,
    /// Follow redirects to the same scheme, host and port only (at most 5 hops).
    SameOrigin,
}

/// Settings of an [`HttpSource`] (and of the cache [`open_url`] puts in front of it).
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Bound on name resolution and TCP connection setup.
    pub connect_timeout: Duration,
    /// Bound on waiting for the answer's headers and on each read of the body.
    pub read_timeout: Duration,
    /// Bound on one whole request (headers and body), so a trickling server cannot
    /// hold a read forever.
    pub request_timeout: Duration,
    /// Largest object size (and `Content-Length`) accepted.
    pub max_size: u64,
    /// Extra attempts after a connection reset, a cut-off body or a 5xx/429 answer.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// Which redirects are followed.
    pub redirects: RedirectPolicy,
    /// An explicit proxy (`http://host:port`); environment proxy variables are ignored.
    pub proxy: Option<String>,
    /// The `User-Agent` header sent.
    pub user_agent: String,
    /// Block cache used by [`open_url`] (with readahead: [`BlockCacheOptions::remote`]).
    pub cache: BlockCacheOptions,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            max_size: DEFAULT_MAX_SIZE,
            retries: 2,
            retry_backoff: Duration::from_millis(250),
            redirects: RedirectPolicy::None,
            proxy: None,
            user_agent: concat!("imgport/", env!("CARGO_PKG_VERSION")).to_string(),
            cache: BlockCacheOptions::remote(),
        }
    }
}

/// Open `url` as a range-read source behind a [`BlockCache`] (options in `opts.cache`).
pub fn open_url(url: &str, opts: HttpOptions) -> Result<Arc<dyn ReadAt>> {
    let cache = opts.cache;
    Ok(Arc::new(BlockCache::with_options(
        HttpSource::open(url, opts)?,
        cache,
    )))
}

/// The HTTP client of one source: no redirects of its own (`send` follows them as
/// allowed), statuses as answers, identity encoding, every timeout bounded, only an
/// explicit proxy.
fn agent(opts: &HttpOptions, shown: &str) -> Result<ureq::Agent> {
    let mut builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .https_only(false)
        .user_agent(opts.user_agent.as_str())
        .accept("*/*")
        .accept_encoding("identity")
        .timeout_resolve(Some(opts.connect_timeout))
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_send_request(Some(opts.read_timeout))
        .timeout_recv_response(Some(opts.read_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        .timeout_per_call(Some(opts.request_timeout))
        .proxy(None);
    if let Some(p) = &opts.proxy {
        let proxy = ureq::Proxy::new(p).map_err(|e| Error::Remote {
            url: shown.to_string(),
            detail: format!("invalid proxy setting: {e}"),
        })?;
        builder = builder.proxy(Some(proxy));
    }
    Ok(builder.build().into())
}

/// A failed attempt: the error, and whether another attempt may succeed.
struct Failure {
    error: Error,
    retry: bool,
}

/// An HTTP(S) object read by range requests. Size (and ETag) are fixed at open.
pub struct HttpSource {
    agent: ureq::Agent,
    uri: Uri,
    shown: String,
    opts: HttpOptions,
    size: u64,
    etag: Option<String>,
    bytes: AtomicU64,
    requests: AtomicU64,
    /// The object's first bytes, fetched by the size probe (every format reads them
    /// first: no second round trip for them).
    head: Vec<u8>,
}

/// Bytes the size probe fetches: the head every format detection reads (issue 16).
pub const PROBE_HEAD: u64 = 64 * 1024;

impl std::fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSource")
            .field("url", &self.shown)
            .field("size", &self.size)
            .field("etag", &self.etag)
            .finish()
    }
}

impl HttpSource {
    /// Open `url` (`http` or `https` only): learn the size with a range request for the
    /// first [`PROBE_HEAD`] bytes, which are kept.
    pub fn open(url: &str, opts: HttpOptions) -> Result<HttpSource> {
        let plain = url.split(['?', '#']).next().unwrap_or("").to_string();
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("http" | "https")) {
            return Err(Error::Remote {
                url: plain,
                detail: "only http:// and https:// URLs are read".to_string(),
            });
        }
        let uri: Uri = url.parse().map_err(|e| Error::Remote {
            url: plain.clone(),
            detail: format!("not a valid URL: {e}"),
        })?;
        let shown = redact_url(&uri);
        if uri.host().is_none_or(str::is_empty) {
            return Err(Error::Remote {
                url: shown,
                detail: "the URL has no host".to_string(),
            });
        }
        let agent = agent(&opts, &shown)?;
        let mut src = HttpSource {
            agent,
            uri,
            shown,
            opts,
            size: 0,
            etag: None,
            bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            head: Vec::new(),
        };
        let (size, etag, head) = src.with_retries(|s| s.probe())?;
        src.size = size;
        src.etag = etag;
        src.head = head;
        Ok(src)
    }

    /// HTTP requests sent so far (including retries and followed redirects).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The object's ETag as given when it was opened.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// The URL as shown in messages (no query string).
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// An [`Error::Remote`] about this source.
    fn remote(&self, detail: impl Into<String>) -> Error {
        Error::Remote {
            url: self.shown.clone(),
            detail: detail.into(),
        }
    }

    /// A failure another attempt would not mend.
    fn fatal(&self, detail: impl Into<String>) -> Failure {
        Failure {
            error: self.remote(detail),
            retry: false,
        }
    }

    /// A failure worth another attempt (a reset connection, a cut-off body).
    fn transient(&self, detail: impl Into<String>) -> Failure {
        Failure {
            error: self.remote(detail),
            retry: true,
        }
    }

    /// Run `attempt` up to `1 + retries` times while it fails transiently.
    fn with_retries<T>(
        &self,
        mut attempt: impl FnMut(&Self) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let mut wait = self.opts.retry_backoff;
        let mut tries = 0u32;
        loop {
            tries += 1;
            match attempt(self) {
                Ok(v) => return Ok(v),
                Err(f) if f.retry && tries <= self.opts.retries => {
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                }
                Err(f) if tries > 1 => {
                    return Err(match f.error {
                        Error::Remote { url, detail } => Error::Remote {
                            url,
                            detail: format!("{detail} (after {tries} attempts)"),
                        },
                        Error::RemoteStatus {
                            url,
                            status,
                            detail,
                        } => Error::RemoteStatus {
                            url,
                            status,
                            detail: format!("{detail} (after {tries} attempts)"),
                        },
                        e => e,
                    })
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// One `Range: bytes=0-{PROBE_HEAD - 1}` request: the object's size, ETag and
    /// first bytes (all of them when it is shorter).
    #[allow(clippy::type_complexity)]
    fn probe(&self) -> std::result::Result<(u64, Option<String>, Vec<u8>), Failure> {
        let resp = self.send(0, PROBE_HEAD - 1)?;
        let status = resp.status().as_u16();
        if status == 416 {
            // An empty object cannot satisfy the range; its Content-Range says `*/0`.
            return match header(resp.headers(), "content-range").map(parse_content_range) {
                Some(Ok(ContentRange::Unsatisfied { total: 0 })) => Ok((
                    0,
                    header(resp.headers(), "etag").map(str::to_string),
                    Vec::new(),
                )),
                _ => Err(self.status_failure(&resp)),
            };
        }
        if status != 206 {
            return Err(self.status_failure(&resp));
        }
        let (total, etag) = self.check_headers(&resp, 0, PROBE_HEAD - 1, true)?;
        let mut head = vec![0u8; total.min(PROBE_HEAD) as usize];
        self.read_body(resp, &mut head)?;
        Ok((total, etag, head))
    }

    /// One range request for `buf.len()` bytes at `offset` (caller checked bounds).
    fn fetch(&self, buf: &mut [u8], offset: u64) -> std::result::Result<(), Failure> {
        let last = offset + buf.len() as u64 - 1;
        let resp = self.send(offset, last)?;
        if resp.status().as_u16() != 206 {
            return Err(self.status_failure(&resp));
        }
        self.check_headers(&resp, offset, last, false)?;
        self.read_body(resp, buf)
    }
}

impl ReadAt for HttpSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_bounds(&|| self.describe(), offset, buf.len(), self.size)?;
        if buf.is_empty() {
            return Ok(());
        }
        // What the probe fetched is not fetched again.
        let (kept, rest) = match usize::try_from(offset)
            .ok()
            .and_then(|o| self.head.get(o..))
        {
            Some(h) if !h.is_empty() => {
                let n = h.len().min(buf.len());
                buf[..n].copy_from_slice(&h[..n]);
                (n, &mut buf[n..])
            }
            _ => (0, &mut buf[..]),
        };
        if rest.is_empty() {
            return Ok(());
        }
        self.with_retries(|s| s.fetch(rest, offset + kept as u64))
    }

    fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_other_schemes() {
        for url in [
            "file:///etc/passwd",
            "ftp://h/x",
            "gopher://h/",
            "/local/path",
            "http:///nohost",
        ] {
            let e = HttpSource::open(url, HttpOptions::default()).unwrap_err();
            assert!(matches!(e, Error::Remote { .. }), "{url}: {e}");
        }
    }
}
