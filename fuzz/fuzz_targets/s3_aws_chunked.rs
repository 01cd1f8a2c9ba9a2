//! Any bytes as an `aws-chunked` upload body (S3 PutObject/UploadPart with
//! `Content-Encoding: aws-chunked`), signed or unsigned, with or without trailers —
//! the decoder an upload streams through. Checks that it never panics, never
//! accepts more than the limit, and that a body we encode correctly (chunk sizes and
//! data from the input, chained chunk signatures, a signed trailer) decodes to
//! exactly its data.
#![no_main]

use imgport_service::s3::auth::ChunkSigner;
use imgport_service::s3::body::decode_aws_chunked;
use imgport_service::s3::sigv4;
use libfuzzer_sys::fuzz_target;
use std::io::BufReader;

const LIMIT: u64 = 1 << 20;

fn signer() -> ChunkSigner {
    let scope = "20260101/ap-guangzhou/s3/aws4_request";
    ChunkSigner {
        key: sigv4::signing_key("fuzz-secret", "20260101", "ap-guangzhou", "s3"),
        amz_date: "20260101T000000Z".into(),
        scope: scope.into(),
        seed: "0".repeat(64),
    }
}

/// A well-formed body of `data` cut at `cuts`, signed by `s` when given.
fn encode(data: &[u8], cuts: &[u8], s: Option<&ChunkSigner>, trailer: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous = s.map(|s| s.seed.clone()).unwrap_or_default();
    let mut rest = data;
    let mut cut = cuts.iter().cycle();
    loop {
        let n = if rest.is_empty() {
            0
        } else {
            (*cut.next().unwrap_or(&255) as usize + 1).min(rest.len())
        };
        let (chunk, tail) = rest.split_at(n);
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if let Some(s) = s {
            let hash = sigv4::sha256_hex(chunk);
            let sig = sigv4::chunk_signature(&s.key, &s.amz_date, &s.scope, &previous, &hash);
            out.extend_from_slice(format!(";chunk-signature={sig}").as_bytes());
            previous = sig;
        }
        out.extend_from_slice(b"\r\n");
        if n == 0 {
            break;
        }
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    if trailer {
        let line = "x-amz-checksum-crc32:AAAAAA==";
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(s) = s {
            let sig = sigv4::trailer_signature(
                &s.key,
                &s.amz_date,
                &s.scope,
                &previous,
                &format!("{line}\n"),
            );
            out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let s = signer();
    let signed = (mode & 1 == 1).then_some(&s);
    let trailer = mode & 2 == 2;
    // Small read buffers put chunk boundaries across reads.
    let cap = 1 + (mode >> 3) as usize;
    if mode & 4 == 0 {
        let mut out = Vec::new();
        if let Ok((size, _, trailers)) = decode_aws_chunked(
            BufReader::with_capacity(cap, rest),
            &mut out,
            LIMIT,
            signed,
            trailer,
        ) {
            assert_eq!(size, out.len() as u64);
            assert!(size <= LIMIT);
            assert!(trailers.len() <= 16);
        }
    } else {
        let (cuts, payload) = rest.split_at(rest.len().min(8));
        let body = encode(payload, cuts, signed, trailer);
        let mut out = Vec::new();
        let (size, digests, trailers) = decode_aws_chunked(
            BufReader::with_capacity(cap, &body[..]),
            &mut out,
            LIMIT,
            signed,
            trailer,
        )
        .expect("a well-formed aws-chunked body decodes");
        assert_eq!(out, payload);
        assert_eq!(size, payload.len() as u64);
        assert_eq!(digests.sha256.map(hex_of), Some(sigv4::sha256_hex(payload)));
        assert_eq!(trailers.len(), trailer as usize);
    }
});

fn hex_of(d: [u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
