//! The image store's files: `images/IMAGEID.qcow2` exists only for NORMAL images
//! (and, briefly, for the attempt that is about to record NORMAL). Conversion writes
//! an unnamed file, or `.IMAGEID.qcow2.imgport-partial-PID` where the filesystem has
//! no `O_TMPFILE`, renamed into place only when complete. A crash can leave a partial
//! file or a complete file whose job never recorded its end; [`clean_for_attempt`]
//! removes an image's leftovers before an attempt, and [`sweep`] removes the leftovers
//! of all images at start-up (never a file an IMPORTING job of a live process owns).

use crate::db::images::{IMPORTING, NORMAL};
use crate::AppState;
use std::path::Path;

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

/// Before an attempt at `image_id`: remove the final file a previous attempt may have
/// linked without recording NORMAL, and its partial files (from any process: the
/// lease says this attempt owns the image now).
pub fn clean_for_attempt(st: &AppState, image_id: &str) {
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
    let Ok(dir) = std::fs::read_dir(st.config.data_dir.join("images")) else {
        return 0;
    };
    let state = |id: &str| {
        st.db
            .image_any(id)
            .ok()
            .map(|i| i.map(|i| i.state).unwrap_or_default())
    };
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
