//! Case-insensitive path lookups in a guest filesystem: NTFS names are
//! case-insensitive, but the filesystem under us may not be (an in-memory tree,
//! or NTFS read with literal names), so each component is matched exactly first
//! and then against the directory's entries ignoring case.

use crate::fs::{FileSystem, FileType};
use crate::windows::hive::names::names_equal;
use crate::Error;

/// The path of `path` as stored (with its real casing) and its type, or `None`
/// when some component does not exist or cannot be read.
pub fn resolve(fs: &dyn FileSystem, path: &str) -> Option<(String, FileType)> {
    let mut cur = String::new();
    let mut ty = FileType::Dir;
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        if ty != FileType::Dir {
            return None;
        }
        let exact = format!("{cur}/{comp}");
        match fs.metadata(&exact) {
            Ok(md) => {
                cur = exact;
                ty = md.file_type;
                continue;
            }
            Err(Error::NotFound(_)) => {}
            Err(_) => return None,
        }
        let dir = if cur.is_empty() { "/" } else { cur.as_str() };
        let entry = fs
            .read_dir(dir)
            .ok()?
            .into_iter()
            .find(|e| names_equal(&e.name, comp))?;
        cur = format!("{cur}/{}", entry.name);
        ty = entry.file_type;
    }
    if cur.is_empty() {
        cur.push('/');
    }
    Some((cur, ty))
}

/// The real path of regular file `path`, if it exists.
pub fn find_file(fs: &dyn FileSystem, path: &str) -> Option<String> {
    resolve(fs, path).and_then(|(p, t)| (t == FileType::File).then_some(p))
}

/// The real path of directory `path`, if it exists.
pub fn find_dir(fs: &dyn FileSystem, path: &str) -> Option<String> {
    resolve(fs, path).and_then(|(p, t)| (t == FileType::Dir).then_some(p))
}
