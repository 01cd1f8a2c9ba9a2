//! The image store's files: `images/IMAGEID.qcow2` exists only for NORMAL images
//! (and, briefly, for the attempt that is about to record NORMAL). Conversion writes
//! an unnamed file, or `.IMAGEID.qcow2.imgport-partial-PID` where the filesystem has
//! no `O_TMPFILE`, renamed into place only when complete. A crash can leave a partial
//! file or a complete file whose job never recorded its end; [`clean_for_attempt`]
//! removes an image's leftovers before an attempt, and [`sweep`] removes the leftovers
//! of all images at start-up (never a file an IMPORTING job of a live process owns).
//!
//! With the external store (issue 13) the image is the object `images_prefix/IMAGEID.qcow2`
//! of the images bucket, written by one multipart upload whose id and parts the job
//! records: [`clean_for_attempt`] deletes an object a previous attempt completed without
//! recording NORMAL and leaves its unfinished upload for this attempt to resume;
//! [`sweep`] deletes objects of images that are neither NORMAL nor IMPORTING and
//! aborts the uploads such images recorded. Nothing is written to local disk.

use crate::db::images::{IMPORTING, NORMAL};
use crate::AppState;
use imgport_disk::convert::ConvertStats;
use imgport_disk::{FileSource, ReadAt};
use std::path::Path;
use std::sync::Arc;

/// What a file name in `images/` is.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    /// `IMAGEID.qcow2`.
    Image(String),
    /// `.IMAGEID.qcow2.imgport-partial-PID`.
    Partial(String, Option<u32>),
    Other,
}

