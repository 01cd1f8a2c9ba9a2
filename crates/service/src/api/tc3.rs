//! TC3-HMAC-SHA256 (Tencent Cloud API 3.0 signature v3), verified exactly: canonical
//! request (method, `/`, query, signed headers incl. `content-type` and `host`, hashed
//! payload), credential scope `DATE/SERVICE/tc3_request` matching `X-TC-Timestamp`,
//! and the clock-skew window (`AuthFailure.SignatureExpire`).

use super::error::ApiError;
use crate::s3::sigv4::{hmac, same, sha256_hex};

/// The parts of a request the signature covers.
pub struct Signed<'a> {
    pub method: &'a str,
    pub query: &'a str,
    /// Lower-case header names and values.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// A parsed `Authorization` header.
pub struct Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse(auth: &str) -> Result<Authorization, ApiError> {
    let bad = || {
        ApiError::new("AuthFailure.InvalidAuthorization", "Authorization header is malformed; expected `TC3-HMAC-SHA256 Credential=…/DATE/SERVICE/tc3_request, SignedHeaders=…, Signature=…`")
    };
    let rest = auth.strip_prefix("TC3-HMAC-SHA256 ").ok_or_else(bad)?;
    let (mut cred, mut sh, mut sig) = ("", "", "");
    for p in rest.split(',') {
        let p = p.trim();
        if let Some(v) = p.strip_prefix("Credential=") {
            cred = v;
        } else if let Some(v) = p.strip_prefix("SignedHeaders=") {
            sh = v;
        } else if let Some(v) = p.strip_prefix("Signature=") {
            sig = v;
        }
    }
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 4 || parts[3] != "tc3_request" || sh.is_empty() || sig.is_empty() {
        return Err(bad());
    }
    Ok(Authorization {
        secret_id: parts[0].to_string(),
        date: parts[1].to_string(),
        service: parts[2].to_string(),
        signed_headers: sh.split(';').map(|s| s.to_ascii_lowercase()).collect(),
        signature: sig.to_ascii_lowercase(),
    })
}

/// The signature of `req` with `secret_key` at `timestamp` for `a`'s scope.
pub fn signature(secret_key: &str, timestamp: i64, a: &Authorization, req: &Signed<'_>) -> String {
    let mut names = a.signed_headers.clone();
    names.sort();
    let canon_headers: String = names
        .iter()
        .map(|n| {
            let v = req
                .headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.trim().to_ascii_lowercase())
                .unwrap_or_default();
            format!("{n}:{v}\n")
        })
        .collect();
    let canonical = format!(
        "{}\n/\n{}\n{}\n{}\n{}",
        req.method,
        req.query,
        canon_headers,
        names.join(";"),
        sha256_hex(req.body)
    );
    let scope = format!("{}/{}/tc3_request", a.date, a.service);
    let sts = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let k = hmac(format!("TC3{secret_key}").as_bytes(), a.date.as_bytes());
    let k = hmac(&k, a.service.as_bytes());
    let k = hmac(&k, b"tc3_request");
    hex::encode(hmac(&k, sts.as_bytes()))
}

/// Verify `a` over `req` with `secret_key`; `now` and `timestamp` in Unix seconds.
pub fn verify(
    secret_key: &str,
    a: &Authorization,
    req: &Signed<'_>,
    timestamp: i64,
    now: i64,
    max_skew: i64,
) -> Result<(), ApiError> {
    if (now - timestamp).abs() > max_skew {
        return Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            format!("Signature expired: X-TC-Timestamp {timestamp} is more than {max_skew} s from the server time {now}"),
        ));
    }
    let date = time::OffsetDateTime::from_unix_timestamp(timestamp)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default();
    if date != a.date {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            format!(
                "the credential scope date {} does not match X-TC-Timestamp's UTC date {date}",
                a.date
            ),
        ));
    }
    if !a.signed_headers.iter().any(|h| h == "content-type")
        || !a.signed_headers.iter().any(|h| h == "host")
    {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "SignedHeaders must include content-type and host",
        ));
    }
    let want = signature(secret_key, timestamp, a, req);
    if !same(&want, &a.signature) {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        ));
    }
    Ok(())
}
