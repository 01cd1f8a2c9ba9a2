//! TC3-HMAC-SHA256, the Tencent Cloud API 3.0 signature, verified exactly:
//!
//! ```text
//! CanonicalRequest = Method \n "/" \n CanonicalQueryString \n CanonicalHeaders \n
//!                    SignedHeaders \n hex(sha256(payload))
//! StringToSign     = "TC3-HMAC-SHA256" \n X-TC-Timestamp \n Date/service/tc3_request \n
//!                    hex(sha256(CanonicalRequest))
//! Signature        = hex(HMAC(HMAC(HMAC(HMAC("TC3"+SecretKey, Date), service),
//!                    "tc3_request"), StringToSign))
//! ```
//!
//! Canonical headers are the signed ones, names and values lower-cased and trimmed,
//! `name:value\n` in the order `SignedHeaders` lists them; `SignedHeaders` must name
//! `content-type` and `host`, each once and present in the request. The credential
//! scope's date must be the UTC date of `X-TC-Timestamp`, which must be within
//! `max_skew` seconds of the server's clock (`AuthFailure.SignatureExpire`).

use super::error::{ApiCode, ApiError};
use crate::s3::sigv4::{hmac, same, sha256_hex};

/// The signature algorithm.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// Longest `Authorization` header parsed.
const MAX_AUTHORIZATION: usize = 2048;
/// Most signed headers.
const MAX_SIGNED_HEADERS: usize = 32;

/// The parts of a request the signature covers.
pub struct Signed<'a> {
    pub method: &'a str,
    /// The raw query string (empty for POST).
    pub query: &'a str,
    /// Header names (any case) and values.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

fn invalid(why: &str) -> ApiError {
    ApiError::new(
        ApiCode::AuthFailureInvalidAuthorization,
        format!("The Authorization header is invalid ({why}); expected `TC3-HMAC-SHA256 Credential=SECRETID/DATE/SERVICE/tc3_request, SignedHeaders=content-type;host, Signature=HEX`."),
    )
}

/// Parse `TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
pub fn parse(auth: &str) -> Result<Authorization, ApiError> {
    if auth.len() > MAX_AUTHORIZATION {
        return Err(invalid("too long"));
    }
    let rest = auth
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| invalid("the algorithm must be TC3-HMAC-SHA256"))?;
    let (mut cred, mut sh, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| invalid("a field without `=`"))?;
        let slot = match k {
            "Credential" => &mut cred,
            "SignedHeaders" => &mut sh,
            "Signature" => &mut sig,
            _ => return Err(invalid("an unknown field")),
        };
        if slot.replace(v).is_some() {
            return Err(invalid("a repeated field"));
        }
    }
    let (Some(cred), Some(sh), Some(sig)) = (cred, sh, sig) else {
        return Err(invalid(
            "Credential, SignedHeaders and Signature are required",
        ));
    };
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 4 || parts[3] != "tc3_request" || parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(
            "the credential must be SECRETID/DATE/SERVICE/tc3_request",
        ));
    }
    let signed_headers: Vec<String> = sh.split(';').map(str::to_string).collect();
    if signed_headers.is_empty()
        || signed_headers.len() > MAX_SIGNED_HEADERS
        || signed_headers
            .iter()
            .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(invalid(
            "SignedHeaders must be lower-case names separated by `;`",
        ));
    }
    if sig.len() != 64 || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("the signature must be 64 hexadecimal digits"));
    }
    Ok(Authorization {
        secret_id: parts[0].to_string(),
        date: parts[1].to_string(),
        service: parts[2].to_string(),
        signed_headers,
        signature: sig.to_ascii_lowercase(),
    })
}

/// The canonical request; `None` when a signed header is absent from the request.
pub fn canonical_request(a: &Authorization, req: &Signed<'_>) -> Option<String> {
    let mut canon_headers = String::new();
    for n in &a.signed_headers {
        let v = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.trim().to_ascii_lowercase())?;
        canon_headers.push_str(&format!("{n}:{v}\n"));
    }
    Some(format!(
        "{}\n/\n{}\n{}\n{}\n{}",
        req.method,
        req.query,
        canon_headers,
        a.signed_headers.join(";"),
        sha256_hex(req.body)
    ))
}

