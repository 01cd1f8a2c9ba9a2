//! `aws-chunked` bodies (SigV4 streaming uploads): chunk framing, every chunk
//! signature and the trailer signature verified as they arrive, trailers bounded.

use super::checksums::Hashers;
use super::{incomplete, too_large, BodySpec, Decoded, Framing};
use crate::s3::auth::ChunkSigner;
use crate::s3::errors::S3Error;
use crate::s3::sigv4::{self, EMPTY_SHA256};
use sha2::Sha256;
use std::io::{BufRead, Read, Write};

/// Longest chunk-header or trailer line of an `aws-chunked` body.
const MAX_LINE: u64 = 4096;
/// Most trailer lines.
const MAX_TRAILERS: usize = 16;

fn chunk_error(m: impl std::fmt::Display) -> S3Error {
    S3Error::bad(
        "InvalidChunkSizeError",
        format!("The aws-chunked body is malformed: {m}."),
    )
}

/// One CRLF- (or LF-) terminated line without its terminator; `None` at the end of
/// the body.
pub(super) fn line(r: &mut impl BufRead) -> Result<Option<String>, S3Error> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(MAX_LINE)
        .read_until(b'\n', &mut buf)
        .map_err(incomplete)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(chunk_error(if n as u64 >= MAX_LINE {
            "a chunk header or trailer line is too long"
        } else {
            "the body ends inside a chunk header"
        }));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| chunk_error("a chunk header is not text"))
}

fn mismatch_chunk() -> S3Error {
    S3Error::signature_mismatch().with(
        "Detail",
        "a chunk signature of the aws-chunked body does not match",
    )
}

/// Decode an `aws-chunked` body from `r` into `w` (what an upload does, without the
/// connection and the temporary file; also the fuzz target's entry): the decoded
/// size, its MD5 (and SHA-256) and the verified trailers.
pub fn decode_aws_chunked(
    r: impl BufRead,
    w: &mut impl Write,
    limit: u64,
    signer: Option<&ChunkSigner>,
    trailer: bool,
) -> Result<Decoded, S3Error> {
    let spec = BodySpec {
        framing: Framing::Plain,
        limit,
        decoded_length: None,
        sha256: true,
        checksums: Vec::new(),
    };
    let mut hashers = Hashers::new(&spec);
    let (size, trailers) = chunked(r, w, &mut hashers, limit, limit, signer, trailer)?;
    Ok((size, hashers.finish(), trailers))
}

/// Decode `aws-chunked` (`HEX[;chunk-signature=SIG]\r\nDATA\r\n` … `0…\r\n`, then
/// trailing headers and an empty line), verifying chunk signatures when `signer`.
pub(super) fn chunked(
    mut r: impl BufRead,
    w: &mut impl Write,
    h: &mut Hashers,
    limit: u64,
    max: u64,
    signer: Option<&ChunkSigner>,
    trailer: bool,
) -> Result<(u64, Vec<(String, String)>), S3Error> {
    let mut size = 0u64;
    let mut previous = signer.map(|s| s.seed.clone()).unwrap_or_default();
    loop {
        let header = line(&mut r)?.ok_or_else(|| incomplete("no final 0-size chunk"))?;
        let mut parts = header.split(';');
        let hex_len = parts.next().unwrap_or("").trim();
        if hex_len.is_empty()
            || hex_len.len() > 16
            || !hex_len.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(chunk_error(format!("bad chunk size {:?}", clip(hex_len))));
        }
        let n = u64::from_str_radix(hex_len, 16).map_err(|_| chunk_error("bad chunk size"))?;
        let sig = parts
            .filter_map(|p| p.trim().strip_prefix("chunk-signature="))
            .next()
            .map(str::to_string);
        size = size.checked_add(n).filter(|s| *s <= limit).ok_or_else(|| {
            if limit < max {
                incomplete("the chunks hold more than x-amz-decoded-content-length")
            } else {
                too_large(max)
            }
        })?;
        let mut chunk_sha = signer.map(|_| <Sha256 as sha2::Digest>::new());
        let mut left = n;
        while left > 0 {
            let buf = r.fill_buf().map_err(incomplete)?;
            if buf.is_empty() {
                return Err(incomplete("the body ends inside a chunk"));
            }
            let k = buf.len().min(left.min(usize::MAX as u64) as usize);
            h.update(&buf[..k]);
            if let Some(c) = &mut chunk_sha {
                sha2::Digest::update(c, &buf[..k]);
            }
            w.write_all(&buf[..k])?;
            r.consume(k);
            left -= k as u64;
        }
        if let Some(s) = signer {
            let got = sig.ok_or_else(|| {
                S3Error::signature_mismatch().with("Detail", "a chunk has no chunk-signature")
            })?;
            let data_hash = match chunk_sha {
                Some(c) if n > 0 => hex::encode(sha2::Digest::finalize(c)),
                _ => EMPTY_SHA256.to_string(),
            };
            let want = sigv4::chunk_signature(&s.key, &s.amz_date, &s.scope, &previous, &data_hash);
            if !sigv4::same(&want, &got.to_ascii_lowercase()) {
                return Err(mismatch_chunk());
            }
            previous = want;
        }
        if n == 0 {
            break;
        }
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(incomplete)?;
        if &crlf != b"\r\n" {
            return Err(chunk_error("chunk data is not followed by CRLF"));
        }
    }
    // Trailing headers, then an empty line (or the end of the body).
    let mut trailers = Vec::new();
    let mut trailer_sig = None;
    while let Some(l) = line(&mut r)? {
        if l.is_empty() {
            break;
        }
        if !trailer || trailers.len() >= MAX_TRAILERS {
            return Err(chunk_error("unexpected data after the final chunk"));
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| chunk_error("a trailer line has no ':'"))?;
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        if k == "x-amz-trailer-signature" {
            trailer_sig = Some(v);
        } else {
            trailers.push((k, v));
        }
    }
    let mut extra = [0u8; 1];
    if r.read(&mut extra).map_err(incomplete)? != 0 {
        return Err(chunk_error("data after the end of the aws-chunked body"));
    }
    if let (Some(s), true) = (signer, trailer) {
        let got = trailer_sig.ok_or_else(|| {
            S3Error::signature_mismatch().with("Detail", "x-amz-trailer-signature is missing")
        })?;
        let canonical: String = trailers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let want = sigv4::trailer_signature(&s.key, &s.amz_date, &s.scope, &previous, &canonical);
        if !sigv4::same(&want, &got.to_ascii_lowercase()) {
            return Err(S3Error::signature_mismatch()
                .with("Detail", "the trailer signature does not match"));
        }
    }
    Ok((size, trailers))
}

fn clip(s: &str) -> String {
    imgport_policy::text::clip(s, 40)
}
