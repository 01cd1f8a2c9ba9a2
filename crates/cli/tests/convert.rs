//! `imgport convert` against qemu-img as the oracle: every fixture format converts to
//! qcow2 (plain, zlib, zstd) and raw; `qemu-img compare` says identical, `qemu-img check`
//! is clean, `qemu-img info` shows the compression type; edge cases and interruption.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn supported_fixtures() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/disk-formats.expect")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("ok|"))
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[1].to_string(), f.get(4).unwrap_or(&"").to_string())
        })
        .collect()
}

fn qemu_compare(src: &Path, src_fmt: &str, dst: &Path, dst_fmt: &str) {
    let mut args = vec!["compare".to_string()];
    if !src_fmt.is_empty() {
        args.extend(["-f".into(), src_fmt.into()]);
    }
    args.extend([
        "-F".into(),
        dst_fmt.into(),
        src.display().to_string(),
        dst.display().to_string(),
    ]);
    let out = Command::new("qemu-img").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-img compare {src:?} {dst:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn qemu_check_clean(dst: &Path) {
    let out = Command::new("qemu-img")
        .args(["check", "--output=json"])
        .arg(dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "qemu-img check {dst:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["corruptions", "leaks", "check-errors"] {
        assert!(
            v.get(k).is_none_or(|n| n == 0),
            "{dst:?}: qemu-img check reports {k}: {v}"
        );
    }
}

fn convert(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["convert", "--json", "--verify"];
    a.extend_from_slice(args);
    let out = imgport(&a);
    assert!(
        out.status.success(),
        "imgport convert {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

#[test]
fn every_fixture_converts_identically() {
    let dir = disk_fixtures();
    let tmp = tempfile::tempdir().unwrap();
    for (name, qfmt) in supported_fixtures() {
        let src = dir.join(&name);
        let s = src.to_str().unwrap();
        let measured = json(&imgport(&["measure", "--json", s]));
        for (tag, extra) in [
            ("plain", vec![]),
            ("zlib", vec!["-c"]),
            ("zstd", vec!["-c", "--compression", "zstd"]),
        ] {
            let dst = tmp.path().join(format!("{name}.{tag}.qcow2"));
            let mut args = vec![s, dst.to_str().unwrap()];
            args.extend(extra.iter().copied());
            let stats = convert(&args);
            qemu_compare(&src, &qfmt, &dst, "qcow2");
            qemu_check_clean(&dst);
            let info: serde_json::Value = serde_json::from_str(&run_ok(
                "qemu-img",
                &["info", "--output=json", dst.to_str().unwrap()],
            ))
            .unwrap();
            let qsrc: serde_json::Value = serde_json::from_str(&run_ok(
                "qemu-img",
                &if qfmt.is_empty() {
                    vec!["info", "--output=json", s]
                } else {
                    vec!["info", "--output=json", "-f", &qfmt, s]
                },
            ))
            .unwrap();
            assert_eq!(
                info["virtual-size"], qsrc["virtual-size"],
                "{name} {tag}: virtual size"
            );
            let ctype = info["format-specific"]["data"]["compression-type"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert_eq!(
                ctype,
                if tag == "zstd" { "zstd" } else { "zlib" },
                "{name} {tag}: compression type"
            );
            // R-SIZE-ACTUAL: the uncompressed output never exceeds what measure promised.
            let size = std::fs::metadata(&dst).unwrap().len();
            assert_eq!(
                stats["output_size"], size,
                "{name} {tag}: reported output size"
            );
            if tag == "plain" {
                assert!(
                    size <= measured["required"].as_u64().unwrap(),
                    "{name}: output {size} > measure required {}",
                    measured["required"]
                );
            }
            // Our reader reads it back too (the --verify above), and it measures the same data.
            std::fs::remove_file(&dst).unwrap();
        }
        let raw = tmp.path().join(format!("{name}.raw"));
        convert(&[s, raw.to_str().unwrap(), "-O", "raw"]);
        qemu_compare(&src, &qfmt, &raw, "raw");
        std::fs::remove_file(&raw).unwrap();
    }
}

fn make_raw(path: &Path, script: &str) {
    let st = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("F", path)
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

#[test]
fn edge_cases_match_qemu() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        // Fully allocated, incompressible, size not a multiple of the cluster size.
        ("full.raw", "head -c $((8*1048576+512)) /dev/urandom > $F"),
        // Allocated but all zeros: nothing to write.
        ("zeros.raw", "head -c $((4*1048576)) /dev/zero > $F"),
        // A 512-byte tail sector of data after a hole.
        ("tail.raw", "truncate -s $((3*1048576+512)) $F && printf 'end' | dd of=$F bs=1 seek=$((3*1048576+100)) conv=notrunc status=none"),
        // One byte: rounded up to one sector.
        ("byte.raw", "printf 'z' > $F"),
    ];
    for (name, script) in cases {
        let src = tmp.path().join(name);
        make_raw(&src, script);
        for extra in [
            vec![],
            vec!["-c"],
            vec!["-c", "--compression", "zstd"],
            vec!["--cluster-size", "4096"],
            vec!["--cluster-size", "2097152", "-c"],
        ] {
            let dst = tmp.path().join(format!("{name}.qcow2"));
            let mut args = vec![src.to_str().unwrap(), dst.to_str().unwrap(), "--force"];
            args.extend(extra.iter().copied());
            let stats = convert(&args);
            qemu_compare(&src, "raw", &dst, "qcow2");
            qemu_check_clean(&dst);
            if name == "zeros.raw" {
                assert_eq!(
                    stats["clusters_written"], 0,
                    "all-zero image writes no data cluster"
                );
            }
        }
    }
}

#[test]
fn large_sparse_image_converts_in_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("sparse.qcow2");
    run_ok(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", src.to_str().unwrap(), "600G"],
    );
    run_ok(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -P 0xab 100G 3M",
            "-c",
            "write -P 0xcd 599G 1M",
            src.to_str().unwrap(),
        ],
    );
    let dst = tmp.path().join("out.qcow2");
    let started = std::time::Instant::now();
    let stats = convert(&[src.to_str().unwrap(), dst.to_str().unwrap(), "-c"]);
    eprintln!(
        "600 GiB sparse → {} bytes in {:?}",
        stats["output_size"],
        started.elapsed()
    );
    assert_eq!(stats["clusters_written"], 64);
    qemu_compare(&src, "qcow2", &dst, "qcow2");
    qemu_check_clean(&dst);
}

#[test]
fn refuses_to_overwrite_and_bad_options() {
    let dir = disk_fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("exists.qcow2");
    std::fs::write(&dst, b"keep me").unwrap();
    let src = dir.join("qcow2-v3.qcow2");
    let out = imgport(&["convert", src.to_str().unwrap(), dst.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an existing destination is refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read(&dst).unwrap(), b"keep me");
    let out = imgport(&[
        "convert",
        "-c",
        "-O",
        "raw",
        src.to_str().unwrap(),
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    // A refused source is refused with its code, and nothing is written.
    let out = imgport(&[
        "convert",
        "--json",
        dir.join("bad-backing.qcow2").to_str().unwrap(),
        tmp.path().join("y").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"]["code"], "InvalidFormatSize");
    assert!(!tmp.path().join("y").exists());
}

#[test]
fn killed_conversion_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("big.raw");
    // 768 MiB of incompressible data: compression takes several seconds.
    make_raw(&src, "openssl enc -aes-128-ctr -pass pass:k -nosalt -pbkdf2 -in /dev/zero 2>/dev/null | head -c $((768*1048576)) > $F");
    let dst = tmp.path().join("out.qcow2");
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgport"))
        .args([
            "convert",
            "-c",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = child.kill(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "conversion finished before it could be killed; make the input bigger"
    );
    assert!(!dst.exists(), "a killed conversion left {dst:?}");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "big.raw")
        .collect();
    assert!(leftovers.is_empty(), "leftover files: {leftovers:?}");
}