/// The string to sign for `canonical_request` at `timestamp` in `a`'s scope.
pub fn string_to_sign(a: &Authorization, timestamp: i64, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{}/{}/tc3_request\n{}",
        a.date,
        a.service,
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signature of `string_to_sign` with `secret_key` for `a`'s date and service.
pub fn sign(secret_key: &str, a: &Authorization, string_to_sign: &str) -> String {
    let k = hmac(format!("TC3{secret_key}").as_bytes(), a.date.as_bytes());
    let k = hmac(&k, a.service.as_bytes());
    let k = hmac(&k, b"tc3_request");
    hex::encode(hmac(&k, string_to_sign.as_bytes()))
}

/// The `Authorization` header of a client's JSON POST, signed over `content-type;host`
/// as the SDKs sign it — the steps [`verify`] checks, in reverse (`imgport api`,
/// `imgport images`, `imgport messages`).
pub fn client_authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    headers: &[(String, String)],
    body: &[u8],
    timestamp: i64,
) -> Option<String> {
    let a = Authorization {
        secret_id: secret_id.to_string(),
        date: utc_date(timestamp)?,
        service: service.to_string(),
        signed_headers: vec!["content-type".into(), "host".into()],
        signature: String::new(),
    };
    let req = Signed {
        method: "POST",
        query: "",
        headers,
        body,
    };
    let canonical = canonical_request(&a, &req)?;
    let signature = sign(secret_key, &a, &string_to_sign(&a, timestamp, &canonical));
    Some(format!(
        "{ALGORITHM} Credential={}/{}/{}/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
        a.secret_id, a.date, a.service
    ))
}

/// The UTC date (`YYYY-MM-DD`) of a Unix time.
pub fn utc_date(timestamp: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(timestamp)
        .ok()?
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .ok()
}

