//! The web console in a real browser (issue 8): tests/clients/console_e2e.py drives
//! Debian's Chromium (/usr/bin/chromium, headless) with Playwright from the venv of
//! scripts/install-py.sh against this build's `imgport serve` on ephemeral loopback
//! ports: sign in, create a bucket, upload the fixture images from the browser in parts
//! (resumed after a page reload), check them (DryRun), import them, follow them to
//! NORMAL / IMPORTFAILED (CloudInitNotInstalled), rename and delete, read the messages,
//! and see that an unsubscribed user got none. Screenshots of every page are kept in a
//! temp dir (`IMGPORT_CONSOLE_SHOTS` to choose it), printed at the end.
//!
//! Chromium (apt `chromium`, scripts/apt-packages.txt) and the venv (`playwright`,
//! scripts/requirements-py.txt) must be installed: this test fails, not skips, without them.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn venv_python_with_playwright() -> PathBuf {
    let py = venv_python();
    let pw = Command::new(&py)
        .args(["-c", "import playwright.sync_api"])
        .output()
        .expect("run the venv's python");
    assert!(
        pw.status.success(),
        "Playwright is not installed for {}: run scripts/install-py.sh (scripts/requirements-py.txt pins playwright)\n{}",
        py.display(),
        String::from_utf8_lossy(&pw.stderr)
    );
    py
}

fn chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`, listed in scripts/apt-packages.txt); the console tests never download a browser"
    );
}

#[test]
fn the_console_imports_an_image_in_a_real_browser() {
    chromium();
    let py = venv_python_with_playwright();
    let guest = guest_fixtures();
    let good = guest.join("debian12-cloud.qcow2");
    let bad = guest.join("debian12-nocloud.qcow2");
    let shots = std::env::var_os("IMGPORT_CONSOLE_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("imgport-console-shots-{}", std::process::id()))
        });
    let out = Command::new(py)
        .arg(repo().join("tests/clients/console_e2e.py"))
        .arg(env!("CARGO_BIN_EXE_imgport"))
        .arg(&good)
        .arg(&bad)
        .arg(&shots)
        .output()
        .expect("run console_e2e.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    println!("console screenshots: {}", shots.display());
    assert!(
        out.status.success(),
        "console_e2e.py failed (screenshots in {}):\n{stdout}\n{}",
        shots.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
