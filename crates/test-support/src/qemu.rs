//! qemu-img, qemu-io and qemu-nbd (package qemu-utils) as the oracles of the disk tests.

use crate::switch::require_tool;
use std::path::Path;
use std::process::{Command, Stdio};

/// Run `prog args`; its stdout. Panics, with its stderr, when it fails.
pub fn run(prog: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Whether qemu-img and qemu-io are installed; otherwise a skip (a failure under
/// `IMGPORT_TEST_REQUIRE_TOOLS=1`) and false.
#[track_caller]
pub fn have_qemu_img() -> bool {
    require_tool("qemu-img", "apt-get install qemu-utils")
        && require_tool("qemu-io", "apt-get install qemu-utils")
}

/// `qemu-img ARGS`; its stdout.
pub fn qemu_img(args: &[&str]) -> Vec<u8> {
    run("qemu-img", args)
}

/// `qemu-img ARGS` (with `--output=json` among them), parsed.
pub fn qemu_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&qemu_img(args)).expect("qemu-img JSON")
}

/// `qemu-img measure -f FORMAT -O qcow2` of `image` read through an NBD export
/// (`qemu-nbd -r -f raw` on a Unix socket): a source without an allocated file size
/// (`bdrv_get_allocated_file_size` is -ENOTSUP over NBD), as for qemu's HTTP (curl)
/// driver. `(required, fully-allocated)`.
pub fn measure_over_nbd(image: &Path, format: &str) -> (u64, u64) {
    let dir = std::env::temp_dir().join(format!("imgport-nbd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join(format!(
        "{}.sock",
        image.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&sock);
    let mut nbd = Command::new("qemu-nbd")
        .args(["-r", "-f", "raw", "-k"])
        .arg(&sock)
        .arg(image)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-nbd");
    // qemu-nbd creates the socket once it listens (bounded wait: 30 s).
    for _ in 0..300 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let url = format!("nbd+unix:///?socket={}", sock.display());
    let out = Command::new("qemu-img")
        .args([
            "measure",
            "-f",
            format,
            "-O",
            "qcow2",
            "--output=json",
            &url,
        ])
        .output()
        .expect("run qemu-img");
    let _ = nbd.kill();
    let _ = nbd.wait();
    let _ = std::fs::remove_file(&sock);
    assert!(
        out.status.success(),
        "qemu-img measure over NBD: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("qemu-img JSON");
    (
        v["required"].as_u64().unwrap(),
        v["fully-allocated"].as_u64().unwrap(),
    )
}
