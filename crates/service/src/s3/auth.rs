//! Who is calling the object store. Credentials are the account's SecretId/SecretKey
//! (db/accounts.rs), proved by one of:
//! - AWS SigV4 in the `Authorization` header (payload: a SHA-256, `UNSIGNED-PAYLOAD`,
//!   or `STREAMING-…` aws-chunked, whose chunk signatures [`super::body`] verifies);
//! - AWS SigV4 presigned query (`X-Amz-Signature`, `X-Amz-Expires` ≤ 7 days);
//! - COS `q-sign-algorithm=sha1` in the `Authorization` header or the query
//!   ([`super::cos_auth`]);
//! - AWS SigV2 (`Authorization: AWS AKID:SIG`, or a query-string link with
//!   `AWSAccessKeyId`, `Expires`, `Signature`: what `aws s3 presign` makes without a
//!   region), [`super::sigv2`]. SigV2 names no region, so no region check applies.
//!
//! A request with none of them is anonymous (public-read objects only). Signatures are
//! verified exactly; a wrong one is `SignatureDoesNotMatch`, an unknown key
//! `InvalidAccessKeyId`, an expired URL `AccessDenied` "Request has expired".

use super::cos_auth;
use super::errors::S3Error;
use super::sigv2;
use super::sigv4::{self, Scope};
use crate::db::accounts::Account;
use crate::AppState;
use axum::http::{HeaderMap, StatusCode};

/// Longest lifetime of a presigned URL (S3's limit: 7 days).
pub const MAX_EXPIRES: i64 = 7 * 24 * 3600;
/// Largest difference between a signed request's time and ours (S3: 15 minutes).
pub const MAX_SKEW: i64 = 15 * 60;

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Account(Account),
}

/// Continues a SigV4 signature over the chunks of an `aws-chunked` body.
#[derive(Clone)]
pub struct ChunkSigner {
    pub key: Vec<u8>,
    pub amz_date: String,
    pub scope: String,
    /// The request's signature: the first chunk's "previous signature".
    pub seed: String,
}

/// What the signature says about the body.
pub enum Payload {
    /// Not covered by the signature (anonymous, presigned, COS, `UNSIGNED-PAYLOAD`).
    Unsigned,
    /// `x-amz-content-sha256: HEX`: the body must hash to it.
    Sha256(String),
    /// `aws-chunked` framing: `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` (signer
    /// set) or `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    Streaming {
        signer: Option<ChunkSigner>,
        trailer: bool,
    },
}

/// An authenticated request.
pub struct Auth {
    pub caller: Caller,
    pub payload: Payload,
    /// The signature, when the request is signed.
    pub signed: Option<Signed>,
}

/// What a signature says besides who signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The signature's key in the replay cache ([`crate::replay`]).
    pub replay_key: String,
    /// When the signature stops being accepted (Unix seconds; 0: unknown).
    pub expires_at: i64,
    /// SigV4: the region of the credential scope (COS signatures name none).
    pub scope_region: Option<String>,
    /// The signature came in the query (a presigned URL), not in `Authorization`.
    pub presigned: bool,
}

/// A verified presigned SigV4 URL.
pub struct Presigned {
    pub account: Account,
    pub signed: Signed,
}

