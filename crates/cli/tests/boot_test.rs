//! `imgport boot-test` and `check --boot` on real bootable Debian 12 images (issue 17,
//! item 7), under TCG with the QEMU of tests/fixtures/qemu-chroot.sh (the host keeps
//! its qemu-utils 10). Three boots, each bounded by `--timeout`:
//!
//! - debian12-cloud-boot (stock kernel, cloud-init)  → `booted` (the NoCloud marker);
//! - debian12-novirtio-boot (virtio gone from the initramfs) → `failed`, root not found
//!   → VirtioNotInstall via R-BOOT (through `check --boot`);
//! - debian12-nocloud-boot (no cloud-init) → `no-agent`.
//!
//! A boot takes minutes under TCG on a loaded host, so the tests run only with
//! `IMGPORT_BOOT_TESTS=1` or `IMGPORT_TEST_REQUIRE_TOOLS=1` (CI); under the latter a
//! missing chroot, QEMU or loop device is a failure, not a skip.
//!
//!     IMGPORT_BOOT_TESTS=1 cargo test -p imgport --test boot_test
//!
//! `IMGPORT_BOOT_TIMEOUT` (seconds, default 900) bounds each boot; no assertion is made
//! on how long a boot takes.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The test-support switch (IMGPORT_TEST_REQUIRE_TOOLS=1): boots run, and may not skip.
fn require_tools() -> bool {
    imgport_test_support::required()
}

fn enabled() -> bool {
    if require_tools() || std::env::var("IMGPORT_BOOT_TESTS").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "SKIPPED: set IMGPORT_BOOT_TESTS=1 (or IMGPORT_TEST_REQUIRE_TOOLS=1) to boot the \
         fixtures under QEMU/TCG (minutes each)"
    );
    false
}

/// The QEMU wrapper and the boot fixtures directory, built once; `None` (skip) when they
/// cannot be built, which under IMGPORT_TEST_REQUIRE_TOOLS=1 is a panic instead.
fn fixtures() -> Option<&'static (PathBuf, PathBuf)> {
    static F: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    F.get_or_init(|| {
        let root = cache_root();
        let out = Command::new("bash")
            .arg(repo().join("tests/fixtures/boot-images.sh"))
            .arg(&root)
            .output()
            .expect("run boot-images.sh");
        if !out.status.success() {
            let msg = format!(
                "tests/fixtures/boot-images.sh failed (needs debootstrap, network to a \
                 Debian mirror, loop devices): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            imgport_test_support::skip(&msg, "tests/fixtures/boot-images.sh, qemu-chroot.sh");
            return None;
        }
        let qemu = root.join("qemu-chroot.qemu-system-x86_64");
        let v = Command::new(&qemu).arg("--version").output();
        let ok = v.as_ref().is_ok_and(|o| o.status.success());
        if !ok {
            let msg = format!("{} --version failed: {v:?}", qemu.display());
            imgport_test_support::skip(&msg, "tests/fixtures/boot-images.sh, qemu-chroot.sh");
            return None;
        }
        // The host's qemu-img must still be 10 (the chroot keeps it untouched).
        let host = run_ok("qemu-img", &["--version"]);
        assert!(host.starts_with("qemu-img version 10."), "{host}");
        Some((qemu, root.join("boot")))
    })
    .as_ref()
}

fn timeout() -> String {
    std::env::var("IMGPORT_BOOT_TIMEOUT").unwrap_or_else(|_| "900".into())
}

fn boot_args(qemu: &std::path::Path) -> Vec<String> {
    vec![
        "--qemu".into(),
        qemu.to_string_lossy().into_owned(),
        "--accel".into(),
        "tcg".into(),
        "--timeout".into(),
        timeout(),
        "--json".into(),
    ]
}

fn imgport_s(args: &[String]) -> std::process::Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    imgport(&a)
}

