//! Who is calling the object store: an account proved by a SigV4 signature (header or
//! presigned query), or anonymous (public-read objects only).

use super::sigv4::{self, Request};
use super::xml::S3Error;
use crate::db::accounts::Account;
use crate::AppState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

/// Most a presigned URL may live (S3's own limit: 7 days).
const MAX_EXPIRES: i64 = 7 * 24 * 3600;

pub enum Caller {
    Anonymous,
    Account(Account),
}

/// Parse `YYYYMMDDTHHMMSSZ` to Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, f)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn signed(h: &HeaderMap, names: &str) -> Result<Vec<(String, String)>, S3Error> {
    names
        .split(';')
        .filter(|n| !n.is_empty())
        .map(|n| {
            let n = n.to_ascii_lowercase();
            let v = h
                .get_all(n.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",");
            if v.is_empty() && n != "content-md5" && n != "content-type" {
                Err(S3Error::denied(format!("signed header {n} is missing")))
            } else {
                Ok((n, v.trim().to_string()))
            }
        })
        .collect()
}

fn account(state: &AppState, access_key: &str) -> Result<Account, S3Error> {
    state.db.account_by_secret_id(access_key)?.ok_or_else(|| {
        S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    })
}

fn mismatch() -> S3Error {
    S3Error::new(
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
}

/// Authenticate the request. `now` is Unix seconds.
pub fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now: i64,
) -> Result<Caller, S3Error> {
    let query = sigv4::parse_query(uri.query().unwrap_or(""));
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(auth) =
        header(headers, "authorization").filter(|a| a.starts_with("q-sign-algorithm="))
    {
        let fields = sigv4::parse_query(auth);
        let sig = super::cos_auth::parse(&fields)
            .ok_or_else(|| S3Error::denied("malformed COS Authorization"))?;
        let path = cos_path(uri, headers);
        return super::cos_auth::verify(state, &sig, method.as_str(), &path, &query, headers, now)
            .map(Caller::Account);
    }
    if let Some(sig) = super::cos_auth::parse(&query) {
        let path = cos_path(uri, headers);
        return super::cos_auth::verify(state, &sig, method.as_str(), &path, &query, headers, now)
            .map(Caller::Account);
    }
    if let Some(auth) = header(headers, "authorization").filter(|a| !a.is_empty()) {
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(|| S3Error::denied("only AWS4-HMAC-SHA256 signatures are accepted"))?;
        let mut cred = "";
        let mut names = "";
        let mut sig = "";
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                cred = v;
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                names = v;
            } else if let Some(v) = part.strip_prefix("Signature=") {
                sig = v;
            }
        }
        let (key, scope) = cred
            .split_once('/')
            .ok_or_else(|| S3Error::denied("malformed Credential"))?;
        let acct = account(state, key)?;
        let amz_date = header(headers, "x-amz-date")
            .ok_or_else(|| S3Error::denied("x-amz-date is missing"))?;
        let t = parse_amz_date(amz_date).ok_or_else(|| S3Error::denied("bad x-amz-date"))?;
        if (now - t).abs() > state.config.max_clock_skew_secs.max(300) * 3 {
            return Err(S3Error::new(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large.",
            ));
        }
        let payload = header(headers, "x-amz-content-sha256").unwrap_or("UNSIGNED-PAYLOAD");
        let hdrs = signed(headers, names)?;
        let req = Request {
            method: method.as_str(),
            raw_path: uri.path(),
            query: &query,
            signed_headers: &hdrs,
            payload_hash: payload,
        };
        let want = sigv4::signature(&acct.secret_key, amz_date, scope, &req);
        if !sigv4::same(&want, sig) {
            return Err(mismatch());
        }
        return Ok(Caller::Account(acct));
    }
    if let Some(sig) = q("X-Amz-Signature") {
        return presigned(state, method, uri, headers, &query, sig, now).map(Caller::Account);
    }
    Ok(Caller::Anonymous)
}

/// Verify a presigned (query) SigV4 request: signature, date and expiry.
pub fn presigned(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: &[(String, String)],
    sig: &str,
    now: i64,
) -> Result<Account, S3Error> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if q("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(S3Error::denied(
            "only AWS4-HMAC-SHA256 presigned URLs are accepted",
        ));
    }
    let cred = q("X-Amz-Credential").unwrap_or("");
    let (key, scope) = cred
        .split_once('/')
        .ok_or_else(|| S3Error::denied("malformed X-Amz-Credential"))?;
    let acct = account(state, key)?;
    let amz_date = q("X-Amz-Date").unwrap_or("");
    let t = parse_amz_date(amz_date).ok_or_else(|| S3Error::denied("bad X-Amz-Date"))?;
    let expires: i64 = q("X-Amz-Expires")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| S3Error::denied("X-Amz-Expires is missing"))?;
    if !(1..=MAX_EXPIRES).contains(&expires) {
        return Err(S3Error::denied(
            "X-Amz-Expires must be between 1 and 604800",
        ));
    }
    let hdrs = signed(headers, q("X-Amz-SignedHeaders").unwrap_or("host"))?;
    let req = Request {
        method: method.as_str(),
        raw_path: uri.path(),
        query,
        signed_headers: &hdrs,
        payload_hash: "UNSIGNED-PAYLOAD",
    };
    let want = sigv4::signature(&acct.secret_key, amz_date, scope, &req);
    if !sigv4::same(&want, sig) {
        return Err(mismatch());
    }
    if now > t + expires {
        return Err(S3Error::denied("Request has expired"));
    }
    if t > now + 900 {
        return Err(S3Error::denied("Request is not yet valid"));
    }
    Ok(acct)
}

/// The object path a COS signature covers: the decoded key with a leading `/`
/// (virtual-host style: the bucket is in the Host header).
fn cos_path(uri: &Uri, headers: &HeaderMap) -> String {
    let host = header(headers, "host");
    match super::bucket_and_key(uri.path(), host) {
        (_, Some(k)) => format!("/{k}"),
        _ => "/".into(),
    }
}
