//! AWS Signature Version 2, as S3-compatible stores still accept it (issue 15 item 3):
//! `aws s3 presign` without `--region` makes a SigV2 link (`AWSAccessKeyId`, `Expires`,
//! `Signature`), and older tools sign headers with `Authorization: AWS AKID:SIGNATURE`.
//! From the S3 document "Signing and authenticating REST requests":
//!
//! ```text
//! Signature    = Base64(HMAC-SHA1(SecretKey, StringToSign))
//! StringToSign = VERB \n Content-MD5 \n Content-Type \n Date \n
//!                CanonicalizedAmzHeaders CanonicalizedResource
//! ```
//!
//! A query-string link puts `Expires` (Unix seconds) where the header form puts `Date`
//! (empty when `x-amz-date` is sent: that one is among the amz headers). The resource is
//! `/BUCKET/KEY` as sent (for a virtual-hosted request, `/BUCKET` + the path), followed by
//! the sub-resources of the query that S3 signs, sorted, values decoded.

use super::sigv4::{decode, same};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Query parameters that are part of the signed resource (S3's list; `response-*`
/// overrides included).
const SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The canonicalized resource: `path` (`/BUCKET/KEY`, still encoded as sent) and the
/// signed sub-resources of `raw_query`.
pub fn canonical_resource(path: &str, raw_query: &str) -> String {
    let mut subs: Vec<(String, Option<String>)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (decode(k), Some(decode(v))),
                None => (decode(p), None),
            };
            SUBRESOURCES.contains(&k.as_str()).then_some((k, v))
        })
        .collect();
    subs.sort();
    let mut out = if path.is_empty() { "/" } else { path }.to_string();
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The paths a signature of `path` may have covered: the path as sent and, for a
/// request that names only a bucket (`/bucket`), also `/bucket/` — what botocore signs
/// for path-style bucket requests and S3 accepts.
pub fn path_candidates(path: &str) -> Vec<String> {
    let mut out = vec![path.to_string()];
    if path.len() > 1 && path.starts_with('/') && !path[1..].contains('/') {
        out.push(format!("{path}/"));
    }
    out
}

/// The `x-amz-*` headers as signed: names lower-cased and sorted, values of one name
/// comma-joined, each `name:value\n`.
pub fn canonical_amz_headers(headers: &[(String, String)]) -> String {
    let mut amz: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), super::sigv4::trim_all(v)))
        .filter(|(k, _)| k.starts_with("x-amz-"))
        .collect();
    amz.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    let mut i = 0;
    while i < amz.len() {
        let name = &amz[i].0;
        let mut vals = vec![amz[i].1.clone()];
        let mut j = i + 1;
        while j < amz.len() && amz[j].0 == *name {
            vals.push(amz[j].1.clone());
            j += 1;
        }
        out.push_str(&format!("{name}:{}\n", vals.join(",")));
        i = j;
    }
    out
}

/// The string to sign.
pub fn string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date_or_expires: &str,
    amz_headers: &str,
    resource: &str,
) -> String {
    format!("{method}\n{content_md5}\n{content_type}\n{date_or_expires}\n{amz_headers}{resource}")
}

/// `Base64(HMAC-SHA1(secret_key, string_to_sign))`.
pub fn signature(secret_key: &str, string_to_sign: &str) -> String {
    let Ok(mut m) = Hmac::<Sha1>::new_from_slice(secret_key.as_bytes()) else {
        return String::new();
    };
    m.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// Whether `given` (as sent, Base64) is the signature `want`, in constant time.
pub fn matches(want: &str, given: &str) -> bool {
    same(want, given.trim())
}

/// What a SigV2 signature covers besides the resource: the header form's Content-MD5,
/// Content-Type, Date (or a link's Expires) and canonical `x-amz-*` headers.
pub struct Signed<'a> {
    pub method: &'a str,
    pub content_md5: &'a str,
    pub content_type: &'a str,
    pub date_or_expires: &'a str,
    pub amz_headers: &'a str,
}

impl Signed<'_> {
    /// Whether `given` signs this request for `path` (any of [`path_candidates`]) and
    /// the sub-resources of `raw_query` with `secret_key`.
    pub fn verify(&self, secret_key: &str, path: &str, raw_query: &str, given: &str) -> bool {
        path_candidates(path).iter().any(|p| {
            let sts = string_to_sign(
                self.method,
                self.content_md5,
                self.content_type,
                self.date_or_expires,
                self.amz_headers,
                &canonical_resource(p, raw_query),
            );
            matches(&signature(secret_key, &sts), given)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked examples of the S3 document (Signature Version 2, "Authentication
    /// examples"), with its example key.
    const KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn the_documented_object_get() {
        let sts = string_to_sign(
            "GET",
            "",
            "",
            "Tue, 27 Mar 2007 19:36:42 +0000",
            "",
            &canonical_resource("/awsexamplebucket1/photos/puppy.jpg", ""),
        );
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(signature(KEY, &sts), "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    }

    /// The query-string example (its older edition names the bucket `johnsmith`).
    #[test]
    fn the_documented_query_string_link() {
        let sts = string_to_sign(
            "GET",
            "",
            "",
            "1175139620",
            "",
            &canonical_resource("/johnsmith/photos/puppy.jpg", ""),
        );
        assert_eq!(signature(KEY, &sts), "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    }

    #[test]
    fn amz_headers_and_sub_resources() {
        let h = vec![
            (
                "X-Amz-Meta-ReviewedBy".to_string(),
                "joe@example.com".to_string(),
            ),
            (
                "x-amz-meta-reviewedby".to_string(),
                "jane@example.com".to_string(),
            ),
            (
                "X-Amz-Date".to_string(),
                "Tue, 27 Mar 2007 21:06:08 +0000".to_string(),
            ),
            ("Content-Type".to_string(), "image/jpeg".to_string()),
        ];
        assert_eq!(
            canonical_amz_headers(&h),
            "x-amz-date:Tue, 27 Mar 2007 21:06:08 +0000\nx-amz-meta-reviewedby:joe@example.com,jane@example.com\n"
        );
        assert_eq!(
            canonical_resource("/b/k", "uploadId=abc&partNumber=2&x-id=PutObject&prefix=z"),
            "/b/k?partNumber=2&uploadId=abc"
        );
        assert_eq!(canonical_resource("/b", "acl"), "/b?acl");
        assert_eq!(path_candidates("/b"), vec!["/b", "/b/"]);
        assert_eq!(path_candidates("/b/k"), vec!["/b/k"]);
        assert_eq!(path_candidates("/"), vec!["/"]);
        assert!(matches(&signature(KEY, "x"), &signature(KEY, "x")));
        assert!(!matches(&signature(KEY, "x"), &signature(KEY, "y")));
    }
}
