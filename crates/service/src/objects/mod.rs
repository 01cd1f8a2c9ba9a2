//! Object bytes: where uploaded objects live. The embedded default is a directory
//! tree ([`FsObjectStore`]); an external S3 store can implement the same trait.
//! Object metadata (bucket, key, size, ETag, ACL) lives in the database.

mod fs;

pub use fs::FsObjectStore;

use imgport_disk::ReadAt;
use std::path::Path;
use std::sync::Arc;

/// Stores object bodies by an opaque blob id chosen by the caller.
pub trait ObjectStore: Send + Sync {
    /// Move a fully written temporary file (from [`ObjectStore::temp_path`]) into
    /// place as `blob`, atomically.
    fn commit(&self, temp: &Path, blob: &str) -> std::io::Result<()>;
    /// A fresh path for a temporary upload on the same filesystem.
    fn temp_path(&self) -> std::path::PathBuf;
    /// Positioned reads of `blob` (for range GETs and for import jobs).
    fn open(&self, blob: &str) -> std::io::Result<Arc<dyn ReadAt>>;
    /// Delete `blob` (missing is not an error).
    fn delete(&self, blob: &str) -> std::io::Result<()>;
    /// Size of `blob`.
    fn size(&self, blob: &str) -> std::io::Result<u64>;
}