/// Verify `a` over `req` with `secret_key`, for the API of `service`; `timestamp`
/// (X-TC-Timestamp) and `now` in Unix seconds.
pub fn verify(
    secret_key: &str,
    a: &Authorization,
    req: &Signed<'_>,
    service: &str,
    timestamp: i64,
    now: i64,
    max_skew: i64,
) -> Result<(), ApiError> {
    let failure = |why: String| ApiError::new(ApiCode::AuthFailureSignatureFailure, why);
    if now.abs_diff(timestamp) > max_skew.max(0) as u64 {
        return Err(ApiError::new(
            ApiCode::AuthFailureSignatureExpire,
            format!("Signature expired: X-TC-Timestamp {timestamp} is more than {max_skew} s from the server time {now}; check your clock."),
        ));
    }
    if a.service != service {
        return Err(failure(format!(
            "The credential scope names service `{}`; this endpoint is `{service}`.",
            a.service
        )));
    }
    let date = utc_date(timestamp).unwrap_or_default();
    if date != a.date {
        return Err(failure(format!(
            "The credential scope date {} is not the UTC date of X-TC-Timestamp ({date}).",
            a.date
        )));
    }
    for required in ["content-type", "host"] {
        if !a.signed_headers.iter().any(|h| h == required) {
            return Err(failure(format!(
                "SignedHeaders must include `{required}` (content-type and host are always signed)."
            )));
        }
    }
    let mut seen = a.signed_headers.clone();
    seen.sort();
    seen.dedup();
    if seen.len() != a.signed_headers.len() {
        return Err(failure("SignedHeaders names a header twice.".into()));
    }
    let canonical = canonical_request(a, req)
        .ok_or_else(|| failure("A header named in SignedHeaders is not in the request.".into()))?;
    let want = sign(secret_key, a, &string_to_sign(a, timestamp, &canonical));
    if !same(&want, &a.signature) {
        return Err(failure(
            "The provided credentials could not be validated. Please check your signature is correct.".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Tencent Cloud's "Signature v3" document (API 3.0, CVM
    /// DescribeInstances, 2019-02-25): each intermediate value it prints.
    const DOC_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    const DOC_PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const DOC_AUTH: &str = "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168";

    fn doc_headers() -> Vec<(String, String)> {
        vec![
            (
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("Host".into(), "cvm.tencentcloudapi.com".into()),
            ("X-TC-Action".into(), "DescribeInstances".into()),
            ("X-TC-Timestamp".into(), "1551113065".into()),
        ]
    }

    /// The client side signs the documented example to the documented header.
    #[test]
    fn a_client_signs_the_documented_example() {
        let auth = client_authorization(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            DOC_KEY,
            "cvm",
            &doc_headers(),
            DOC_PAYLOAD.as_bytes(),
            1551113065,
        );
        assert_eq!(auth.as_deref(), Some(DOC_AUTH));
    }

    #[test]
    fn the_documented_example_signature() {
        let a = parse(DOC_AUTH).unwrap();
        assert_eq!(a.secret_id, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE");
        let headers = doc_headers();
        let req = Signed {
            method: "POST",
            query: "",
            headers: &headers,
            body: DOC_PAYLOAD.as_bytes(),
        };
        assert_eq!(
            sha256_hex(DOC_PAYLOAD.as_bytes()),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let canonical = canonical_request(&a, &req).unwrap();
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let sts = string_to_sign(&a, 1551113065, &canonical);
        assert_eq!(
            sts,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            sign(DOC_KEY, &a, &sts),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        verify(DOC_KEY, &a, &req, "cvm", 1551113065, 1551113065 + 299, 300).unwrap();
    }

    fn doc_verify(
        auth: &str,
        key: &str,
        headers: &[(String, String)],
        body: &str,
        ts: i64,
        now: i64,
    ) -> Result<(), ApiError> {
        let a = parse(auth)?;
        let req = Signed {
            method: "POST",
            query: "",
            headers,
            body: body.as_bytes(),
        };
        verify(key, &a, &req, "cvm", ts, now, 300)
    }

    #[test]
    fn anything_changed_is_refused_with_the_right_code() {
        let h = doc_headers();
        let t = 1551113065;
        let code = |r: Result<(), ApiError>| r.unwrap_err().code;
        // Another key, body, header value, or timestamp.
        assert_eq!(
            code(doc_verify(DOC_AUTH, "other", &h, DOC_PAYLOAD, t, t)),
            "AuthFailure.SignatureFailure"
        );
        assert_eq!(
            code(doc_verify(DOC_AUTH, DOC_KEY, &h, "{}", t, t)),
            "AuthFailure.SignatureFailure"
        );
        let mut h2 = h.clone();
        h2[1].1 = "evil.example".into();
        assert_eq!(
            code(doc_verify(DOC_AUTH, DOC_KEY, &h2, DOC_PAYLOAD, t, t)),
            "AuthFailure.SignatureFailure"
        );
        assert_eq!(
            code(doc_verify(DOC_AUTH, DOC_KEY, &h, DOC_PAYLOAD, t + 1, t)),
            "AuthFailure.SignatureFailure"
        );
        // Header names are case-insensitive, values compared lower-cased and trimmed.
        let mut h3 = h.clone();
        h3[0] = (
            "content-type".into(),
            "  Application/JSON; charset=UTF-8 ".into(),
        );
        doc_verify(DOC_AUTH, DOC_KEY, &h3, DOC_PAYLOAD, t, t).unwrap();
        // A signed header missing from the request.
        let h4: Vec<_> = h.iter().filter(|(k, _)| k != "Host").cloned().collect();
        assert_eq!(
            code(doc_verify(DOC_AUTH, DOC_KEY, &h4, DOC_PAYLOAD, t, t)),
            "AuthFailure.SignatureFailure"
        );
        // Clock skew, both ways.
        assert_eq!(
            code(doc_verify(DOC_AUTH, DOC_KEY, &h, DOC_PAYLOAD, t, t + 301)),
            "AuthFailure.SignatureExpire"
        );
        assert_eq!(
            code(doc_verify(DOC_AUTH, DOC_KEY, &h, DOC_PAYLOAD, t, t - 301)),
            "AuthFailure.SignatureExpire"
        );
        // The scope's date must be the timestamp's UTC date; the service ours.
        let other_date = DOC_AUTH.replace("2019-02-25", "2019-02-26");
        assert!(
            code(doc_verify(&other_date, DOC_KEY, &h, DOC_PAYLOAD, t, t))
                .as_str()
                .ends_with("SignatureFailure")
        );
        let other_service = DOC_AUTH.replace("/cvm/", "/cbs/");
        assert!(doc_verify(&other_service, DOC_KEY, &h, DOC_PAYLOAD, t, t)
            .unwrap_err()
            .message
            .contains("service `cbs`"));
        // content-type and host must be signed.
        let only_host = DOC_AUTH.replace("SignedHeaders=content-type;host", "SignedHeaders=host");
        assert!(doc_verify(&only_host, DOC_KEY, &h, DOC_PAYLOAD, t, t)
            .unwrap_err()
            .message
            .contains("content-type"));
        let twice = DOC_AUTH.replace("content-type;host", "content-type;host;host");
        assert_eq!(
            code(doc_verify(&twice, DOC_KEY, &h, DOC_PAYLOAD, t, t)),
            "AuthFailure.SignatureFailure"
        );
    }

    #[test]
    fn malformed_headers_are_invalid_authorization() {
        let sig = "0".repeat(64);
        for bad in [
            String::new(),
            "Bearer x".into(),
            format!("TC3-HMAC-SHA1 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm, SignedHeaders=content-type;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=Content-Type;host, Signature={sig}"),
            "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=xyz".into(),
            format!("TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, Credential=b/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders={}, Signature={sig}", vec!["x"; 40].join(";")),
            "x".repeat(5000),
        ] {
            assert_eq!(parse(&bad).unwrap_err().code, "AuthFailure.InvalidAuthorization", "{bad}");
        }
    }

    #[test]
    fn utc_dates() {
        // 2019-02-26 00:44:25 in UTC+8 is still 2019-02-25 in UTC (the document's note).
        assert_eq!(utc_date(1551113065).as_deref(), Some("2019-02-25"));
        assert_eq!(utc_date(0).as_deref(), Some("1970-01-01"));
        assert_eq!(utc_date(i64::MAX), None);
    }
}
