//! Opening what the user named: a local file, or an `http(s)://` URL read by range
//! requests only (S3/COS presigned URLs included) — never downloaded whole.

use imgport_disk::{FileSource, HttpOptions, ReadAt};
use std::sync::Arc;

/// Whether `target` names a URL rather than a file.
pub fn is_url(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    t.starts_with("http://") || t.starts_with("https://")
}

/// Open `target` for positioned reads.
pub fn open(target: &str) -> imgport_disk::Result<Arc<dyn ReadAt>> {
    if is_url(target) {
        imgport_disk::open_url(target, HttpOptions::default())
    } else {
        Ok(Arc::new(FileSource::open(target)?))
    }
}
