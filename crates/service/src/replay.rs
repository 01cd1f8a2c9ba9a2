//! The replay cache of signed requests (issue 18 item 1): a signature that changed
//! state once is refused when it comes again within its validity window, on every
//! server of the database (records live in the `used_signatures` table next to the
//! once-only presigned import URLs, with their expiry, and are pruned a day after it
//! by the object store's hourly sweep).
//!
//! - Cloud API (TC3-HMAC-SHA256, [`crate::api`]): every signature is recorded when
//!   it first authenticates an action. The SDKs sign only `content-type;host`, so the
//!   signature does not cover `X-TC-Action` / `X-TC-Region`: a captured
//!   `DescribeImages` resent as `DeleteImages`, or a `ModifyImageAttribute` resent
//!   later, carries a signature seen before and is refused
//!   (`AuthFailure.SignatureFailure`), even when the first use failed. Read-only
//!   requests (`Describe*`, a `DryRun`) are never refused: two identical queries in
//!   the same second carry the same signature, a console asks several `Describe*`
//!   with the body `{}` at once, and what they answer is what the signer may read;
//!   but a signature they used cannot change anything afterwards. When a client does
//!   sign `x-tc-action` / `x-tc-region`, the signature check itself binds them.
//! - Object store (SigV4 header or presigned, COS): a PUT, POST or DELETE whose
//!   signature was seen before is refused (403 `AccessDenied`); GET and HEAD may be
//!   replayed (they change nothing, and a presigned GET link is meant to be fetched
//!   more than once). Botocore and the COS SDK sign each attempt anew, and parallel
//!   multipart parts differ by `partNumber`, so legitimate clients never resend a
//!   signature — except a retry in the same second as its failed attempt, or the
//!   same request again after an error: a state-changing request that is refused
//!   (any error: an S3 operation changes all or nothing) releases its signature.
//!   Only the request that recorded the signature can release it (a replay is
//!   refused before it runs), and S3 signatures cover method, path and query, so a
//!   later replay of a refused request can only do what its signer asked. (TC3
//!   signatures are never released: their action is not signed.)
//!
//! Residual risks: whoever captures a signed request before it reaches the server can
//! send it first, as any action when the action is not signed — the cache only makes
//! sure the signature changes state once, so the capture can win at most one race
//! against the original, within the allowed clock skew (`max_clock_skew_secs`, 300 s
//! by default; 15 minutes for SigV4 headers; a presigned URL's own lifetime). A
//! captured read-only request can be replayed as any read-only action within that
//! window (it reads what the signer may read). Use TLS in front of the service
//! against capture; a client that signs `x-tc-action` closes the action swap. The cost
//! for honest clients: two different actions with the same body in the same second
//! carry the same signature, so the second one is refused unless it is read-only —
//! send it again a second later.

use crate::db::{Db, DbError};

/// The `repeatable` tag of read-only cloud API requests.
pub const READ_ONLY: &str = "read-only";

/// Key of a TC3 signature in the cache.
pub fn tc3_key(signature: &str) -> String {
    format!("replay:tc3:{}", signature.to_ascii_lowercase())
}

/// Key of an object-store request signature (`kind`: `sigv4`, `cos`).
pub fn s3_key(kind: &str, signature: &str) -> String {
    format!("replay:{kind}:{}", signature.to_ascii_lowercase())
}

/// Record a use of the signature `key`, accepted until `expires_at` (Unix seconds).
/// `repeatable`: the tag of a read-only request that may be sent again unchanged.
/// Returns whether the request may proceed.
pub fn first_use(
    db: &Db,
    key: &str,
    expires_at: i64,
    repeatable: Option<&str>,
) -> Result<bool, DbError> {
    db.use_signature_for(key, expires_at, repeatable)
}

/// Release `key` after its request failed before changing anything (so the client's
/// re-signed retry, which may carry the same signature within the same second, passes).
pub fn release(db: &Db, key: &str) {
    if let Err(e) = db.forget_signature(key) {
        tracing::warn!("could not release a used signature: {e}");
    }
}
