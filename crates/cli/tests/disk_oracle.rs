//! The disk core against its oracle, qemu-img, on every fixture of
//! tests/fixtures/disk-formats.sh (R-FMT, R-SIZE-ACTUAL, R-SIZE-VIRTUAL):
//! `info` and `measure` agree with `qemu-img info/measure`, the guest bytes we read
//! equal `qemu-img convert -O raw`, and every refused fixture is refused with
//! `InvalidFormatSize`, the detected format and a clear message.

mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::path::Path;

struct Expect {
    ok: bool,
    file: String,
    format: String,
    extra: String,
    qemu_fmt: String,
}

/// The entries of tests/fixtures/disk-formats.expect. A line that is neither `ok|…` nor
/// `refused|…` with a non-empty message fragment is an error of the file, not a skip.
fn expectations() -> Vec<Expect> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/disk-formats.expect"))
        .expect("expect file");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            let e = Expect {
                ok: f[0] == "ok",
                file: f.get(1).unwrap_or(&"").to_string(),
                format: f.get(2).unwrap_or(&"").to_string(),
                extra: f.get(3).unwrap_or(&"").to_string(),
                qemu_fmt: f.get(4).unwrap_or(&"").to_string(),
            };
            assert!(
                matches!(f[0], "ok" | "refused") && !e.file.is_empty() && !e.format.is_empty(),
                "disk-formats.expect: not `ok|FILE|FORMAT|…` or `refused|FILE|FORMAT|MESSAGE`: {l}"
            );
            assert!(
                e.ok || !e.extra.trim().is_empty(),
                "disk-formats.expect: a refused fixture needs a fragment of its message: {l}"
            );
            e
        })
        .collect()
}

fn qemu_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run_ok("qemu-img", args)).expect("qemu-img JSON")
}

fn with_fmt<'a>(mut args: Vec<&'a str>, fmt: &'a str, path: &'a str) -> Vec<&'a str> {
    if !fmt.is_empty() {
        args.extend(["-f", fmt]);
    }
    args.push(path);
    args
}

/// SHA-256 of every guest byte as our reader returns it.
fn our_guest_hash(path: &Path) -> String {
    let disk = imgport_disk::open_path(path).expect("open");
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let size = disk.size();
    let mut off = 0u64;
    while off < size {
        let n = (size - off).min(buf.len() as u64) as usize;
        disk.read_exact_at(&mut buf[..n], off).expect("read guest");
        h.update(&buf[..n]);
        off += n as u64;
    }
    format!("{:x}", h.finalize())
}

/// SHA-256 of `qemu-img convert -O raw` output (trimmed to the virtual size).
fn qemu_guest_hash(path: &Path, fmt: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("guest.raw");
    let p = path.to_str().unwrap();
    let mut args = vec!["convert", "-O", "raw"];
    if !fmt.is_empty() {
        args.extend(["-f", fmt]);
    }
    args.extend([p, out.to_str().unwrap()]);
    run_ok("qemu-img", &args);
    let data = std::fs::read(&out).unwrap();
    format!("{:x}", Sha256::digest(&data))
}

use imgport_disk::ReadAt;