#[test]
fn debian_with_cloud_init_boots_to_the_marker() {
    if !enabled() {
        return;
    }
    let Some((qemu, dir)) = fixtures() else {
        return;
    };
    let img = dir.join("debian12-cloud-boot.qcow2");
    let mut args = vec!["boot-test".into(), img.to_string_lossy().into_owned()];
    args.extend(boot_args(qemu));
    let out = imgport_s(&args);
    let v = json(&out);
    assert_eq!(v["result"], "booted", "{v:#}");
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert_eq!(v["codes"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["boot"]["accel"], "tcg");
    let tail: Vec<&str> = v["boot"]["serial_tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(tail.len() <= 60, "{}", tail.len());
    // The marker as the guest printed it, and the kernel's own lines before it.
    assert!(
        tail.iter().any(|l| l.starts_with("imgport-boot-ok-")),
        "{tail:#?}"
    );
    assert!(v["boot"]["elapsed_ms"].as_u64().unwrap() > 0);
    // It booted under QEMU's seccomp sandbox (no fallback to a QEMU without it).
    let reason = v["boot"]["reason"].as_str().unwrap_or("");
    assert!(!reason.contains("no seccomp sandbox"), "{reason}");
}

#[test]
fn debian_without_virtio_in_its_initramfs_fails_at_root_mount() {
    if !enabled() {
        return;
    }
    let Some((qemu, dir)) = fixtures() else {
        return;
    };
    let img = dir.join("debian12-novirtio-boot.qcow2");
    let mut args = vec![
        "check".into(),
        "--boot".into(),
        img.to_string_lossy().into_owned(),
    ];
    args.extend(boot_args(qemu));
    let out = imgport_s(&args);
    let v = json(&out);
    let boot = &v["guest"]["boot"];
    assert_eq!(boot["outcome"], "failed", "{boot:#}");
    assert_eq!(boot["failure"], "root-not-found", "{boot:#}");
    assert_eq!(out.status.code(), Some(1));
    let findings = v["verdict"]["findings"].as_array().unwrap();
    let f = findings
        .iter()
        .find(|f| f["rule"] == "R-BOOT")
        .unwrap_or_else(|| panic!("no R-BOOT finding: {findings:#?}"));
    assert_eq!(f["code"], "VirtioNotInstall", "{f:#}");
    assert_eq!(f["severity"], "error", "{f:#}");
    // The evidence is the initramfs giving up on the root device, from the console.
    let ev = f["evidence"].to_string();
    assert!(
        ev.contains("does not exist") || ev.contains("Gave up waiting"),
        "{ev}"
    );
    assert!(
        boot["serial_tail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("(initramfs)")),
        "{boot:#}"
    );
}

#[test]
fn debian_without_cloud_init_is_no_agent() {
    if !enabled() {
        return;
    }
    let Some((qemu, dir)) = fixtures() else {
        return;
    };
    let img = dir.join("debian12-nocloud-boot.qcow2");
    let mut args = vec!["boot-test".into(), img.to_string_lossy().into_owned()];
    args.extend(boot_args(qemu));
    let out = imgport_s(&args);
    let v = json(&out);
    assert_eq!(v["result"], "no-agent", "{v:#}");
    assert_eq!(out.status.code(), Some(1), "{v:#}");
    let r = v["findings"].as_array().unwrap();
    assert!(
        r.iter()
            .any(|f| f["rule"] == "R-BOOT" && f["severity"] == "warning"),
        "{r:#?}"
    );
}

#[test]
fn windows_is_not_run() {
    // No QEMU needed: the test is refused before booting.
    let img = windows_fixtures().join("win2012r2.raw");
    if !img.exists() {
        imgport_test_support::skip(
            &format!("{} missing", img.display()),
            "tests/fixtures/windows.sh",
        );
        return;
    }
    let out = imgport(&[
        "boot-test",
        img.to_str().unwrap(),
        "--qemu",
        "/nonexistent/qemu",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["result"], "not-run", "{v:#}");
    assert!(
        v["boot"]["reason"].as_str().unwrap().contains("Windows"),
        "{v:#}"
    );
    assert_eq!(out.status.code(), Some(2));
}

/// A stand-in for qemu-system-x86_64: writes `serial` to the `-serial file:` path, records
/// its pid, then sleeps (as a hung guest would) until killed.
fn fake_qemu(dir: &std::path::Path, serial: &str) -> PathBuf {
    let path = dir.join("fake-qemu");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do case \"$1\" in -serial) s=${{2#file:}}; shift;; esac; shift; done\n\
             echo $$ > \"{pid}\"\nprintf '%b' '{serial}' >> \"$s\"\nexec sleep 1000\n",
            pid = dir.join("pid").display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The fake QEMU's process no longer exists (killed and reaped, not a zombie).
fn assert_gone(dir: &std::path::Path) {
    let pid = std::fs::read_to_string(dir.join("pid")).expect("the fake QEMU ran");
    let proc_ = PathBuf::from(format!("/proc/{}", pid.trim()));
    let state = std::fs::read_to_string(proc_.join("stat")).unwrap_or_default();
    assert!(
        state.is_empty(),
        "QEMU (pid {}) still there: {state}",
        pid.trim()
    );
}

#[test]
fn a_hung_guest_is_killed_and_reaped_at_the_timeout() {
    let img = guest_image("debian12-cloud.qcow2");
    let dir = tempfile::tempdir().unwrap();
    let qemu = fake_qemu(
        dir.path(),
        "SeaBIOS (version 1.16.2)\\nBooting from Hard Disk...\\n",
    );
    let out = imgport(&[
        "boot-test",
        img.to_str().unwrap(),
        "--qemu",
        qemu.to_str().unwrap(),
        "--accel",
        "tcg",
        "--timeout",
        "2",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["result"], "failed", "{v:#}");
    assert_eq!(v["boot"]["failure"], "timeout", "{v:#}");
    assert_eq!(
        v["boot"]["serial_tail"][1], "Booting from Hard Disk...",
        "{v:#}"
    );
    // A timeout without any failure seen is a warning (a slow host), not an error code.
    assert_eq!(v["codes"], serde_json::json!([]), "{v:#}");
    assert_gone(dir.path());
}

#[test]
fn a_panic_on_the_console_ends_the_boot_with_its_code() {
    let img = guest_image("debian12-cloud.qcow2");
    let dir = tempfile::tempdir().unwrap();
    let qemu = fake_qemu(
        dir.path(),
        "VFS: Cannot open root device \"vda1\" or unknown-block(0,0): error -6\\n\
         Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\\n",
    );
    let out = imgport(&[
        "check",
        "--boot",
        img.to_str().unwrap(),
        "--qemu",
        qemu.to_str().unwrap(),
        "--accel",
        "tcg",
        "--timeout",
        "600",
        "--json",
    ]);
    let v = json(&out);
    let boot = &v["guest"]["boot"];
    assert_eq!(boot["failure"], "root-not-found", "{boot:#}");
    // Concluded at the panic, not at the 600 s timeout.
    assert!(boot["elapsed_ms"].as_u64().unwrap() < 600_000, "{boot:#}");
    assert!(v["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "R-BOOT" && f["code"] == "VirtioNotInstall"));
    assert_eq!(v["verdict"]["importable"], false);
    assert_eq!(out.status.code(), Some(1));
    assert_gone(dir.path());
}
