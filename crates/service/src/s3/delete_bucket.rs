//! DeleteBucket: only an empty bucket, by its owner; its unfinished multipart uploads
//! go with it.

use super::errors::S3Error;
use super::router::Ctx;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub fn run(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    let Some(blobs) = ctx.st.db.delete_bucket(&b.name)? else {
        return Err(S3Error::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty: delete its objects first.",
        )
        .with("BucketName", bucket));
    };
    for blob in blobs {
        let _ = ctx.st.objects.delete(&blob);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
