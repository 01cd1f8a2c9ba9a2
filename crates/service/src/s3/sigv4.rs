//! AWS Signature Version 4 as S3 computes it: canonical request, string to sign,
//! signing key, and the chained signatures of `aws-chunked` uploads (chunks and
//! trailer). <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html>,
//! `sigv4-streaming.html`, `sigv4-streaming-trailers.html`. Verification of whole
//! requests (header and presigned query) is in [`super::auth`].

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of the empty string (the hash of an empty chunk).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, every other byte
/// is `%XX` (upper case); `/` is kept when `keep_slash`.
pub fn uri_encode_bytes(s: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
    out
}

/// [`uri_encode_bytes`] of a string.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    uri_encode_bytes(s.as_bytes(), keep_slash)
}

/// Percent-decode to bytes (`+` stays `+`, as in S3 paths and SigV4 queries).
pub fn decode_bytes(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// Percent-decode to text (invalid UTF-8 replaced).
pub fn decode(s: &str) -> String {
    String::from_utf8_lossy(&decode_bytes(s)).into_owned()
}

/// The query's (name, value) pairs, decoded, in order.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The canonical query string of a raw query, leaving out `skip` parameters (the
/// presigned `X-Amz-Signature`): each name and value decoded then encoded once,
/// sorted by name then value.
pub fn canonical_query(raw: &str, skip: &[&str]) -> String {
    let mut enc: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode_bytes(&decode_bytes(k), false),
                uri_encode_bytes(&decode_bytes(v), false),
            )
        })
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .collect();
    enc.sort();
    let mut out = String::new();
    for (i, (k, v)) in enc.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The canonical URI S3 signs: the path decoded, then every byte encoded once
/// (`/` kept). S3 does not normalise `.` or `//`.
pub fn canonical_uri(raw_path: &str) -> String {
    let enc = uri_encode_bytes(&decode_bytes(raw_path), true);
    if enc.is_empty() {
        "/".into()
    } else {
        enc
    }
}

/// A header value as canonical headers carry it: trimmed, inner runs of spaces and
/// tabs collapsed to one space.
pub fn trim_all(v: &str) -> String {
    v.split([' ', '\t'])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a SigV4 signature covers, as a client states it: the path as sent and the
/// decoded query parameters (a presigned URL's `X-Amz-Signature` is left out).
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub raw_path: &'a str,
    pub query: &'a [(String, String)],
    /// Lower-case names and values of the signed headers.
    pub signed_headers: &'a [(String, String)],
    pub payload_hash: &'a str,
}

/// The canonical query of decoded parameters, without `X-Amz-Signature`.
pub fn canonical_query_pairs(params: &[(String, String)]) -> String {
    let raw = params
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&");
    canonical_query(&raw, &[])
}

/// A request in canonical pieces (what the verifier builds from the wire).
pub struct Canonical<'a> {
    pub method: &'a str,
    /// The canonical URI (see [`canonical_uri`]).
    pub canonical_uri: &'a str,
    /// The canonical query string (see [`canonical_query`]).
    pub canonical_query: &'a str,
    /// Lower-case names and canonical values of the signed headers.
    pub signed_headers: &'a [(String, String)],
    pub payload_hash: &'a str,
}

pub fn canonical_request(r: &Canonical<'_>) -> String {
    let mut headers: Vec<&(String, String)> = r.signed_headers.iter().collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = format!("{}\n{}\n{}\n", r.method, r.canonical_uri, r.canonical_query);
    for (k, v) in &headers {
        out.push_str(k);
        out.push(':');
        out.push_str(v);
        out.push('\n');
    }
    out.push('\n');
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(r.payload_hash);
    out
}

