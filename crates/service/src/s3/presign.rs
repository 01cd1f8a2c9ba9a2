//! Presigned GET URLs made by the service itself (the console's "copy link"): AWS
//! SigV4 query signatures of the account's SecretKey, path style on
//! `storage_public_url` (or the listen address), valid 1 s to 7 days. They import
//! once, like any signed URL (R-ERR InvalidUrl).

use super::auth::MAX_EXPIRES;
use super::sigv4::{self, uri_encode};
use crate::db::accounts::Account;
use crate::AppState;

/// A presigned GET URL of `bucket`/`key` for `account`, valid `expires_secs`
/// (clamped to 1 s – 7 days) from now.
pub fn presign_get(
    state: &AppState,
    account: &Account,
    bucket: &str,
    key: &str,
    expires_secs: u64,
) -> String {
    presign_get_at(state, account, bucket, key, expires_secs, crate::db::now())
}

/// [`presign_get`] at time `now` (Unix seconds).
pub fn presign_get_at(
    state: &AppState,
    account: &Account,
    bucket: &str,
    key: &str,
    expires_secs: u64,
    now: i64,
) -> String {
    let base = state.config.storage_url();
    let (scheme, authority) = match url::Url::parse(&base) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("127.0.0.1").to_string();
            let authority = match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            };
            (u.scheme().to_string(), authority)
        }
        Err(_) => ("http".to_string(), state.config.storage_listen.to_string()),
    };
    let region = state
        .db
        .bucket(bucket)
        .ok()
        .flatten()
        .map(|b| b.region)
        .unwrap_or_else(|| state.config.region.clone());
    let date = sigv4::amz_date(now);
    let scope = format!("{}/{region}/s3/aws4_request", &date[..8.min(date.len())]);
    let expires = (expires_secs.min(MAX_EXPIRES as u64)).max(1);
    let path = format!("/{}/{}", uri_encode(bucket, false), uri_encode(key, true));
    let params = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_string()),
        ("X-Amz-Credential", format!("{}/{scope}", account.secret_id)),
        ("X-Amz-Date", date.clone()),
        ("X-Amz-Expires", expires.to_string()),
        ("X-Amz-SignedHeaders", "host".to_string()),
    ];
    let query = params
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&");
    let headers = vec![("host".to_string(), authority.clone())];
    let cu = sigv4::canonical_uri(&path);
    let cq = sigv4::canonical_query(&query, &[]);
    let key = sigv4::signing_key(
        &account.secret_key,
        &date[..8.min(date.len())],
        &region,
        "s3",
    );
    let sig = sigv4::signature_with_key(
        &key,
        &date,
        &scope,
        &sigv4::Canonical {
            method: "GET",
            canonical_uri: &cu,
            canonical_query: &cq,
            signed_headers: &headers,
            payload_hash: "UNSIGNED-PAYLOAD",
        },
    );
    format!("{scheme}://{authority}{path}?{query}&X-Amz-Signature={sig}")
}
