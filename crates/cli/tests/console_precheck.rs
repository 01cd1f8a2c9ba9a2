//! The in-browser pre-check (issue 15 item 1) in a real browser:
//! tests/clients/console_precheck.py has Chromium (Playwright) check local images in
//! the console's Web Worker (the WebAssembly build of the check crates, reading the
//! file by `File.slice`) and compares each report with `imgport check --json`: the
//! same verdict, codes, evidence, fixes and facts. Guest images of several kinds
//! (importable, refused for cloud-init, LVM, btrfs, Windows), each disk format, and
//! broken files.
//!
//! Needs the bundle embedded (scripts/build-wasm.sh before the build, as
//! scripts/test.sh does), Chromium and the venv: fails, not skips, without them under
//! IMGPORT_TEST_REQUIRE_TOOLS=1.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn the_browser_check_gives_the_cli_verdict() {
    if imgport_service::console::WASM_ASSETS.is_empty() {
        imgport_test_support::switch::skip(
            "the in-browser check (web/pkg/) is not embedded in this build",
            "run scripts/build-wasm.sh, then rebuild",
        );
        return;
    }
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing (apt-get install chromium; scripts/apt-packages.txt)"
    );
    let guest = guest_fixtures();
    let disk = disk_fixtures();
    let win = windows_fixtures();
    let images = [
        guest.join("debian12-cloud.qcow2"),
        guest.join("debian12-nocloud.qcow2"),
        guest.join("debian12-lvm.qcow2"),
        guest.join("debian12-btrfs-subvol.qcow2"),
        guest.join("debian12-dracut-novirtio.qcow2"),
        guest.join("debian12-i386.qcow2"),
        guest.join("luks-root.qcow2"),
        guest.join("debian-installer.iso"),
        win.join("win2016.raw"),
        win.join("win2008r2.raw"),
        disk.join("qcow2-zstd.qcow2"),
        disk.join("vmdk-stream.vmdk"),
        disk.join("vhd-dynamic.vhd"),
        disk.join("bad-backing.qcow2"),
        disk.join("bad-trunc.vhd"),
        disk.join("refused-vhdx.vhdx"),
    ];
    let out = Command::new(venv_python())
        .arg(repo().join("tests/clients/console_precheck.py"))
        .arg(env!("CARGO_BIN_EXE_imgport"))
        .args(&images)
        .output()
        .expect("run console_precheck.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("OK precheck"),
        "console_precheck.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
