//! The embedded S3/COS-compatible object store (R-FLOW-UPLOAD, issue 7 item 3): what
//! users upload images to before importing them, with the tools they already have —
//! boto3 / aws-cli (SigV4 header, presigned and `aws-chunked` streaming uploads,
//! path-style) and cos-python-sdk-v5 (COS sha1 signatures, virtual-host
//! `BUCKET-APPID.cos.REGION.myqcloud.com`). Buckets live in a region (R-REGION);
//! objects are private or public-read; uploads are streamed to disk, verified and
//! committed atomically; multipart uploads, ranged GETs and ListObjectsV2 work as in
//! S3. [`import_url`] decides whether an ImportImage URL points here (R-ERR
//! InvalidUrl, item 5).
//!
//! One file per concern: [`mod@router`] (addressing, dispatch), [`auth`] + [`sigv4`] +
//! [`cos_auth`] (signatures), [`body`] (streaming bodies, `aws-chunked`), [`errors`],
//! [`xml`], [`header_case`] (COS header spellings), [`presign`] (server-made links),
//! [`import_url`], and one file per operation (`create_bucket`, `head_bucket`,
//! `list_buckets`, `delete_bucket`, `put_object`, `get_object` (+HEAD),
//! `delete_object`, `list_objects_v2`, `list_objects_v1`, `multipart`, `acl`).

pub mod acl;
pub mod auth;
pub mod body;
pub mod cos_auth;
pub mod create_bucket;
pub mod delete_bucket;
pub mod delete_object;
pub mod errors;
pub mod external_url;
pub mod get_object;
pub mod head_bucket;
pub mod header_case;
pub mod import_url;
pub mod list_buckets;
pub mod list_objects_v1;
pub mod list_objects_v2;
pub mod multipart;
pub mod presign;
pub mod put_object;
pub mod router;
pub mod sigv2;
pub mod sigv4;
pub mod xml;

pub use presign::presign_get;

use crate::AppState;
use std::time::Duration;

/// The object store's routes, behind the console's CORS rules ([`crate::cors`]).
pub fn router(state: AppState) -> axum::Router {
    crate::cors::wrap(router::router(state.clone()), &state.config)
}

/// How often unfinished multipart uploads past their lifetime are aborted.
const REAP_EVERY: Duration = Duration::from_secs(3600);

/// Serve the object store on `listener` until the task is dropped, with the
/// configuration's connection limits ([`serve_storage_until`]).
pub async fn serve_storage(
    state: AppState,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    let limits = crate::net::Limits::from_config(&state.config);
    let (_never, running) = crate::net::shutdown_channel();
    serve_storage_until(state, listener, limits, running).await
}

/// Serve the object store on `listener` with `limits` until `shutdown` turns true
/// ([`crate::net::serve`]). Also, at start and hourly, aborts multipart uploads left
/// unfinished for [`multipart::UPLOAD_LIFETIME_SECS`] and deletes blobs no object
/// refers to.
pub async fn serve_storage_until(
    state: AppState,
    listener: tokio::net::TcpListener,
    limits: crate::net::Limits,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    header_case::init().await;
    let reaper = tokio::spawn(reap_uploads(state.clone()));
    let r = crate::net::serve(listener, router(state), limits, shutdown).await;
    reaper.abort();
    r?;
    Ok(())
}

/// How long after its expiry a used signature is still remembered (covers clock
/// skew between servers and the skew the signature checks allow).
const USED_SIGNATURE_GRACE_SECS: i64 = 86_400;

/// Blobs younger than this are never swept (an upload commits its blob a moment
/// before it records the object).
const ORPHAN_MIN_AGE: Duration = Duration::from_secs(3600);

/// Delete blobs no object or part refers to — left by a crash between committing a
/// blob and recording it. Returns how many were deleted.
pub fn sweep_orphans(st: &AppState) -> anyhow::Result<usize> {
    let listed = st.objects.list()?;
    let used = st.db.referenced_blobs()?;
    let now = std::time::SystemTime::now();
    let mut n = 0;
    for (blob, modified) in listed {
        let old = now
            .duration_since(modified)
            .is_ok_and(|age| age >= ORPHAN_MIN_AGE);
        if old && !used.contains(&blob) {
            st.objects.delete(&blob)?;
            n += 1;
        }
    }
    if n > 0 {
        tracing::info!(deleted = n, "deleted blobs no object refers to");
    }
    Ok(n)
}

async fn reap_uploads(st: AppState) {
    loop {
        let st2 = st.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = sweep_orphans(&st2) {
                tracing::warn!("could not sweep unreferenced blobs: {e}");
            }
            // A used signature past its expiry is refused as expired: its record
            // (kept so a signed URL imports once, R-ERR) can go, a day later.
            match st2.db.prune_used_signatures(crate::db::now() - USED_SIGNATURE_GRACE_SECS) {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "forgot expired used signatures"),
                Ok(_) => {}
                Err(e) => tracing::warn!("could not prune used signatures: {e}"),
            }
            let before = crate::db::now() - multipart::UPLOAD_LIFETIME_SECS;
            match st2.db.stale_uploads(before, 1000) {
                Ok(ids) => {
                    for id in ids {
                        if let Err(e) = multipart::abort_upload(&st2, &id) {
                            tracing::warn!(upload_id = %id, "could not abort a stale multipart upload: {e}");
                        }
                    }
                }
                Err(e) => tracing::warn!("could not list stale multipart uploads: {e}"),
            }
        })
        .await;
        tokio::time::sleep(REAP_EVERY).await;
    }
}
