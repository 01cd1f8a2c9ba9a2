//! The fixture scripts of `tests/fixtures/` and their cache (`IMGPORT_FIXTURES`, by
//! default `~/.cache/imgport/fixtures`; each script is idempotent and flock-protected).

use crate::switch::skip;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The fixture cache root (`IMGPORT_FIXTURES` or `~/.cache/imgport/fixtures`).
pub fn cache_root() -> PathBuf {
    std::env::var_os("IMGPORT_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
                .join(".cache/imgport/fixtures")
        })
}

/// Run `tests/fixtures/SCRIPT CACHE` (one at a time per test process; the script
/// keeps what it built before) and return `CACHE/SUBDIR`. The script's messages about
/// fixtures it could not build are passed on to stderr.
pub fn build_fixtures(script: &str, subdir: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = cache_root();
    let out = Command::new("bash")
        .arg(repo_root().join("tests/fixtures").join(script))
        .arg(&root)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{err}",
        String::from_utf8_lossy(&out.stdout)
    );
    if !err.trim().is_empty() {
        eprintln!("{script}: {err}");
    }
    root.join(subdir)
}

/// `DIR/NAME` when `tests/fixtures/SCRIPT` built it; otherwise [`skip`] (a failure
/// under `IMGPORT_TEST_REQUIRE_TOOLS=1`) and `None`.
#[track_caller]
pub fn fixture(dir: &Path, name: &str, script: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    if p.exists() {
        return Some(p);
    }
    skip(
        &format!("fixture {name} was not built by tests/fixtures/{script}"),
        "see the script's messages (a missing tool, FUSE or loop devices?) and run scripts/install-deps.sh",
    );
    None
}