/// The signing key for `date` (YYYYMMDD), `region`, `service`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// A credential scope `YYYYMMDD/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    /// Parse a scope; `None` unless it has the four parts and ends in `aws4_request`.
    pub fn parse(s: &str) -> Option<Scope> {
        let mut it = s.split('/');
        let (date, region, service, term) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some()
            || term != "aws4_request"
            || date.len() != 8
            || !date.bytes().all(|b| b.is_ascii_digit())
            || region.is_empty()
            || service.is_empty()
        {
            return None;
        }
        Some(Scope {
            date: date.into(),
            region: region.into(),
            service: service.into(),
        })
    }

    pub fn text(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }

    pub fn key(&self, secret: &str) -> Vec<u8> {
        signing_key(secret, &self.date, &self.region, &self.service)
    }
}

/// The string to sign of a request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signature of `req` at `amz_date` (YYYYMMDDTHHMMSSZ) for `scope`
/// (`date/region/service/aws4_request`), as a client computes it.
pub fn signature(secret: &str, amz_date: &str, scope: &str, req: &Request<'_>) -> String {
    let cu = canonical_uri(req.raw_path);
    let cq = canonical_query_pairs(req.query);
    let canonical = Canonical {
        method: req.method,
        canonical_uri: &cu,
        canonical_query: &cq,
        signed_headers: req.signed_headers,
        payload_hash: req.payload_hash,
    };
    let parts: Vec<&str> = scope.split('/').collect();
    let (date, region, service) = (
        parts.first().copied().unwrap_or(""),
        parts.get(1).copied().unwrap_or(""),
        parts.get(2).copied().unwrap_or(""),
    );
    signature_with_key(
        &signing_key(secret, date, region, service),
        amz_date,
        scope,
        &canonical,
    )
}

/// [`signature`] with a precomputed signing key.
pub fn signature_with_key(key: &[u8], amz_date: &str, scope: &str, req: &Canonical<'_>) -> String {
    let sts = string_to_sign(amz_date, scope, &canonical_request(req));
    hex::encode(hmac(key, sts.as_bytes()))
}

/// The signature of one `aws-chunked` chunk whose data hashes to `chunk_sha256_hex`,
/// chained to `previous` (the seed signature for the first chunk).
pub fn chunk_signature(
    key: &[u8],
    amz_date: &str,
    scope: &str,
    previous: &str,
    chunk_sha256_hex: &str,
) -> String {
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256_hex}"
    );
    hex::encode(hmac(key, sts.as_bytes()))
}

/// The signature of the trailer of an `aws-chunked` upload: `trailer` is the
/// canonical trailing headers, `name:value\n` each.
pub fn trailer_signature(
    key: &[u8],
    amz_date: &str,
    scope: &str,
    previous: &str,
    trailer: &str,
) -> String {
    let sts = format!(
        "AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n{}",
        sha256_hex(trailer.as_bytes())
    );
    hex::encode(hmac(key, sts.as_bytes()))
}

