//! Tree comparison for the filesystem reader tests: every listing, type, size, byte
//! and symlink target read through a reader must equal the host tree it was built from.

use imgport_inspect::fs::{FileSystem, FileType};
use std::collections::BTreeMap;
use std::path::Path;

/// The `FileType` of a host directory entry (symlinks not followed).
pub fn host_type(md: &std::fs::Metadata) -> FileType {
    let t = md.file_type();
    if t.is_symlink() {
        FileType::Symlink
    } else if t.is_dir() {
        FileType::Dir
    } else if t.is_file() {
        FileType::File
    } else {
        FileType::Other
    }
}

/// Compare directory `inside` of `fs` with host directory `host`, recursively:
/// names, types, sizes, bytes, symlink targets. Names in `skip` (at this level
/// only) are ignored on both sides. Returns the number of entries compared.
pub fn compare_tree(fs: &dyn FileSystem, inside: &str, host: &Path, skip: &[&str]) -> usize {
    let mut ours: BTreeMap<String, FileType> = fs
        .read_dir(inside)
        .unwrap_or_else(|e| panic!("read_dir {inside}: {e}"))
        .into_iter()
        .map(|e| (e.name, e.file_type))
        .collect();
    for s in skip {
        ours.remove(*s);
    }
    let theirs: BTreeMap<String, FileType> = std::fs::read_dir(host)
        .unwrap()
        .filter(|e| !skip.iter().any(|s| e.as_ref().unwrap().file_name() == *s))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                host_type(&e.path().symlink_metadata().unwrap()),
            )
        })
        .collect();
    assert_eq!(ours, theirs, "listing of {inside}");
    let mut n = ours.len();
    for (name, ty) in &theirs {
        let p = if inside == "/" {
            format!("/{name}")
        } else {
            format!("{inside}/{name}")
        };
        let h = host.join(name);
        let md = fs
            .metadata(&p)
            .unwrap_or_else(|e| panic!("metadata {p}: {e}"));
        assert_eq!(md.file_type, *ty, "type of {p}");
        match ty {
            FileType::Dir => n += compare_tree(fs, &p, &h, &[]),
            FileType::File => {
                let want =
                    std::fs::read(&h).unwrap_or_else(|e| panic!("host file {}: {e}", h.display()));
                assert_eq!(md.size, want.len() as u64, "size of {p}");
                let got = fs
                    .read_file(&p, 1 << 30)
                    .unwrap_or_else(|e| panic!("read {p}: {e}"));
                assert!(
                    got == want,
                    "content of {p} differs ({} vs {} bytes)",
                    got.len(),
                    want.len()
                );
            }
            FileType::Symlink => {
                let want = std::fs::read_link(&h).unwrap();
                let got = fs
                    .read_link(&p)
                    .unwrap_or_else(|e| panic!("read_link {p}: {e}"));
                assert_eq!(got, want.to_str().unwrap(), "target of {p}");
                assert_eq!(md.size, got.len() as u64, "lstat size of {p}");
            }
            FileType::Other => {}
        }
    }
    n
}
