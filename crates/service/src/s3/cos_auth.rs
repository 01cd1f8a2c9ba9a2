//! COS request signatures (`q-sign-algorithm=sha1`), as cos-python-sdk-v5 and the COS
//! console compute them, in the `Authorization` header, in the query (`q-*`
//! parameters of a presigned URL) or in one `sign` parameter:
//!
//! SignKey = HMAC-SHA1(SecretKey, KeyTime) (hex);
//! HttpString = method\npath\nparams\nheaders\n (lower-case names, names and values
//! `quote(v, '-_.~')`, sorted, `&`-joined; path = the decoded object path `/key`);
//! StringToSign = sha1\nSignTime\nhex(SHA1(HttpString))\n;
//! Signature = HMAC-SHA1(SignKey, StringToSign) (hex).
//! <https://cloud.tencent.com/document/product/436/7778>

use super::auth::{AuthError, RequestParts, MAX_SKEW};
use super::sigv4;
use crate::db::accounts::Account;
use crate::AppState;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

type HmacSha1 = Hmac<Sha1>;

/// The `q-*` fields of a COS signature.
#[derive(Debug, Clone)]
pub struct CosSignature {
    pub ak: String,
    pub sign_time: String,
    pub key_time: String,
    /// Lower-case, encoded names of the signed headers.
    pub header_list: Vec<String>,
    /// Lower-case, encoded names of the signed query parameters.
    pub param_list: Vec<String>,
    pub signature: String,
}

/// `quote(s, safe='-_.~')`: every byte but unreserved ones as `%XX`.
pub fn quote(s: &str) -> String {
    sigv4::uri_encode(s, false)
}

fn malformed(m: &str) -> AuthError {
    AuthError::Malformed("InvalidArgument", format!("COS signature: {m}"))
}

/// Parse the `q-*` fields (of the `Authorization` header or of the query).
pub fn parse(fields: &[(String, String)]) -> Result<CosSignature, AuthError> {
    let f = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let algo = f("q-sign-algorithm").unwrap_or_default();
    if !algo.eq_ignore_ascii_case("sha1") {
        return Err(malformed("q-sign-algorithm must be sha1"));
    }
    let list = |v: Option<String>| -> Vec<String> {
        v.unwrap_or_default()
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase())
            .collect()
    };
    let need = |k: &str| {
        f(k).filter(|v| !v.is_empty())
            .ok_or_else(|| malformed(&format!("{k} is missing")))
    };
    let sig = CosSignature {
        ak: need("q-ak")?,
        sign_time: need("q-sign-time")?,
        key_time: need("q-key-time")?,
        header_list: list(f("q-header-list")),
        param_list: list(f("q-url-param-list")),
        signature: need("q-signature")?.to_ascii_lowercase(),
    };
    if sig.header_list.len() > 64 || sig.param_list.len() > 64 {
        return Err(malformed("too many signed headers or parameters"));
    }
    Ok(sig)
}

fn hmac_sha1_hex(key: &[u8], data: &[u8]) -> String {
    let mut m = HmacSha1::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    hex::encode(m.finalize().into_bytes())
}

/// SignKey = hex(HMAC-SHA1(SecretKey, KeyTime)).
pub fn sign_key(secret_key: &str, key_time: &str) -> String {
    hmac_sha1_hex(secret_key.as_bytes(), key_time.as_bytes())
}

/// `name=value&…` of the listed names, values from `value` (missing = empty).
fn pairs(names: &[String], value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut v: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), quote(&value(n).unwrap_or_default())))
        .collect();
    v.sort();
    v.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The signature over `method`, decoded `path`, and the listed parameters and headers
/// (values looked up by lower-case encoded name).
pub fn compute(
    secret_key: &str,
    sig: &CosSignature,
    method: &str,
    path: &str,
    param: &dyn Fn(&str) -> Option<String>,
    header: &dyn Fn(&str) -> Option<String>,
) -> String {
    let http = format!(
        "{}\n{}\n{}\n{}\n",
        method.to_ascii_lowercase(),
        path,
        pairs(&sig.param_list, param),
        pairs(&sig.header_list, header)
    );
    let sts = format!(
        "sha1\n{}\n{}\n",
        sig.sign_time,
        hex::encode(Sha1::digest(http.as_bytes()))
    );
    hmac_sha1_hex(
        sign_key(secret_key, &sig.key_time).as_bytes(),
        sts.as_bytes(),
    )
}