/// Why authentication failed.
#[derive(Debug)]
pub enum AuthError {
    /// The signature fields are malformed or incomplete: (S3 code, message).
    Malformed(&'static str, String),
    UnknownKey,
    Mismatch,
    Expired,
    NotYetValid,
    Skewed,
    Db(crate::db::DbError),
}

impl From<crate::db::DbError> for AuthError {
    fn from(e: crate::db::DbError) -> Self {
        AuthError::Db(e)
    }
}

impl AuthError {
    pub fn into_s3(self) -> S3Error {
        match self {
            AuthError::Malformed(code, m) => S3Error::bad(code, m),
            AuthError::UnknownKey => S3Error::new(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The access key (SecretId) you provided does not exist in our records: use the SecretId of your account.",
            ),
            AuthError::Mismatch => S3Error::signature_mismatch(),
            AuthError::Expired => S3Error::denied("Request has expired"),
            AuthError::NotYetValid => S3Error::denied("Request is not valid yet"),
            AuthError::Skewed => S3Error::new(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large (more than 15 minutes); fix the client's clock.",
            ),
            AuthError::Db(e) => S3Error::internal(e),
        }
    }
}

/// The parts of a request authentication looks at.
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as sent (still percent-encoded).
    pub raw_path: &'a str,
    /// The query as sent.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// The object paths a COS signature may cover (`/key` or `/`; for a path-style
    /// request also `/bucket/key`).
    pub cos_paths: &'a [String],
    /// The path a SigV2 signature covers: `/bucket/key` as sent (for a virtual-hosted
    /// request `/bucket` + the path).
    pub sigv2_path: &'a str,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// All values of header `name`, canonicalised and comma-joined (SigV4 canonical form).
fn header_value(h: &HeaderMap, name: &str) -> Option<String> {
    let vals: Vec<String> = h
        .get_all(name)
        .iter()
        .map(|v| sigv4::trim_all(&String::from_utf8_lossy(v.as_bytes())))
        .collect();
    (!vals.is_empty()).then(|| vals.join(","))
}

fn account(st: &AppState, access_key: &str) -> Result<Account, AuthError> {
    st.db
        .account_by_secret_id(access_key)?
        .ok_or(AuthError::UnknownKey)
}

/// Authenticate a request at `now` (Unix seconds).
pub fn authenticate(st: &AppState, req: &RequestParts<'_>, now: i64) -> Result<Auth, AuthError> {
    let query = sigv4::parse_query(req.raw_query);
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let authz = header(req.headers, "authorization")
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let unsigned = |acct: Account, signed: Signed| Auth {
        caller: Caller::Account(acct),
        payload: Payload::Unsigned,
        signed: Some(signed),
    };
    let cos = |sig: cos_auth::CosSignature, presigned: bool| {
        let signed = Signed {
            replay_key: crate::replay::s3_key("cos", &sig.signature),
            expires_at: cos_auth::expiry(&sig),
            scope_region: None,
            presigned,
        };
        cos_auth::verify(st, &sig, req, &query, now).map(|a| unsigned(a, signed))
    };
    if let Some(a) = authz {
        if a.starts_with("q-sign-algorithm=") {
            return cos(cos_auth::parse(&sigv4::parse_query(a))?, false);
        }
        if let Some(rest) = a.strip_prefix("AWS4-HMAC-SHA256 ") {
            return header_sigv4(st, req, rest, now);
        }
        if let Some(rest) = a.strip_prefix("AWS ") {
            return header_sigv2(st, req, rest, now);
        }
        return Err(AuthError::Malformed(
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256, AWS (SigV2) or a COS q-sign-algorithm=sha1 signature.".into(),
        ));
    }
    if q("X-Amz-Signature").is_some() || q("X-Amz-Algorithm").is_some() {
        let lookup = |n: &str| header_value(req.headers, n);
        return presigned(st, req.method, req.raw_path, req.raw_query, &lookup, now)
            .map(|p| unsigned(p.account, p.signed));
    }
    if let Some(sign) = q("sign").filter(|s| s.starts_with("q-sign-algorithm=")) {
        // COS presigned URL with the whole signature in one `sign` parameter.
        return cos(cos_auth::parse(&sigv4::parse_query(sign))?, true);
    }
    if q("q-sign-algorithm").is_some() {
        return cos(cos_auth::parse(&query)?, true);
    }
    if q("Signature").is_some() || q("AWSAccessKeyId").is_some() {
        return presigned_v2(st, req.method, req.sigv2_path, req.raw_query, now)
            .map(|p| unsigned(p.account, p.signed));
    }
    Ok(Auth {
        caller: Caller::Anonymous,
        payload: Payload::Unsigned,
        signed: None,
    })
}

/// S3's answer to a SigV4 signature scoped to `scope_region` for a bucket in
/// `bucket_region` (R-REGION): 400 `AuthorizationHeaderMalformed` (a presigned URL:
/// `AuthorizationQueryParametersError`) naming the expected region in the message, a
/// `Region` element and `x-amz-bucket-region` — from which boto3 re-signs for the
/// right region by itself.
pub fn wrong_region(signed: &Signed, scope_region: &str, bucket_region: &str) -> S3Error {
    let (code, what) = if signed.presigned {
        (
            "AuthorizationQueryParametersError",
            "Error parsing the X-Amz-Credential parameter",
        )
    } else {
        (
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed",
        )
    };
    let shown = imgport_policy::text::clip(scope_region, 64);
    S3Error::bad(
        code,
        format!("{what}; the region '{shown}' is wrong; expecting '{bucket_region}' (the bucket's region, R-REGION): sign requests for this bucket with region {bucket_region}."),
    )
    .with("Region", bucket_region)
    .with_header("x-amz-bucket-region", bucket_region)
}

fn malformed(m: impl Into<String>) -> AuthError {
    AuthError::Malformed("AuthorizationHeaderMalformed", m.into())
}

/// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
fn header_sigv4(
    st: &AppState,
    req: &RequestParts<'_>,
    fields: &str,
    now: i64,
) -> Result<Auth, AuthError> {
    let (cred, names, sig) = sigv4_fields(fields)?;
    let (key, scope_text) = cred
        .split_once('/')
        .ok_or_else(|| malformed("Credential must be ACCESSKEY/DATE/REGION/s3/aws4_request."))?;
    let scope = Scope::parse(scope_text)
        .ok_or_else(|| malformed("Credential must be ACCESSKEY/DATE/REGION/s3/aws4_request."))?;
    let acct = account(st, key)?;
    let (amz_date, t) = sigv4_date(req.headers, &scope, now)?;
    let payload_text = header(req.headers, "x-amz-content-sha256").ok_or_else(|| {
        AuthError::Malformed(
            "InvalidRequest",
            "Missing required header for this request: x-amz-content-sha256".into(),
        )
    })?;
    let names =
        signed_header_names(names).ok_or_else(|| malformed("SignedHeaders must include host."))?;
    let signed: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), header_value(req.headers, n).unwrap_or_default()))
        .collect();
    let key_bytes = scope.key(&acct.secret_key);
    let scope_text = scope.text();
    let query = sigv4::canonical_query(req.raw_query, &[]);
    if !uri_candidates(req.raw_path).iter().any(|uri| {
        let want = sigv4::signature_with_key(
            &key_bytes,
            amz_date,
            &scope_text,
            &sigv4::Canonical {
                method: req.method,
                canonical_uri: uri,
                canonical_query: &query,
                signed_headers: &signed,
                payload_hash: payload_text,
            },
        );
        sigv4::same(&want, &sig.to_ascii_lowercase())
    }) {
        return Err(AuthError::Mismatch);
    }
    let payload = sigv4_payload(payload_text, || ChunkSigner {
        key: key_bytes.clone(),
        amz_date: amz_date.to_string(),
        scope: scope_text.clone(),
        seed: sig.to_ascii_lowercase(),
    })?;
    Ok(Auth {
        caller: Caller::Account(acct),
        payload,
        signed: Some(Signed {
            replay_key: crate::replay::s3_key("sigv4", sig),
            expires_at: t.saturating_add(MAX_SKEW),
            scope_region: Some(scope.region.clone()),
            presigned: false,
        }),
    })
}

