//! COS request signatures (`q-sign-algorithm=sha1`, as cos-python-sdk-v5 and the COS
//! console compute them), in the `Authorization` header or in a presigned URL's query:
//!
//! SignKey = HMAC-SHA1(SecretKey, KeyTime); HttpString = method\npath\nparams\nheaders\n
//! (lower-case names, values `quote(v, '-_.~')`, sorted, `&`-joined);
//! StringToSign = sha1\nSignTime\nSHA1(HttpString)\n; Signature = HMAC-SHA1(SignKey, StringToSign).

use super::xml::S3Error;
use crate::db::accounts::Account;
use crate::AppState;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

type HmacSha1 = Hmac<Sha1>;

/// The `q-*` fields of a COS signature.
pub struct CosSignature {
    pub ak: String,
    pub sign_time: String,
    pub key_time: String,
    pub header_list: Vec<String>,
    pub param_list: Vec<String>,
    pub signature: String,
}

fn quote(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Parse `q-sign-algorithm=sha1&q-ak=…` (header) or the same fields of a query.
pub fn parse(fields: &[(String, String)]) -> Option<CosSignature> {
    let f = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if !f("q-sign-algorithm")?.eq_ignore_ascii_case("sha1") {
        return None;
    }
    let list = |v: Option<String>| {
        v.unwrap_or_default()
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase())
            .collect()
    };
    Some(CosSignature {
        ak: f("q-ak")?,
        sign_time: f("q-sign-time")?,
        key_time: f("q-key-time")?,
        header_list: list(f("q-header-list")),
        param_list: list(f("q-url-param-list")),
        signature: f("q-signature")?.to_ascii_lowercase(),
    })
}

fn hmac_sha1_hex(key: &[u8], data: &[u8]) -> String {
    let mut m = HmacSha1::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    hex::encode(m.finalize().into_bytes())
}

/// The signature over `method`, decoded `path`, the request's `query` and `headers`.
pub fn compute(
    secret_key: &str,
    sig: &CosSignature,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let pick = |names: &[String], from: &[(String, String)]| {
        let mut v: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                let val = from
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                (quote(n).to_ascii_lowercase(), quote(val))
            })
            .collect();
        v.sort();
        v.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let http = format!(
        "{}\n{}\n{}\n{}\n",
        method.to_ascii_lowercase(),
        path,
        pick(&sig.param_list, query),
        pick(&sig.header_list, headers)
    );
    let sts = format!(
        "sha1\n{}\n{}\n",
        sig.sign_time,
        hex::encode(Sha1::digest(http.as_bytes()))
    );
    let key = hmac_sha1_hex(secret_key.as_bytes(), sig.key_time.as_bytes());
    hmac_sha1_hex(key.as_bytes(), sts.as_bytes())
}

/// Verify a COS signature; `path` is the decoded object path (`/key`), `query` the
/// request's parameters without the `q-*` signature fields.
pub fn verify(
    st: &AppState,
    sig: &CosSignature,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    now: i64,
) -> Result<Account, S3Error> {
    let acct = st.db.account_by_secret_id(&sig.ak)?.ok_or_else(|| {
        S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The SecretId you provided does not exist.",
        )
    })?;
    let hdrs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let params: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !k.starts_with("q-"))
        .cloned()
        .collect();
    // The SDK signs the host name without a port when it adds `host` itself.
    let mut ok = crate::s3::sigv4::same(
        &compute(&acct.secret_key, sig, method, path, &params, &hdrs),
        &sig.signature,
    );
    if !ok {
        let no_port: Vec<(String, String)> = hdrs
            .iter()
            .map(|(k, v)| {
                if k == "host" {
                    (k.clone(), v.split(':').next().unwrap_or("").to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
        ok = crate::s3::sigv4::same(
            &compute(&acct.secret_key, sig, method, path, &params, &no_port),
            &sig.signature,
        );
    }
    if !ok {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The calculated signature does not match the one you provided.",
        ));
    }
    let (start, end) = sig
        .sign_time
        .split_once(';')
        .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
        .ok_or_else(|| S3Error::denied("bad q-sign-time"))?;
    if now > end || now + 300 < start {
        return Err(S3Error::denied("Request has expired"));
    }
    Ok(acct)
}