fn window(t: &str) -> Option<(i64, i64)> {
    let (a, b) = t.split_once(';')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// When `sig` stops being accepted (Unix seconds): the earlier end of its
/// `q-sign-time` and `q-key-time` windows; 0 when they do not parse.
pub fn expiry(sig: &CosSignature) -> i64 {
    match (window(&sig.sign_time), window(&sig.key_time)) {
        (Some((_, end)), Some((_, kend))) => end.min(kend),
        _ => 0,
    }
}

/// Verify a COS signature on a request: its signature (over each candidate object
/// path, and the Host with or without port — the SDK signs the host name alone), then
/// its validity window. `query` is the request's decoded query.
pub fn verify(
    st: &AppState,
    sig: &CosSignature,
    req: &RequestParts<'_>,
    query: &[(String, String)],
    now: i64,
) -> Result<Account, AuthError> {
    let (Some((start, end)), Some((kstart, kend))) =
        (window(&sig.sign_time), window(&sig.key_time))
    else {
        return Err(malformed(
            "q-sign-time and q-key-time must be START;END Unix seconds",
        ));
    };
    let acct = st
        .db
        .account_by_secret_id(&sig.ak)?
        .ok_or(AuthError::UnknownKey)?;
    let param = |n: &str| {
        query
            .iter()
            .find(|(k, _)| quote(k).to_ascii_lowercase() == n)
            .map(|(_, v)| v.clone())
    };
    let host = req
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut hosts = vec![host.clone()];
    let (name, port) = super::router::split_host_port(&host);
    if port.is_some() {
        hosts.push(name.to_string());
    }
    let signs_host = sig.header_list.iter().any(|h| h == "host");
    let hosts: &[String] = if signs_host { &hosts } else { &hosts[..1] };
    let ok = req.cos_paths.iter().any(|path| {
        hosts.iter().any(|h| {
            let header = |n: &str| {
                if n == "host" {
                    Some(h.clone())
                } else {
                    req.headers
                        .iter()
                        .find(|(k, _)| quote(k.as_str()).to_ascii_lowercase() == n)
                        .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
                }
            };
            let want = compute(&acct.secret_key, sig, req.method, path, &param, &header);
            sigv4::same(&want, &sig.signature)
        })
    });
    if !ok {
        return Err(AuthError::Mismatch);
    }
    if now > end.min(kend) {
        return Err(AuthError::Expired);
    }
    if start.max(kstart) > now + MAX_SKEW {
        return Err(AuthError::NotYetValid);
    }
    Ok(acct)
}

#[cfg(test)]
mod tests {
    //! The two worked examples of COS's documentation ("Request Signature",
    //! cloud.tencent.com/document/product/436/7778): SecretId
    //! AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q, the object `exampleobject(腾讯云)` of
    //! examplebucket-1250000000 in ap-beijing.
    use super::*;

    #[test]
    fn expiry_is_the_earlier_window_end() {
        let mut sig = parse(&[
            ("q-sign-algorithm".into(), "sha1".into()),
            ("q-ak".into(), "AKID".into()),
            ("q-sign-time".into(), "100;900".into()),
            ("q-key-time".into(), "100;500".into()),
            ("q-header-list".into(), "host".into()),
            ("q-url-param-list".into(), "".into()),
            ("q-signature".into(), "00".into()),
        ])
        .unwrap();
        assert_eq!(expiry(&sig), 500);
        sig.key_time = "nonsense".into();
        assert_eq!(expiry(&sig), 0);
    }

    const SECRET: &str = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";
    const HOST: &str = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com";

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |n: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn documented_upload_example() {
        let auth = "q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989151;1557996351&q-key-time=1557989151;1557996351&q-header-list=content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read&q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172";
        let sig = parse(&sigv4::parse_query(auth)).unwrap();
        assert_eq!(
            sign_key(SECRET, &sig.key_time),
            "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"
        );
        let headers = lookup(&[
            ("Date", "Thu, 16 May 2019 06:45:51 GMT"),
            ("Host", HOST),
            ("Content-Type", "text/plain"),
            ("Content-Length", "13"),
            ("Content-MD5", "mQ/fVh815F3k6TAUm8m0eg=="),
            ("x-cos-acl", "private"),
            ("x-cos-grant-read", "uin=\"100000000011\""),
        ]);
        // The path is the decoded one the request carries as
        // /exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91).
        let path = sigv4::decode("/exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91)");
        let got = compute(SECRET, &sig, "PUT", &path, &|_| None, &headers);
        assert_eq!(got, "3b8851a11a569213c17ba8fa7dcf2abec6935172");
        assert_eq!(got, sig.signature);
    }

    #[test]
    fn documented_download_example() {
        let auth = "q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989753;1557996953&q-key-time=1557989753;1557996953&q-header-list=date;host&q-url-param-list=response-cache-control;response-content-type&q-signature=01681b8c9d798a678e43b685a9f1bba0f6c0e012";
        let sig = parse(&sigv4::parse_query(auth)).unwrap();
        assert_eq!(
            sign_key(SECRET, &sig.key_time),
            "937914bf490e9e8c189836aad2052e4feeb35eaf"
        );
        let query = sigv4::parse_query(
            "response-content-type=application%2Foctet-stream&response-cache-control=max-age%3D600",
        );
        let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let headers = lookup(&[("Date", "Thu, 16 May 2019 06:55:53 GMT"), ("Host", HOST)]);
        let got = compute(
            SECRET,
            &sig,
            "GET",
            "/exampleobject(腾讯云)",
            &param,
            &headers,
        );
        assert_eq!(got, "01681b8c9d798a678e43b685a9f1bba0f6c0e012");
        // Any change to what is signed changes the signature.
        let got = compute(
            SECRET,
            &sig,
            "GET",
            "/exampleobject(腾讯云)x",
            &param,
            &headers,
        );
        assert_ne!(got, sig.signature);
    }

    #[test]
    fn parse_refuses_incomplete_fields() {
        for bad in [
            "q-sign-algorithm=md5&q-ak=a&q-sign-time=1;2&q-key-time=1;2&q-signature=x",
            "q-sign-algorithm=sha1&q-sign-time=1;2&q-key-time=1;2&q-signature=x",
            "q-sign-algorithm=sha1&q-ak=a&q-sign-time=1;2&q-key-time=1;2",
        ] {
            assert!(parse(&sigv4::parse_query(bad)).is_err(), "{bad}");
        }
    }
}