/// SigV4's SignedHeaders list (`host;x-amz-date;…`), lower-cased; `None` when it does
/// not name `host`, which every SigV4 signature must cover.
fn signed_header_names(list: &str) -> Option<Vec<String>> {
    let names: Vec<String> = list
        .split(';')
        .filter(|n| !n.is_empty())
        .map(|n| n.to_ascii_lowercase())
        .collect();
    names.iter().any(|n| n == "host").then_some(names)
}

/// The `Credential=`, `SignedHeaders=` and `Signature=` fields of a SigV4
/// `Authorization` header, all three required.
fn sigv4_fields(fields: &str) -> Result<(&str, &str, &str), AuthError> {
    let (mut cred, mut names, mut sig) = (None, None, None);
    for part in fields.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            cred = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            names = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let (Some(cred), Some(names), Some(sig)) = (cred, names, sig) else {
        return Err(malformed(
            "The authorization header needs Credential=, SignedHeaders= and Signature=.",
        ));
    };
    Ok((cred, names, sig))
}

/// The request's `x-amz-date` and its Unix time: well formed, on the credential's
/// date, for service s3, and within [`MAX_SKEW`] of `now`.
fn sigv4_date<'h>(
    headers: &'h HeaderMap,
    scope: &Scope,
    now: i64,
) -> Result<(&'h str, i64), AuthError> {
    let amz_date = header(headers, "x-amz-date").ok_or_else(|| {
        AuthError::Malformed(
            "AccessDenied",
            "AWS authentication requires a valid x-amz-date header.".into(),
        )
    })?;
    let t = sigv4::parse_amz_date(amz_date)
        .ok_or_else(|| malformed("x-amz-date must be YYYYMMDDTHHMMSSZ."))?;
    if !amz_date.starts_with(&scope.date) {
        return Err(malformed(format!(
            "The credential date {} differs from the date of x-amz-date {amz_date}.",
            scope.date
        )));
    }
    if scope.service != "s3" {
        return Err(malformed(format!(
            "The credential names service {:?}; this endpoint is s3.",
            scope.service
        )));
    }
    if (now - t).abs() > MAX_SKEW {
        return Err(AuthError::Skewed);
    }
    Ok((amz_date, t))
}

