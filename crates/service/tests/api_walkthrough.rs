//! The first start's walkthrough works as printed (issue 7, "Done when"): the commands
//! `imgport serve` prints with the new admin's keys are run, unchanged, by bash in a
//! directory holding disk.qcow2 — tccli configure, the boto3 upload, the DryRun, the
//! tccli import and its polling, DescribeMessages — and the image ends NORMAL.

mod api_common;

use api_common::*;
use std::process::Command;

#[test]
fn the_printed_walkthrough_imports_an_image() {
    venv_python();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let raw = raw_disk(dir.path(), "good", true, true, "dos", 64, 0);
    std::fs::create_dir_all(&work).unwrap();
    to_qcow2(&raw, &work.join("disk.qcow2"));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let s = Server::start(&data, 1);
    let start = s
        .banner
        .find("# 1. Point tccli at this service")
        .unwrap_or_else(|| panic!("no walkthrough in the banner:\n{}", s.banner));
    let script = &s.banner[start..];
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new("timeout")
        .args(["300", "bash", "-euo", "pipefail", "-c", script])
        .current_dir(&work)
        .env("HOME", &home)
        .env("PATH", path_env())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The walkthrough declares what the DryRun detected (issue 15 item 7), not a fixed OS.
    assert!(!script.contains("--OsType CentOS"), "{script}");
    for want in [
        "\"Importable\": true",
        "Detected: CentOS 7 x86_64",
        "\"ImageState\": \"NORMAL\"",
        // Step 7: `imgport images` / `messages` with tccli's profile (issue 15 item 9).
        "  my-image  NORMAL  CentOS 7 64-bit",
        "1 message(s), 1 unread",
        "Image import succeeded: my-image",
    ] {
        assert!(stdout.contains(want), "{want} missing from:\n{stdout}");
    }
    let dbh = db(&data);
    let app: i64 = s.app_id.parse().unwrap();
    let (imgs, total) = dbh
        .images(
            app,
            &imgport_service::db::images::ImageFilter::default(),
            0,
            10,
        )
        .unwrap();
    assert_eq!(total, 1);
    let stored = data
        .join("images")
        .join(format!("{}.qcow2", imgs[0].image_id));
    run_ok(
        "qemu-img",
        &[
            "compare",
            work.join("disk.qcow2").to_str().unwrap(),
            stored.to_str().unwrap(),
        ],
    );
}
