//! Objects as files under a directory: `blobs/xx/BLOBID`, temporary uploads in `tmp/`.

use super::ObjectStore;
use imgport_disk::{FileSource, ReadAt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A directory of blobs.
pub struct FsObjectStore {
    root: PathBuf,
}

impl FsObjectStore {
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("tmp"))?;
        // Temporary files of uploads interrupted by a crash are never completed.
        for e in std::fs::read_dir(root.join("tmp"))? {
            let _ = std::fs::remove_file(e?.path());
        }
        Ok(FsObjectStore { root })
    }

    fn path(&self, blob: &str) -> std::io::Result<PathBuf> {
        if blob.len() < 3 || !blob.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(std::io::Error::other(format!("invalid blob id {blob:?}")));
        }
        Ok(self.root.join("blobs").join(&blob[..2]).join(blob))
    }
}

impl ObjectStore for FsObjectStore {
    fn commit(&self, temp: &Path, blob: &str) -> std::io::Result<()> {
        let dst = self.path(blob)?;
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(temp, dst)
    }

    fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(crate::db::random_id(24))
    }

    fn open(&self, blob: &str) -> std::io::Result<Arc<dyn ReadAt>> {
        let p = self.path(blob)?;
        FileSource::open(&p)
            .map(|f| Arc::new(f) as Arc<dyn ReadAt>)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }

    fn delete(&self, blob: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(blob)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn size(&self, blob: &str) -> std::io::Result<u64> {
        Ok(std::fs::metadata(self.path(blob)?)?.len())
    }
}