fn classify(name: &str) -> Entry {
    if let Some(rest) = name.strip_prefix('.') {
        if let Some((file, pid)) = rest.split_once(".imgport-partial-") {
            if let Some(id) = file.strip_suffix(".qcow2") {
                return Entry::Partial(id.to_string(), pid.parse().ok());
            }
        }
        return Entry::Other;
    }
    match name.strip_suffix(".qcow2") {
        Some(id) if id.starts_with("img-") => Entry::Image(id.to_string()),
        _ => Entry::Other,
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::info!("removed leftover {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("removing {}: {e}", path.display()),
    }
}

/// Where a converted image was stored, and how the conversion went.
pub enum Stored {
    File {
        path: std::path::PathBuf,
        stats: ConvertStats,
    },
    Object {
        key: String,
        stats: ConvertStats,
        /// The NORMAL image whose qcow2 was copied instead of converting (issue 13).
        copied_from: Option<String>,
    },
}

/// A local copy of a stored image (for QEMU), removed when dropped when it is a copy.
pub struct LocalCopy {
    path: std::path::PathBuf,
    temporary: bool,
}

impl LocalCopy {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The largest image a boot test copies to a worker's scratch disk (issue 13 item 3:
/// scratch ≤ 1 GiB).
pub const SCRATCH_LIMIT: u64 = 1 << 30;

impl Stored {
    pub fn stats(&self) -> &ConvertStats {
        match self {
            Stored::File { stats, .. } | Stored::Object { stats, .. } => stats,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Stored::File { path, .. } => path.display().to_string(),
            Stored::Object { key, .. } => key.clone(),
        }
    }

    /// A file: private whatever the umask (issue 18 item 4), its directory fsynced
    /// (the rename is durable only then). An object is durable once completed.
    pub fn make_durable(&self) -> Result<(), String> {
        let Stored::File { path, .. } = self else {
            return Ok(());
        };
        crate::perms::make_private(path).map_err(|e| format!("storing the image: {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| format!("storing the image: {e}"))?;
        }
        Ok(())
    }

    /// A reader of the stored image.
    pub fn reader(&self, st: &AppState) -> Result<Arc<dyn ReadAt>, String> {
        match (self, &st.external) {
            (Stored::File { path, .. }, _) => FileSource::open(path)
                .map(|f| Arc::new(f) as Arc<dyn ReadAt>)
                .map_err(|e| e.to_string()),
            (Stored::Object { key, .. }, Some(store)) => {
                let bucket = &store.config().images_bucket;
                let head = store.head(bucket, key).map_err(|e| e.to_string())?;
                store.open(bucket, key, &head).map_err(|e| e.to_string())
            }
            (Stored::Object { .. }, None) => Err("no external object store".into()),
        }
    }

    /// The stored image opens as a qcow2 of `virtual_size` bytes with sound tables.
    pub fn verify(&self, st: &AppState, virtual_size: u64) -> Result<(), String> {
        super::pipeline::verify_image(self.reader(st)?, virtual_size)
    }

    /// The image as a local file: itself, or a copy on the scratch disk (an object of
    /// at most [`SCRATCH_LIMIT`] bytes).
    pub fn local_copy(&self, st: &AppState) -> Result<LocalCopy, String> {
        let stats = match self {
            Stored::File { path, .. } => {
                return Ok(LocalCopy {
                    path: path.clone(),
                    temporary: false,
                })
            }
            Stored::Object { stats, .. } => stats,
        };
        if stats.output_size > SCRATCH_LIMIT {
            return Err(format!(
                "the converted image ({} bytes) is larger than a worker's scratch disk allows for a boot test ({SCRATCH_LIMIT} bytes)",
                stats.output_size
            ));
        }
        let reader = self.reader(st)?;
        let dir = st.config.data_dir.join("scratch");
        crate::perms::create_private_dir(&dir).map_err(|e| e.to_string())?;
        let copy = LocalCopy {
            path: dir.join(format!("boot-{}.qcow2", crate::db::random_id(12))),
            temporary: true,
        };
        let mut f = crate::perms::create_private_file(&copy.path).map_err(|e| e.to_string())?;
        crate::objects::copy_to(&*reader, reader.size(), &mut f, &mut vec![0u8; 8 << 20])
            .map_err(|e| e.to_string())?;
        Ok(copy)
    }
}

/// Remove image `image_id`'s stored qcow2 (missing is not an error).
pub fn remove_image(st: &AppState, image_id: &str) {
    match &st.external {
        None => remove(&st.image_path(image_id)),
        Some(store) => {
            let key = store.image_key(image_id);
            if let Err(e) = store.delete(&store.config().images_bucket, &key) {
                tracing::warn!(key = %key, "deleting the image: {e}");
            }
        }
    }
}

/// Abort the multipart upload image `image_id` recorded (external store), and forget
/// its parts.
pub fn abort_recorded_upload(st: &AppState, image_id: &str) {
    if let Ok(Some(upload)) = st.db.output_upload(image_id) {
        abort_upload(st, image_id, &upload);
    }
}

/// Abort `upload` of image `image_id`'s qcow2; once the store has dropped it, forget it
/// and its parts (while it has not, the record stays for the start-up sweep).
pub fn abort_upload(st: &AppState, image_id: &str, upload: &str) {
    let Some(store) = &st.external else { return };
    match store.abort_upload(&store.image_key(image_id), upload) {
        Ok(()) => {
            tracing::info!(image_id, upload, "aborted an unfinished upload");
            let _ = st.db.set_output_upload(image_id, None);
            let _ = st.db.forget_parts(upload);
        }
        Err(e) => tracing::warn!(image_id, upload, "aborting an unfinished upload: {e}"),
    }
}

/// Before an attempt at `image_id`: remove the final file a previous attempt may have
/// linked without recording NORMAL, and its partial files (from any process: the
/// lease says this attempt owns the image now). With the external store, the object
/// a previous attempt completed without recording NORMAL is deleted; its unfinished
/// upload is kept for this attempt to resume (issue 13 item 5).
pub fn clean_for_attempt(st: &AppState, image_id: &str) {
    if st.external.is_some() {
        remove_image(st, image_id);
        return;
    }
    remove(&st.image_path(image_id));
    let Ok(dir) = std::fs::read_dir(st.config.data_dir.join("images")) else {
        return;
    };
    for e in dir.flatten() {
        if let Entry::Partial(id, _) = classify(&e.file_name().to_string_lossy()) {
            if id == image_id {
                remove(&e.path());
            }
        }
    }
}

/// At start-up: remove partial files of dead processes or ended jobs, and image files
/// whose image is neither NORMAL nor IMPORTING (deleted, failed). Returns how many
/// files were removed.
pub fn sweep(st: &AppState) -> usize {
    if st.external.is_some() {
        return sweep_external(st);
    }
    let Ok(dir) = std::fs::read_dir(st.config.data_dir.join("images")) else {
        return 0;
    };
    let state = |id: &str| image_state(st, id);
    let mut removed = 0;
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let gone = match classify(&name) {
            Entry::Image(id) => {
                matches!(state(&id), Some(s) if s != NORMAL && s != IMPORTING)
            }
            Entry::Partial(id, pid) => {
                // At start-up no partial file can be this process's own (a same PID is reuse).
                let dead = pid.is_none_or(|p| p == std::process::id() || !process_alive(p));
                dead || matches!(state(&id), Some(s) if s != IMPORTING)
            }
            Entry::Other => false,
        };
        if gone {
            remove(&e.path());
            removed += 1;
        }
    }
    removed
}

/// Image `id`'s state ("" when there is no such image), or `None` when the database
/// cannot say (then nothing of it is removed).
fn image_state(st: &AppState, id: &str) -> Option<String> {
    st.db
        .image_any(id)
        .ok()
        .map(|i| i.map(|i| i.state).unwrap_or_default())
}

/// [`sweep`] of the external store: objects of ended or unknown images, and the
/// uploads ended images recorded.
fn sweep_external(st: &AppState) -> usize {
    let Some(store) = &st.external else { return 0 };
    let state = |id: &str| image_state(st, id);
    let mut removed = 0;
    if let Ok(with_uploads) = st.db.images_with_upload() {
        for id in with_uploads {
            if matches!(state(&id), Some(s) if s != IMPORTING) {
                abort_recorded_upload(st, &id);
                removed += 1;
            }
        }
    }
    let prefix = store.config().images_prefix();
    let listed = match store.list(&store.config().images_bucket, &prefix) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("listing stored images: {e}");
            return removed;
        }
    };
    for (key, _) in listed {
        let name = key.strip_prefix(&prefix).unwrap_or(&key);
        if let Entry::Image(id) = classify(name) {
            if matches!(state(&id), Some(s) if s != NORMAL && s != IMPORTING) {
                remove_image(st, &id);
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            classify("img-abc12345.qcow2"),
            Entry::Image("img-abc12345".into())
        );
        assert_eq!(
            classify(".img-abc12345.qcow2.imgport-partial-42"),
            Entry::Partial("img-abc12345".into(), Some(42))
        );
        assert_eq!(
            classify(".img-x.qcow2.imgport-partial-"),
            Entry::Partial("img-x".into(), None)
        );
        assert_eq!(classify("notes.txt"), Entry::Other);
        assert_eq!(classify(".hidden"), Entry::Other);
    }
}
