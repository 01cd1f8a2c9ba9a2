//! Shared helpers for the CLI's integration tests: fixture building and running tools.
#![allow(dead_code)]

pub mod range_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    imgport_test_support::repo_root()
}

/// The fixture cache root (`IMGPORT_FIXTURES` or `~/.cache/imgport/fixtures`), and the
/// fixture scripts (idempotent, cached on disk), from the shared test support.
#[allow(unused_imports)]
pub use imgport_test_support::{build_fixtures, cache_root};

/// The disk-format fixtures directory, built on first use.
pub fn disk_fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_fixtures("disk-formats.sh", "disk"))
}

/// The Debian guest images (tests/fixtures/guest-images.sh: debootstrap, a few
/// minutes the first time, then cached).
pub fn guest_fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_fixtures("guest-images.sh", "guest"))
}

/// One guest image of [`guest_fixtures`], which must have been built (the script skips
/// the LVM one, with a message, where there is no loop device).
pub fn guest_image(name: &str) -> PathBuf {
    let p = guest_fixtures().join(name);
    assert!(
        p.exists(),
        "{} was not built: see guest-images.sh's messages (LVM needs a loop device)",
        p.display()
    );
    p
}

/// The Windows system-volume disks (tests/fixtures/windows.sh: hivex hives on NTFS).
pub fn windows_fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_fixtures("windows.sh", "windows"))
}

/// Partition-table and LVM disks (tests/fixtures/partitions.sh).
pub fn partition_fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_fixtures("partitions.sh", "partitions"))
}

/// R-SIZE-* fixtures (tests/fixtures/size-limits.sh): 51 GiB allocated, 600 GiB virtual.
pub fn size_fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_fixtures("size-limits.sh", "size"))
}

/// Run the `imgport` binary.
pub fn imgport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imgport"))
        .args(args)
        .output()
        .expect("run imgport")
}

/// Run a command and return stdout, panicking with its stderr on failure.
pub fn run_ok(cmd: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&imgport_test_support::run(cmd, args)).into_owned()
}

/// Parse stdout as JSON.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The Python of the venv with the real API/S3/browser clients (scripts/install-py.sh,
/// run here so the test works from a clean checkout; `IMGPORT_VENV` picks the venv).
#[allow(dead_code)]
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("IMGPORT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/imgport/venv")
        });
    let py = venv.join("bin/python");
    let st = Command::new("bash")
        .arg(repo().join("scripts/install-py.sh"))
        .status();
    assert!(
        st.is_ok_and(|s| s.success()) && py.exists(),
        "the Python clients are missing: run scripts/install-py.sh (venv {})",
        venv.display()
    );
    py
}