/// What `x-amz-content-sha256` says about the body; `signer` continues the signature
/// over signed `aws-chunked` bodies.
fn sigv4_payload(
    payload_text: &str,
    signer: impl Fn() -> ChunkSigner,
) -> Result<Payload, AuthError> {
    Ok(match payload_text {
        "UNSIGNED-PAYLOAD" => Payload::Unsigned,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Payload::Streaming {
            signer: Some(signer()),
            trailer: false,
        },
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Payload::Streaming {
            signer: Some(signer()),
            trailer: true,
        },
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Payload::Streaming {
            signer: None,
            trailer: true,
        },
        h if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Payload::Sha256(h.to_ascii_lowercase())
        }
        other => {
            return Err(AuthError::Malformed(
                "InvalidArgument",
                format!("x-amz-content-sha256 {:?} is not a SHA-256 hex digest, UNSIGNED-PAYLOAD or a supported STREAMING- mode (SigV4a is not supported).", imgport_policy::text::clip(other, 80)),
            ))
        }
    })
}

/// Canonical URIs a signature may use: S3's (decoded, then encoded once) and, when it
/// differs, the path exactly as sent (clients that sign what they send).
fn uri_candidates(raw_path: &str) -> Vec<String> {
    let canonical = sigv4::canonical_uri(raw_path);
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    if raw != canonical {
        vec![canonical, raw.to_string()]
    } else {
        vec![canonical]
    }
}

fn query_error(m: impl Into<String>) -> AuthError {
    AuthError::Malformed("AuthorizationQueryParametersError", m.into())
}

/// Verify a presigned SigV4 request (query `X-Amz-*`): the signature first, then its
/// validity period. `header` gives the canonical value of a signed header. The
/// region of the credential scope is for the caller to check against the bucket's.
pub fn presigned(
    st: &AppState,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    header: &dyn Fn(&str) -> Option<String>,
    now: i64,
) -> Result<Presigned, AuthError> {
    let query = sigv4::parse_query(raw_query);
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if q("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(query_error("X-Amz-Algorithm must be AWS4-HMAC-SHA256."));
    }
    let (Some(cred), Some(amz_date), Some(expires), Some(names), Some(sig)) = (
        q("X-Amz-Credential"),
        q("X-Amz-Date"),
        q("X-Amz-Expires"),
        q("X-Amz-SignedHeaders"),
        q("X-Amz-Signature"),
    ) else {
        return Err(query_error(
            "A presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature.",
        ));
    };
    let (key, scope_text) = cred.split_once('/').ok_or_else(|| {
        query_error("X-Amz-Credential must be ACCESSKEY/DATE/REGION/s3/aws4_request.")
    })?;
    let scope = Scope::parse(scope_text)
        .filter(|s| s.service == "s3" && amz_date.starts_with(&s.date))
        .ok_or_else(|| query_error("X-Amz-Credential must be ACCESSKEY/DATE/REGION/s3/aws4_request, dated as X-Amz-Date."))?;
    let t = sigv4::parse_amz_date(amz_date)
        .ok_or_else(|| query_error("X-Amz-Date must be YYYYMMDDTHHMMSSZ."))?;
    let expires: i64 = expires
        .parse()
        .ok()
        .filter(|e| (1..=MAX_EXPIRES).contains(e))
        .ok_or_else(|| {
            query_error("X-Amz-Expires must be a number of seconds from 1 to 604800 (7 days).")
        })?;
    let names = signed_header_names(names)
        .ok_or_else(|| query_error("X-Amz-SignedHeaders must include host."))?;
    let acct = account(st, key)?;
    let signed: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), header(n).unwrap_or_default()))
        .collect();
    let payload = q("X-Amz-Content-Sha256").unwrap_or("UNSIGNED-PAYLOAD");
    let key_bytes = scope.key(&acct.secret_key);
    let scope_text = scope.text();
    let cq = sigv4::canonical_query(raw_query, &["X-Amz-Signature"]);
    let ok = uri_candidates(raw_path).iter().any(|uri| {
        let want = sigv4::signature_with_key(
            &key_bytes,
            amz_date,
            &scope_text,
            &sigv4::Canonical {
                method,
                canonical_uri: uri,
                canonical_query: &cq,
                signed_headers: &signed,
                payload_hash: payload,
            },
        );
        sigv4::same(&want, &sig.to_ascii_lowercase())
    });
    if !ok {
        return Err(AuthError::Mismatch);
    }
    if now > t + expires {
        return Err(AuthError::Expired);
    }
    if t > now + MAX_SKEW {
        return Err(AuthError::NotYetValid);
    }
    Ok(Presigned {
        account: acct,
        signed: Signed {
            replay_key: crate::replay::s3_key("sigv4", sig),
            expires_at: t.saturating_add(expires),
            scope_region: Some(scope.region.clone()),
            presigned: true,
        },
    })
}

