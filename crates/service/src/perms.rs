//! The data directory is private (issue 18 item 4): directories 0700, files 0600,
//! whatever the umask. New directories and files are given those modes explicitly when
//! created; at start-up [`secure_data_dir`] creates the data directory and tightens
//! anything under it that is open to the group or others (state of older versions,
//! or files a tool made with a loose umask).

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// How deep [`tighten`] walks (the data directory is `objects/blobs/xx/BLOB` deep).
const MAX_DEPTH: usize = 8;

/// Create `dir` (and missing parents) with mode 0700, and make `dir` itself 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Create (or truncate) `path` with mode 0600, for writing.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .read(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    f.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Make `path` 0600 (a file) or 0700 (a directory) if it is more open; symbolic
/// links are left alone. Returns whether it changed.
pub fn make_private(path: &Path) -> io::Result<bool> {
    let m = std::fs::symlink_metadata(path)?;
    let want = if m.is_dir() {
        DIR_MODE
    } else if m.is_file() {
        FILE_MODE
    } else {
        return Ok(false);
    };
    let mode = m.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 && mode & !want == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, Permissions::from_mode(want))?;
    Ok(true)
}

/// Tighten `dir` and everything under it (see [`make_private`]); returns how many
/// entries changed.
pub fn tighten(dir: &Path) -> io::Result<usize> {
    fn walk(p: &Path, depth: usize, n: &mut usize) -> io::Result<()> {
        if make_private(p)? {
            *n += 1;
        }
        if depth >= MAX_DEPTH || !std::fs::symlink_metadata(p)?.is_dir() {
            return Ok(());
        }
        for e in std::fs::read_dir(p)? {
            walk(&e?.path(), depth + 1, n)?;
        }
        Ok(())
    }
    let mut n = 0;
    walk(dir, 0, &mut n)?;
    Ok(n)
}

/// Create the data directory 0700 if missing and tighten what is under it.
pub fn secure_data_dir(dir: &Path) -> io::Result<()> {
    create_private_dir(dir)?;
    let n = tighten(dir)?;
    if n > 0 {
        tracing::info!(entries = n, dir = %dir.display(), "made the data directory private (0700 directories, 0600 files)");
    }
    Ok(())
}

/// Restrict the process's umask to 0077 (the server and `imgport account`): files
/// other libraries create (SQLite's WAL, …) are private too.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_entries_are_tightened_and_new_ones_are_private() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        std::fs::create_dir_all(data.join("objects/blobs/ab")).unwrap();
        std::fs::write(data.join("objects/blobs/ab/abc"), b"x").unwrap();
        for (p, m) in [
            ("", 0o755),
            ("objects", 0o775),
            ("objects/blobs/ab/abc", 0o644),
        ] {
            std::fs::set_permissions(data.join(p), Permissions::from_mode(m)).unwrap();
        }
        let outside = d.path().join("outside");
        std::fs::write(&outside, b"y").unwrap();
        std::fs::set_permissions(&outside, Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();
        secure_data_dir(&data).unwrap();
        let mode = |p: &str| {
            std::fs::symlink_metadata(data.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(""), 0o700);
        assert_eq!(mode("objects"), 0o700);
        assert_eq!(mode("objects/blobs/ab"), 0o700);
        assert_eq!(mode("objects/blobs/ab/abc"), 0o600);
        // The link's target is not touched.
        assert_eq!(
            std::fs::metadata(&outside).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(tighten(&data).unwrap(), 0);
        let f = create_private_file(&data.join("new")).unwrap();
        drop(f);
        assert_eq!(mode("new"), 0o600);
        create_private_dir(&data.join("x/y")).unwrap();
        assert_eq!(mode("x/y"), 0o700);
    }
}