/// Constant-time comparison of two signatures.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `YYYYMMDDTHHMMSSZ` of Unix time `t`.
pub fn amz_date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Parse `YYYYMMDDTHHMMSSZ` to Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, f)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    //! Known answers from AWS's S3 documentation ("Signature Calculations for the
    //! Authorization Header", "… Query Parameters", "… Multiple Chunks"): access key
    //! AKIAIOSFODNN7EXAMPLE, secret below, 2013-05-24, us-east-1, bucket examplebucket.
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20130524T000000Z";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
    const HOST: &str = "examplebucket.s3.amazonaws.com";

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), trim_all(v)))
            .collect()
    }

    fn sign(method: &str, path: &str, query: &str, hdrs: &[(&str, &str)], payload: &str) -> String {
        let headers = h(hdrs);
        let cu = canonical_uri(path);
        let cq = canonical_query(query, &["X-Amz-Signature"]);
        let wire = signature_with_key(
            &Scope::parse(SCOPE).unwrap().key(SECRET),
            DATE,
            SCOPE,
            &Canonical {
                method,
                canonical_uri: &cu,
                canonical_query: &cq,
                signed_headers: &headers,
                payload_hash: payload,
            },
        );
        // The client-side form (decoded parameters) signs the same.
        let params = parse_query(query);
        let client = signature(
            SECRET,
            DATE,
            SCOPE,
            &Request {
                method,
                raw_path: path,
                query: &params,
                signed_headers: &headers,
                payload_hash: payload,
            },
        );
        assert_eq!(wire, client);
        wire
    }

    #[test]
    fn get_object_example() {
        let sig = sign(
            "GET",
            "/test.txt",
            "",
            &[
                ("host", HOST),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", DATE),
            ],
            EMPTY_SHA256,
        );
        assert_eq!(
            sig,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn put_object_example() {
        let payload = sha256_hex(b"Welcome to Amazon S3.");
        assert_eq!(
            payload,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        // The client sends `$` encoded; the canonical URI is the same either way.
        for path in ["/test%24file.text", "/test$file.text"] {
            let sig = sign(
                "PUT",
                path,
                "",
                &[
                    ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                    ("host", HOST),
                    ("x-amz-content-sha256", &payload),
                    ("x-amz-date", DATE),
                    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ],
                &payload,
            );
            assert_eq!(
                sig,
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            );
        }
    }

    #[test]
    fn get_bucket_lifecycle_example() {
        let sig = sign(
            "GET",
            "/",
            "lifecycle",
            &[
                ("host", HOST),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", DATE),
            ],
            EMPTY_SHA256,
        );
        assert_eq!(
            sig,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn list_objects_example() {
        // Parameters arrive unsorted; the canonical query sorts them.
        let sig = sign(
            "GET",
            "/",
            "prefix=J&max-keys=2",
            &[
                ("host", HOST),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", DATE),
            ],
            EMPTY_SHA256,
        );
        assert_eq!(
            sig,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn presigned_get_example() {
        let sig = sign(
            "GET",
            "/test.txt",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=ignored",
            &[("host", HOST)],
            "UNSIGNED-PAYLOAD",
        );
        assert_eq!(
            sig,
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn streaming_seed_and_chunk_signatures_example() {
        let seed = sign(
            "PUT",
            "/examplebucket/chunkObject.txt",
            "",
            &[
                ("content-encoding", "aws-chunked"),
                ("content-length", "66824"),
                ("host", "s3.amazonaws.com"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("x-amz-date", DATE),
                ("x-amz-decoded-content-length", "66560"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        );
        assert_eq!(
            seed,
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );
        let key = Scope::parse(SCOPE).unwrap().key(SECRET);
        let c1 = chunk_signature(&key, DATE, SCOPE, &seed, &sha256_hex(&[b'a'; 65536]));
        assert_eq!(
            c1,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
        let c2 = chunk_signature(&key, DATE, SCOPE, &c1, &sha256_hex(&[b'a'; 1024]));
        assert_eq!(
            c2,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        );
        let c3 = chunk_signature(&key, DATE, SCOPE, &c2, EMPTY_SHA256);
        assert_eq!(
            c3,
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        );
    }

    #[test]
    fn scopes_and_dates() {
        assert!(Scope::parse(SCOPE).is_some());
        for bad in [
            "",
            "20130524/us-east-1/s3",
            "2013052/us-east-1/s3/aws4_request",
            "20130524//s3/aws4_request",
            "20130524/us-east-1/s3/aws4_request/x",
            "20130524/us-east-1/s3/aws5_request",
        ] {
            assert!(Scope::parse(bad).is_none(), "{bad}");
        }
        let t = parse_amz_date(DATE).unwrap();
        assert_eq!(amz_date(t), DATE);
        assert!(parse_amz_date("2013-05-24").is_none());
        assert_eq!(trim_all("  a \t b  c "), "a b c");
        assert_eq!(canonical_query("b=2&a=&c", &[]), "a=&b=2&c=");
        assert_eq!(uri_encode("a b/ü~", true), "a%20b/%C3%BC~");
    }
}
