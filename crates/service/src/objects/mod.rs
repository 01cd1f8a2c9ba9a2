//! Object bytes: where uploaded objects live. The embedded default is a directory
//! tree ([`FsObjectStore`]); an external S3 store can implement the same trait.
//! Object metadata (bucket, key, size, ETag, ACL) lives in the database.

mod fs;
pub mod sparse;

pub use fs::FsObjectStore;

use imgport_disk::ReadAt;
use std::io::Write;
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
    /// Every stored blob with its last modification time (for the sweep of blobs no
    /// object refers to). A store that cannot list returns nothing.
    fn list(&self) -> std::io::Result<Vec<(String, std::time::SystemTime)>> {
        Ok(Vec::new())
    }
    /// Write `blobs` one after the other into the new file `temp` (multipart
    /// completion), flushed to disk; returns the bytes written. Streams: never holds
    /// more than a small buffer.
    fn concat(&self, blobs: &[String], temp: &Path) -> std::io::Result<u64> {
        let mut out =
            std::io::BufWriter::with_capacity(1 << 20, crate::perms::create_private_file(temp)?);
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        for blob in blobs {
            let src = self.open(blob)?;
            let len = self.size(blob)?;
            let mut pos = 0u64;
            while pos < len {
                let n = (len - pos).min(buf.len() as u64) as usize;
                src.read_exact_at(&mut buf[..n], pos)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                out.write_all(&buf[..n])?;
                pos += n as u64;
            }
            total += len;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
        Ok(total)
    }
}
