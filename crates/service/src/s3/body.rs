//! Request bodies to files (streamed, hashed, `aws-chunked` decoded) and files to
//! response bodies (streamed by range reads) — never a whole object in memory.

use super::xml::S3Error;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use futures_util::StreamExt;
use imgport_disk::ReadAt;
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Largest single object or part accepted (5 TiB, as S3).
pub const MAX_OBJECT: u64 = 5 << 40;
/// Largest chunk-header line of an aws-chunked body.
const MAX_CHUNK_LINE: usize = 4096;

/// What was written.
pub struct Written {
    pub size: u64,
    pub md5: [u8; 16],
    pub sha256: [u8; 32],
}

/// Stream `body` into a new file at `path`, hashing it.
pub async fn to_file(body: Body, path: &Path) -> Result<Written, S3Error> {
    let mut f = tokio::fs::File::create(path).await?;
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes = chunk.map_err(|e| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                format!("body: {e}"),
            )
        })?;
        size += chunk.len() as u64;
        if size > MAX_OBJECT {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            ));
        }
        md5.update(&chunk);
        sha2::Digest::update(&mut sha, &chunk);
        tokio::io::AsyncWriteExt::write_all(&mut f, &chunk).await?;
    }
    tokio::io::AsyncWriteExt::flush(&mut f).await?;
    f.sync_all().await?;
    Ok(Written {
        size,
        md5: md5.finalize().into(),
        sha256: sha2::Digest::finalize(sha).into(),
    })
}

/// Decode an `aws-chunked` body (`HEX[;chunk-signature=…]\r\nDATA\r\n … 0\r\n` then
/// optional trailers such as `x-amz-checksum-crc32:…`) from `src` into `dst`. The
/// trailers are returned (name → value).
pub fn decode_aws_chunked(
    src: &Path,
    dst: &Path,
) -> Result<(Written, Vec<(String, String)>), S3Error> {
    let bad = |m: &str| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            format!("aws-chunked body: {m}"),
        )
    };
    let mut r = BufReader::new(std::fs::File::open(src)?);
    let mut w = std::io::BufWriter::new(std::fs::File::create(dst)?);
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut size = 0u64;
    let mut line = String::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        line.clear();
        (&mut r).take(MAX_CHUNK_LINE as u64).read_line(&mut line)?;
        if !line.ends_with('\n') {
            return Err(bad("chunk header too long or truncated"));
        }
        let hex = line.trim_end().split(';').next().unwrap_or("");
        let n = u64::from_str_radix(hex, 16).map_err(|_| bad("bad chunk size"))?;
        if n == 0 {
            break;
        }
        size = size
            .checked_add(n)
            .filter(|s| *s <= MAX_OBJECT)
            .ok_or_else(|| bad("too large"))?;
        let mut left = n;
        while left > 0 {
            let k = (left as usize).min(buf.len());
            r.read_exact(&mut buf[..k])
                .map_err(|_| bad("truncated chunk"))?;
            md5.update(&buf[..k]);
            sha2::Digest::update(&mut sha, &buf[..k]);
            w.write_all(&buf[..k])?;
            left -= k as u64;
        }
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)
            .map_err(|_| bad("missing CRLF after chunk"))?;
        if &crlf != b"\r\n" {
            return Err(bad("missing CRLF after chunk"));
        }
    }
    let mut trailers = Vec::new();
    for _ in 0..16 {
        line.clear();
        (&mut r).take(MAX_CHUNK_LINE as u64).read_line(&mut line)?;
        let t = line.trim();
        if t.is_empty() {
            break;
        }
        if let Some((k, v)) = t.split_once(':') {
            trailers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    w.flush()?;
    w.get_ref().sync_all()?;
    Ok((
        Written {
            size,
            md5: md5.finalize().into(),
            sha256: sha2::Digest::finalize(sha).into(),
        },
        trailers,
    ))
}

/// CRC-32 of a file, base64 as in `x-amz-checksum-crc32`.
pub fn crc32_b64(path: &Path) -> std::io::Result<String> {
    let mut r = std::fs::File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(b64(&h.finalize().to_be_bytes()))
}

/// Standard base64 with padding.
pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// A response body reading `[start, start+len)` of `src` in 1 MiB pieces.
pub fn from_source(src: Arc<dyn ReadAt>, start: u64, len: u64) -> Body {
    const PIECE: u64 = 1 << 20;
    let stream = futures_util::stream::unfold((start, start + len), move |(pos, end)| {
        let src = src.clone();
        async move {
            if pos >= end {
                return None;
            }
            let n = (end - pos).min(PIECE);
            let r = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; n as usize];
                src.read_exact_at(&mut buf, pos).map(|_| buf)
            })
            .await;
            match r {
                Ok(Ok(buf)) => Some((Ok(Bytes::from(buf)), (pos + n, end))),
                Ok(Err(e)) => Some((Err(std::io::Error::other(e.to_string())), (end, end))),
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), (end, end))),
            }
        }
    });
    Body::from_stream(stream)
}
