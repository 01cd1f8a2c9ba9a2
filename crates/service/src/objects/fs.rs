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
        crate::perms::create_private_dir(&root.join("blobs"))?;
        crate::perms::create_private_dir(&root.join("tmp"))?;
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
        let dir = dst.parent().unwrap_or(&self.root);
        crate::perms::create_private_dir(dir)?;
        // Blobs are private whatever made the temporary file (issue 18 item 4).
        crate::perms::make_private(temp)?;
        std::fs::rename(temp, &dst)?;
        // The rename is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()
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

    fn list(&self) -> std::io::Result<Vec<(String, std::time::SystemTime)>> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(self.root.join("blobs"))? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(dir.path())? {
                let f = f?;
                let name = f.file_name().to_string_lossy().into_owned();
                if self.path(&name).is_ok() {
                    out.push((name, f.metadata()?.modified()?));
                }
            }
        }
        Ok(out)
    }

    /// The parts' data ranges are copied by the kernel (`copy_file_range`: the bytes do
    /// not pass through this process) and their holes stay holes.
    fn concat(&self, blobs: &[String], temp: &Path) -> std::io::Result<u64> {
        let out = crate::perms::create_private_file(temp)?;
        let mut total = 0u64;
        for blob in blobs {
            total += super::sparse::append_sparse(&self.path(blob)?, &out, total)?;
        }
        out.set_len(total)?;
        out.sync_all()?;
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_commit_open_delete() {
        let dir = tempfile::tempdir().unwrap();
        let st = FsObjectStore::new(dir.path().to_path_buf()).unwrap();
        let mut blobs = Vec::new();
        for (i, data) in [&b"hello "[..], b"", b"world"].iter().enumerate() {
            let t = st.temp_path();
            std::fs::write(&t, data).unwrap();
            let id = format!("part{i}");
            st.commit(&t, &id).unwrap();
            blobs.push(id);
        }
        let t = st.temp_path();
        assert_eq!(st.concat(&blobs, &t).unwrap(), 11);
        st.commit(&t, "whole").unwrap();
        let r = st.open("whole").unwrap();
        let mut buf = [0u8; 11];
        r.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"hello world");
        // The trait's default (streamed through a buffer) gives the same bytes.
        struct Plain<'a>(&'a FsObjectStore);
        impl ObjectStore for Plain<'_> {
            fn commit(&self, t: &Path, b: &str) -> std::io::Result<()> {
                self.0.commit(t, b)
            }
            fn temp_path(&self) -> PathBuf {
                self.0.temp_path()
            }
            fn open(&self, b: &str) -> std::io::Result<Arc<dyn ReadAt>> {
                self.0.open(b)
            }
            fn delete(&self, b: &str) -> std::io::Result<()> {
                self.0.delete(b)
            }
            fn size(&self, b: &str) -> std::io::Result<u64> {
                self.0.size(b)
            }
        }
        let t2 = st.temp_path();
        assert_eq!(Plain(&st).concat(&blobs, &t2).unwrap(), 11);
        assert_eq!(std::fs::read(&t2).unwrap(), b"hello world");
        let mut listed: Vec<String> = st.list().unwrap().into_iter().map(|(b, _)| b).collect();
        listed.sort();
        assert_eq!(listed, vec!["part0", "part1", "part2", "whole"]);
        st.delete("whole").unwrap();
        st.delete("whole").unwrap();
        assert!(st.open("whole").is_err());
        assert!(st.open("../x").is_err());
    }
}
