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

use super::block_cache::{BlockCache, BlockCacheOptions};
use super::{check_bounds, ReadAt};
use crate::{Error, Result};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ureq::http::{HeaderMap, Response, Uri};
use ureq::Body;

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

/// A parsed `Content-Range` header value (RFC 9110 §14.4), `bytes` unit only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes FIRST-LAST/TOTAL`; `total` is `None` for `/*` (size unknown).
    Bytes {
        first: u64,
        last: u64,
        total: Option<u64>,
    },
    /// `bytes */TOTAL`, the answer to an unsatisfiable range (416).
    Unsatisfied { total: u64 },
}

/// Parse a `Content-Range` value strictly: unit `bytes`, decimal numbers without
/// signs (at most 20 digits, no overflow), `FIRST <= LAST < TOTAL`.
pub fn parse_content_range(value: &str) -> std::result::Result<ContentRange, String> {
    fn number(s: &str, what: &str) -> std::result::Result<u64, String> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{what} {s:?} is not a decimal number"));
        }
        s.parse::<u64>()
            .map_err(|_| format!("{what} {s} does not fit in 64 bits"))
    }
    let v = value.trim();
    let rest = match v.split_once(' ') {
        Some((unit, rest)) if unit.eq_ignore_ascii_case("bytes") => rest.trim_start(),
        _ => return Err(format!("{value:?} does not start with the unit \"bytes\"")),
    };
    let (range, total) = rest
        .split_once('/')
        .ok_or_else(|| format!("{value:?} has no \"/\" before the total size"))?;
    let total = match total {
        "*" => None,
        t => Some(number(t, "total size")?),
    };
    if range == "*" {
        return match total {
            Some(total) => Ok(ContentRange::Unsatisfied { total }),
            None => Err(format!("{value:?} states neither a range nor a size")),
        };
    }
    let (first, last) = range
        .split_once('-')
        .ok_or_else(|| format!("{value:?} has no \"FIRST-LAST\" range"))?;
    let first = number(first, "first byte")?;
    let last = number(last, "last byte")?;
    if first > last {
        return Err(format!(
            "{value:?}: first byte {first} is after last byte {last}"
        ));
    }
    if let Some(t) = total {
        if last >= t {
            return Err(format!(
                "{value:?}: last byte {last} is not inside the total size {t}"
            ));
        }
    }
    Ok(ContentRange::Bytes { first, last, total })
}

/// `scheme://host[:port]/path` of `uri`, without user info, query or fragment: what
/// messages show (a presigned URL's query is a credential).
pub fn redact_url(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("?");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let query = if uri.query().is_some() { "?…" } else { "" };
    format!("{scheme}://{host}{}{query}", uri.path())
}

/// Scheme, lower-cased host and port (default by scheme) of an absolute URI.
fn origin(uri: &Uri) -> Option<(String, String, u16)> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = uri.host()?.to_ascii_lowercase();
    Some((scheme, host, uri.port_u16().unwrap_or(default)))
}