/// `Authorization: AWS AKID:SIGNATURE` (SigV2): the string to sign from the method,
/// Content-MD5, Content-Type, Date (empty when `x-amz-date` is sent), the `x-amz-*`
/// headers and the resource; the request's date must be within [`MAX_SKEW`]. The body
/// is not covered (as with `UNSIGNED-PAYLOAD`).
fn header_sigv2(
    st: &AppState,
    req: &RequestParts<'_>,
    fields: &str,
    now: i64,
) -> Result<Auth, AuthError> {
    let (key, sig) = fields
        .trim()
        .split_once(':')
        .filter(|(k, s)| !k.is_empty() && !s.is_empty())
        .ok_or_else(|| malformed("A SigV2 Authorization header is `AWS ACCESSKEY:SIGNATURE`."))?;
    let h = |n: &str| header(req.headers, n).unwrap_or("");
    let amz_date = header(req.headers, "x-amz-date");
    let date_text = amz_date.unwrap_or_else(|| h("date"));
    let t = crate::timefmt::parse_http_date(date_text).ok_or_else(|| {
        AuthError::Malformed(
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header.".into(),
        )
    })?;
    if (now - t).abs() > MAX_SKEW {
        return Err(AuthError::Skewed);
    }
    let acct = account(st, key)?;
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let signed = sigv2::Signed {
        method: req.method,
        content_md5: h("content-md5"),
        content_type: h("content-type"),
        date_or_expires: if amz_date.is_some() { "" } else { date_text },
        amz_headers: &sigv2::canonical_amz_headers(&headers),
    };
    if !signed.verify(&acct.secret_key, req.sigv2_path, req.raw_query, sig) {
        return Err(AuthError::Mismatch);
    }
    Ok(Auth {
        caller: Caller::Account(acct),
        payload: Payload::Unsigned,
        signed: Some(Signed {
            replay_key: crate::replay::s3_key("sigv2", sig.trim()),
            expires_at: t.saturating_add(MAX_SKEW),
            scope_region: None,
            presigned: false,
        }),
    })
}

/// Verify a SigV2 query-string link (`AWSAccessKeyId`, `Expires`, `Signature`) of the
/// resource `path` (`/bucket/key`): the signature first, then that `Expires` (Unix
/// seconds) has not passed and is at most [`MAX_EXPIRES`] (+ clock skew) ahead.
pub fn presigned_v2(
    st: &AppState,
    method: &str,
    path: &str,
    raw_query: &str,
    now: i64,
) -> Result<Presigned, AuthError> {
    let query = sigv4::parse_query(raw_query);
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(key), Some(expires), Some(sig)) = (q("AWSAccessKeyId"), q("Expires"), q("Signature"))
    else {
        return Err(query_error(
            "A SigV2 presigned URL needs AWSAccessKeyId, Expires and Signature.",
        ));
    };
    let expires: i64 = expires
        .parse()
        .map_err(|_| query_error("Expires must be a Unix time in seconds."))?;
    let acct = account(st, key)?;
    let signed = sigv2::Signed {
        method,
        content_md5: "",
        content_type: "",
        date_or_expires: &expires.to_string(),
        amz_headers: "",
    };
    if !signed.verify(&acct.secret_key, path, raw_query, sig) {
        return Err(AuthError::Mismatch);
    }
    if now > expires {
        return Err(AuthError::Expired);
    }
    if expires > now + MAX_EXPIRES + MAX_SKEW {
        return Err(query_error(
            "Expires is more than 7 days ahead; presign the link for at most 604800 seconds.",
        ));
    }
    Ok(Presigned {
        account: acct,
        signed: Signed {
            replay_key: crate::replay::s3_key("sigv2", sig),
            expires_at: expires,
            scope_region: None,
            presigned: true,
        },
    })
}
