//! Response bodies streamed from a stored blob.

use axum::body::{Body, Bytes};
use imgport_disk::ReadAt;
use std::sync::Arc;

/// A response body reading `[start, start+len)` of `src` in 1 MiB pieces, each read
/// on the blocking pool.
pub fn from_source(src: Arc<dyn ReadAt>, start: u64, len: u64) -> Body {
    const PIECE: u64 = 1 << 20;
    let end = start.saturating_add(len);
    let stream = futures_util::stream::unfold((start, end), move |(pos, end)| {
        let src = src.clone();
        async move {
            if pos >= end {
                return None;
            }
            let n = (end - pos).min(PIECE);
            let r = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; n as usize];
                src.read_exact_at(&mut buf, pos).map(|_| buf)
            })
            .await;
            match r {
                Ok(Ok(buf)) => Some((Ok(Bytes::from(buf)), (pos + n, end))),
                Ok(Err(e)) => Some((Err(std::io::Error::other(e.to_string())), (end, end))),
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), (end, end))),
            }
        }
    });
    Body::from_stream(stream)
}