/// Resolve a redirect's `Location` against `current` and accept it only when it
/// stays on the same origin (scheme, host, port).
pub fn same_origin_target(current: &Uri, location: &str) -> std::result::Result<Uri, String> {
    let location = location.split('#').next().unwrap_or("");
    let scheme = current.scheme_str().unwrap_or("http");
    let authority = current.authority().map(|a| a.as_str()).unwrap_or("");
    let absolute = if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else if location.contains("://") {
        location.to_string()
    } else {
        let path = current.path();
        let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(0)];
        format!("{scheme}://{authority}{dir}{location}")
    };
    let target: Uri = absolute
        .parse()
        .map_err(|e| format!("the redirect target is not a valid URL ({e})"))?;
    match (origin(current), origin(&target)) {
        (Some(a), Some(b)) if a == b => Ok(target),
        _ => Err(format!(
            "the server redirects to another origin ({}); only the URL given is read",
            redact_url(&target)
        )),
    }
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
}

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
    /// Open `url` (`http` or `https` only): learn the size with `Range: bytes=0-0`.
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
                url: shown.clone(),
                detail: format!("invalid proxy setting: {e}"),
            })?;
            builder = builder.proxy(Some(proxy));
        }
        let agent: ureq::Agent = builder.build().into();
        let mut src = HttpSource {
            agent,
            uri,
            shown,
            opts,
            size: 0,
            etag: None,
            bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        };
        let (size, etag) = src.with_retries(|s| s.probe())?;
        src.size = size;
        src.etag = etag;
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

    fn remote(&self, detail: impl Into<String>) -> Error {
        Error::Remote {
            url: self.shown.clone(),
            detail: detail.into(),
        }
    }

    fn fatal(&self, detail: impl Into<String>) -> Failure {
        Failure {
            error: self.remote(detail),
            retry: false,
        }
    }

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

    /// The strong ETag to make requests conditional on, if any (weak validators
    /// cannot be used with `If-Match`/`If-Range`, RFC 9110 §13.1.1, §13.1.5).
    fn strong_etag(&self) -> Option<&str> {
        self.etag.as_deref().filter(|e| !e.starts_with("W/"))
    }

    /// Send `GET` with `Range: bytes=first-last`, following redirects as allowed.
    /// Returns the first non-redirect answer.
    fn send(&self, first: u64, last: u64) -> std::result::Result<Response<Body>, Failure> {
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
    fn transport_failure(&self, e: ureq::Error, during: &str) -> Failure {
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
    fn status_failure(&self, resp: &Response<Body>) -> Failure {
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

    /// Check a `206` answer's headers for the range `first..=last`; returns the
    /// total size and ETag it states.
    fn check_headers(
        &self,
        resp: &Response<Body>,
        first: u64,
        last: u64,
        probing: bool,
    ) -> std::result::Result<(u64, Option<String>), Failure> {
        let headers = resp.headers();
        let len = last - first + 1;
        if let Some(enc) = header(headers, "content-encoding") {
            if !enc.eq_ignore_ascii_case("identity") {
                return Err(self.fatal(format!(
                    "the server sent the range with Content-Encoding {enc:?}; the stored bytes are needed"
                )));
            }
        }
        let raw = header(headers, "content-range")
            .ok_or_else(|| self.fatal("the 206 answer has no (readable) Content-Range header"))?;
        let cr = parse_content_range(raw)
            .map_err(|d| self.fatal(format!("malformed Content-Range: {d}")))?;
        let total = match cr {
            ContentRange::Bytes {
                first: f,
                last: l,
                total,
            } => {
                if (f, l) != (first, last) {
                    return Err(self.fatal(format!(
                        "wrong Content-Range: asked for bytes {first}-{last}, the server sent {f}-{l}"
                    )));
                }
                total.ok_or_else(|| {
                    self.fatal(format!(
                        "Content-Range {raw:?} does not state the object's size"
                    ))
                })?
            }
            ContentRange::Unsatisfied { .. } => {
                return Err(self.fatal(format!(
                    "a 206 answer with Content-Range {raw:?} holds no range"
                )))
            }
        };
        if total > self.opts.max_size {
            return Err(self.fatal(format!(
                "the object's size ({total} bytes) is over the limit of {} bytes",
                self.opts.max_size
            )));
        }
        if !probing && total != self.size {
            return Err(self.fatal(format!(
                "the object's size changed from {} to {total} bytes since it was opened",
                self.size
            )));
        }
        if let Some(cl) = header(headers, "content-length") {
            let n = parse_decimal(cl)
                .ok_or_else(|| self.fatal(format!("malformed Content-Length {cl:?}")))?;
            if n > self.opts.max_size {
                return Err(self.fatal(format!(
                    "absurd Content-Length {n} (over the limit of {} bytes)",
                    self.opts.max_size
                )));
            }
            if n != len {
                return Err(self.fatal(format!(
                    "Content-Length {n} does not match the {len} bytes of the range {first}-{last}"
                )));
            }
        }
        let etag = header(headers, "etag").map(str::to_string);
        if !probing {
            if let (Some(was), Some(now)) = (&self.etag, &etag) {
                if was != now {
                    return Err(self.fatal(format!(
                        "the object changed since it was opened (ETag {was} is now {now})"
                    )));
                }
            }
        }
        Ok((total, etag))
    }

    /// Read exactly `buf.len()` body bytes, and check that no more follow (reading
    /// at most one extra byte). Counts every body byte received.
    fn read_body(&self, resp: Response<Body>, buf: &mut [u8]) -> std::result::Result<(), Failure> {
        let len = buf.len();
        let mut reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
        let mut filled = 0usize;
        // Bounded: each successful read advances `filled` towards `len`.
        while filled < len {
            let Some(rest) = buf.get_mut(filled..) else {
                break;
            };
            match reader.read(rest) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = ureq::Error::from(e);
                    let timed_out = matches!(&e, ureq::Error::Timeout(_))
                        || matches!(&e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut);
                    if timed_out {
                        let during = format!("reading the body (after {filled} of {len} bytes)");
                        return Err(self.transport_failure(e, &during));
                    }
                    return Err(self.transient(format!(
                        "short body: the connection failed after {filled} of the {len} bytes asked for ({e})"
                    )));
                }
            }
        }
        if filled < len {
            return Err(self.transient(format!(
                "short body: received {filled} of the {len} bytes asked for"
            )));
        }
        let mut extra = [0u8; 1];
        loop {
            match reader.read(&mut extra) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    self.bytes.fetch_add(1, Ordering::Relaxed);
                    return Err(self.fatal(format!(
                        "long body: the server sent more than the {len} bytes asked for"
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // The expected bytes all arrived; a failure after them loses nothing.
                Err(_) => return Ok(()),
            }
        }
    }

    /// One `Range: bytes=0-0` request: the object's size and ETag.
    fn probe(&self) -> std::result::Result<(u64, Option<String>), Failure> {
        let resp = self.send(0, 0)?;
        let status = resp.status().as_u16();
        if status == 416 {
            // An empty object cannot satisfy bytes=0-0; its Content-Range says `*/0`.
            return match header(resp.headers(), "content-range").map(parse_content_range) {
                Some(Ok(ContentRange::Unsatisfied { total: 0 })) => {
                    Ok((0, header(resp.headers(), "etag").map(str::to_string)))
                }
                _ => Err(self.status_failure(&resp)),
            };
        }
        if status != 206 {
            return Err(self.status_failure(&resp));
        }
        let (total, etag) = self.check_headers(&resp, 0, 0, true)?;
        let mut one = [0u8; 1];
        self.read_body(resp, &mut one)?;
        Ok((total, etag))
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
        self.with_retries(|s| s.fetch(buf, offset))
    }

    fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

/// A header's value as text, if present and visible ASCII.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A strict decimal `u64` (digits only, no sign, no overflow).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `"Service Unavailable"` for 503: the standard reason phrase of a status code.
fn reason(status: u16) -> &'static str {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("non-standard status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_valid() {
        assert_eq!(
            parse_content_range("bytes 0-0/1234"),
            Ok(ContentRange::Bytes {
                first: 0,
                last: 0,
                total: Some(1234)
            })
        );
        assert_eq!(
            parse_content_range("Bytes  10-19/*"),
            Ok(ContentRange::Bytes {
                first: 10,
                last: 19,
                total: None
            })
        );
        assert_eq!(
            parse_content_range("bytes */0"),
            Ok(ContentRange::Unsatisfied { total: 0 })
        );
        assert_eq!(
            parse_content_range("bytes 0-18446744073709551614/18446744073709551615"),
            Ok(ContentRange::Bytes {
                first: 0,
                last: u64::MAX - 1,
                total: Some(u64::MAX)
            })
        );
    }

    #[test]
    fn content_range_invalid() {
        for bad in [
            "",
            "bytes",
            "bytes 0-0",
            "items 0-0/10",
            "bytes0-0/10",
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes +1-2/10",
            "bytes -1-2/10",
            "bytes 1-/10",
            "bytes 1-2/",
            "bytes 1-2/x",
            "bytes */*",
            "bytes 0-0/18446744073709551616",
            "bytes 0-0/000000000000000000001",
            "bytes 1 -2/10",
        ] {
            assert!(parse_content_range(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn redirect_targets() {
        let cur: Uri = "http://a.example:8080/dir/obj?sig=x".parse().unwrap();
        let ok = |l: &str| same_origin_target(&cur, l).map(|u| u.to_string());
        assert_eq!(ok("/other?x=1").unwrap(), "http://a.example:8080/other?x=1");
        assert_eq!(ok("next").unwrap(), "http://a.example:8080/dir/next");
        assert_eq!(
            ok("HTTP://A.example:8080/x").unwrap(),
            "http://A.example:8080/x"
        );
        assert_eq!(
            ok("//a.example:8080/y#frag").unwrap(),
            "http://a.example:8080/y"
        );
        assert!(ok("http://b.example:8080/x").is_err());
        assert!(ok("https://a.example:8080/x").is_err());
        assert!(ok("http://a.example/x").is_err());
        assert!(ok("//127.0.0.2:8080/x").is_err());
        let d: Uri = "https://h/x".parse().unwrap();
        assert!(same_origin_target(&d, "https://h:443/y").is_ok());
    }

    #[test]
    fn redaction_hides_query_and_userinfo() {
        let u: Uri = "https://user:pw@bucket.cos.example.com/a/b.qcow2?q-signature=SECRET"
            .parse()
            .unwrap();
        assert_eq!(redact_url(&u), "https://bucket.cos.example.com/a/b.qcow2?…");
    }

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