#[test]
fn supported_fixtures_match_qemu_img() {
    let dir = disk_fixtures();
    let mut checked = 0;
    for e in expectations().into_iter().filter(|e| e.ok) {
        let path = dir.join(&e.file);
        let p = path.to_str().unwrap();
        let out = imgport(&["info", "--json", p]);
        assert!(
            out.status.success(),
            "{}: info failed: {}",
            e.file,
            String::from_utf8_lossy(&out.stdout)
        );
        let ours = json(&out);
        assert_eq!(ours["format"], e.format, "{}: format", e.file);
        assert_eq!(ours["subformat"], e.extra, "{}: subformat", e.file);
        let q = qemu_json(&with_fmt(vec!["info", "--output=json"], &e.qemu_fmt, p));
        assert_eq!(
            ours["virtual_size"], q["virtual-size"],
            "{}: virtual size vs qemu-img info",
            e.file
        );
        if let Some(cs) = q.get("cluster-size") {
            if e.format == "qcow2" || e.format == "vmdk" {
                assert_eq!(&ours["cluster_size"], cs, "{}: cluster size", e.file);
            }
        }
        let m = json(&imgport(&["measure", "--json", p]));
        let qm = qemu_json(&with_fmt(
            vec!["measure", "-O", "qcow2", "--output=json"],
            &e.qemu_fmt,
            p,
        ));
        assert_eq!(
            m["required"], qm["required"],
            "{}: measure required",
            e.file
        );
        assert_eq!(
            m["fully_allocated"], qm["fully-allocated"],
            "{}: measure fully allocated",
            e.file
        );
        if e.file != "big-4g.qcow2" {
            assert_eq!(
                our_guest_hash(&path),
                qemu_guest_hash(&path, &e.qemu_fmt),
                "{}: guest bytes differ from qemu-img convert -O raw",
                e.file
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures checked");
}

#[test]
fn refused_fixtures_are_refused_with_invalid_format_size() {
    let dir = disk_fixtures();
    for e in expectations().into_iter().filter(|e| !e.ok) {
        let p = dir.join(&e.file);
        for cmd in ["info", "measure"] {
            let out = imgport(&[cmd, "--json", p.to_str().unwrap()]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{}: {cmd} must exit 1, got {:?}: {}",
                e.file,
                out.status,
                String::from_utf8_lossy(&out.stdout)
            );
            let v = json(&out);
            let err = &v["error"];
            assert_eq!(err["code"], "InvalidFormatSize", "{}: {cmd} code", e.file);
            assert_eq!(
                err["detected_format"], e.format,
                "{}: {cmd} detected format",
                e.file
            );
            let msg = err["message"].as_str().unwrap_or_default();
            assert!(
                msg.contains(&e.extra),
                "{}: {cmd} message {msg:?} lacks {:?}",
                e.file,
                e.extra
            );
        }
    }
}

#[test]
fn info_on_a_4g_qcow2_reads_only_metadata() {
    let p = disk_fixtures().join("big-4g.qcow2");
    let v = json(&imgport(&["info", "--json", p.to_str().unwrap()]));
    assert_eq!(v["virtual_size"], 4u64 << 30);
    let read = v["bytes_read"].as_u64().unwrap();
    let file = v["file_size"].as_u64().unwrap();
    eprintln!("info on a 4 GiB qcow2 ({file} bytes on disk) read {read} bytes");
    // Header cluster + L1 + the 8 L2 tables + the detection probe: well under 1 MiB,
    // and far less than the stored data.
    assert!(read < 512 * 1024, "read {read} bytes");
}

#[test]
fn human_output_and_exit_status() {
    let dir = disk_fixtures();
    let out = imgport(&["info", dir.join("qcow2-zstd.qcow2").to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("file format: qcow2") && text.contains("compression type: zstd"),
        "{text}"
    );
    let out = imgport(&["info", dir.join("bad-backing.qcow2").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidFormatSize"));
    let out = imgport(&["info", "/nonexistent/image.qcow2"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing file is an I/O error, not a verdict"
    );
}

/// A metadata-preallocated qcow2 that was never written: every cluster is stored (the
/// allocation map says data), but qemu measures no data (its host clusters are holes),
/// and `check` must call the disk all zero (R-PART) from the same view, not from the
/// allocation map.
#[test]
fn an_empty_preallocated_qcow2_is_all_zero_for_check() {
    let p = disk_fixtures().join("qcow2-pm-empty.qcow2");
    let p = p.to_str().unwrap();
    let m = json(&imgport(&["measure", "--json", p]));
    let q = qemu_json(&["measure", "-O", "qcow2", "--output=json", p]);
    assert_eq!(m["required"], q["required"]);
    assert!(
        m["required"].as_u64() < m["fully_allocated"].as_u64(),
        "the fixture exercises qemu's metadata-preallocation rule: {m}"
    );
    let out = imgport(&["check", "--json", p]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["allocation"]["data"], 64u64 << 20, "{v:#}");
    assert_eq!(v["guest"]["all_zero"], true, "{v:#}");
    let f = v["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PartitionNotPresent")
        .unwrap_or_else(|| panic!("no PartitionNotPresent finding: {v:#}"));
    assert!(
        f["message"].as_str().unwrap().contains("every byte"),
        "{f:#}"
    );
}
