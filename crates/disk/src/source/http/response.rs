//! A `206 Partial Content` answer checked against what was asked (RFC 9110 §14.4):
//! identity encoding, the exact `Content-Range`, the object's size and ETag unchanged
//! since open, a `Content-Length` within bounds, and exactly the asked-for number of
//! body bytes (reading at most one more).

use super::content_range::{parse_content_range, ContentRange};
use super::{Failure, HttpSource};
use std::io::Read;
use std::sync::atomic::Ordering;
use ureq::http::{HeaderMap, Response};
use ureq::Body;

impl HttpSource {
    /// Check a `206` answer's headers for the range `first..=last`; returns the
    /// total size and ETag it states.
    pub(super) fn check_headers(
        &self,
        resp: &Response<Body>,
        first: u64,
        last: u64,
        probing: bool,
    ) -> std::result::Result<(u64, Option<String>), Failure> {
        let headers = resp.headers();
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
                // The size probe asks for the head of the object; a shorter object
                // comes whole (RFC 9110 §14.1.2: a last position past the end is read
                // as the end).
                let clipped = probing && f == first && l < last && total == Some(l + 1);
                if (f, l) != (first, last) && !clipped {
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
        let len = last.min(total.saturating_sub(1)) - first + 1;
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
                    "Content-Length {n} does not match the {len} bytes of the range {first}-{}",
                    first + len - 1
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
    pub(super) fn read_body(
        &self,
        resp: Response<Body>,
        buf: &mut [u8],
    ) -> std::result::Result<(), Failure> {
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
}

/// A header's value as text, if present and visible ASCII.
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
