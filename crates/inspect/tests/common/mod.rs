//! Helpers shared by the inspect integration tests.
#![allow(dead_code)]

pub mod hostile;
pub mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run the fixture script `tests/fixtures/SCRIPT` (idempotent, cached under
/// `IMGPORT_FIXTURES` or `~/.cache/imgport/fixtures`) and return `CACHE/SUBDIR`.
pub fn build_fixtures(script: &str, subdir: &str) -> PathBuf {
    let base = std::env::var_os("IMGPORT_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/imgport/fixtures")
        });
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(script);
    let out = Command::new("bash")
        .arg(&path)
        .arg(&base)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed: {err}");
    if !err.trim().is_empty() {
        eprintln!("{script}: {err}");
    }
    base.join(subdir)
}
