//! AWS Signature Version 4 for the object store (header `Authorization:
//! AWS4-HMAC-SHA256 …` and presigned query `X-Amz-Signature`), as S3 clients (boto3)
//! compute it. https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, the rest is %XX
/// (upper case); `/` is kept when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-decode (`+` stays `+`, as in S3 paths and SigV4 queries).
pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The parsed query: decoded (key, value) pairs in order.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The canonical query string of `params` without `X-Amz-Signature`.
pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What a SigV4 signature covers.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (already encoded by the client).
    pub raw_path: &'a str,
    pub query: &'a [(String, String)],
    /// Lower-case names and values of the signed headers, in the signed order.
    pub signed_headers: &'a [(String, String)],
    pub payload_hash: &'a str,
}

/// Normalise a path as S3 signs it: decode then encode each segment once.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded = decode(raw_path);
    let enc = uri_encode(&decoded, true);
    if enc.is_empty() {
        "/".into()
    } else {
        enc
    }
}

pub fn canonical_request(r: &Request<'_>) -> String {
    let mut headers: Vec<&(String, String)> = r.signed_headers.iter().collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let canon_headers: String = headers
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}:{}\n",
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method,
        canonical_uri(r.raw_path),
        canonical_query(r.query),
        canon_headers,
        names.join(";"),
        r.payload_hash
    )
}

/// The signing key for `date` (YYYYMMDD), `region`, `service`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The signature of `req` at `amz_date` (YYYYMMDDTHHMMSSZ) for `scope`
/// (`date/region/service/aws4_request`).
pub fn signature(secret: &str, amz_date: &str, scope: &str, req: &Request<'_>) -> String {
    let parts: Vec<&str> = scope.split('/').collect();
    let (date, region, service) = (
        parts.first().copied().unwrap_or(""),
        parts.get(1).copied().unwrap_or(""),
        parts.get(2).copied().unwrap_or(""),
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request(req).as_bytes())
    );
    hex::encode(hmac(
        &signing_key(secret, date, region, service),
        sts.as_bytes(),
    ))
}

/// Constant-time comparison of two signatures.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example "GET Object" (sig-v4-header-based-auth):
    /// GET /test.txt with Range, signature f0e8bdb8….
    #[test]
    fn aws_documented_get_object_example() {
        let headers = vec![
            (
                "host".to_string(),
                "examplebucket.s3.amazonaws.com".to_string(),
            ),
            ("range".to_string(), "bytes=0-9".to_string()),
            (
                "x-amz-content-sha256".to_string(),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string(),
            ),
            ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
        ];
        let req = Request {
            method: "GET",
            raw_path: "/test.txt",
            query: &[],
            signed_headers: &headers,
            payload_hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        };
        let sig = signature(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &req,
        );
        assert_eq!(
            sig,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// AWS's published presigned-URL example (sig-v4-query-string-auth).
    #[test]
    fn aws_documented_presigned_example() {
        let query = parse_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host");
        let headers = vec![(
            "host".to_string(),
            "examplebucket.s3.amazonaws.com".to_string(),
        )];
        let req = Request {
            method: "GET",
            raw_path: "/test.txt",
            query: &query,
            signed_headers: &headers,
            payload_hash: "UNSIGNED-PAYLOAD",
        };
        let sig = signature(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &req,
        );
        assert_eq!(
            sig,
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }
}
