//! Hostile images through the binary (issue 18 items 8 and 9): `imgport check` must
//! refuse them with InvalidFormatSize under R-FMT, quickly and reading metadata only,
//! and `imgport convert` must refuse them before writing anything.

mod common;
#[path = "../../disk/tests/support/hostile_images.rs"]
mod hostile_images;

use common::{disk_fixtures, imgport, json, size_fixtures};
use hostile_images::*;
use serde_json::Value;
use std::path::Path;

/// `imgport check --json FILE`: asserts exit 1, the first code InvalidFormatSize under
/// R-FMT, and a message containing `needle`; returns the report.
fn refused_by_check(file: &Path, needle: &str) -> Value {
    let out = imgport(&["check", "--json", file.to_str().unwrap()]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{}: {v:#}", file.display());
    assert_eq!(v["verdict"]["codes"][0], "InvalidFormatSize", "{v:#}");
    let f = v["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "InvalidFormatSize")
        .unwrap_or_else(|| panic!("no InvalidFormatSize finding: {v:#}"));
    assert_eq!(f["rule"], "R-FMT", "{f:#}");
    let text = f.to_string();
    assert!(text.contains(needle), "{needle:?} not in {f:#}");
    v
}

#[test]
fn check_and_convert_refuse_a_qcow2_whose_l1_entries_share_one_l2_table() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut q = Qcow2::create(dir.path(), "shared-l2.qcow2", "40G", false);
    q.share_l2_table();
    q.share_first_cluster(!0);
    let p = q.save().to_path_buf();
    let v = refused_by_check(&p, "is referenced by 80 L1 entries; its refcount says 1");
    assert!(v["bytes_read"].as_u64().unwrap() < 2 << 20, "{v:#}");
    // convert: refused at open, nothing written.
    let dst = dir.path().join("out.qcow2");
    let out = imgport(&["convert", "-c", p.to_str().unwrap(), dst.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("referenced by 80 L1 entries"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dst.exists());
}

#[test]
fn check_refuses_51_gib_of_compressed_clusters_shared_from_7_mib_despite_clean_refcounts() {
    if !have("qemu-img") {
        return;
    }
    // tests/fixtures/size-limits.sh: one compressed cluster named 835584 times, its
    // 64-bit refcount forged to match. qemu-img check finds nothing wrong.
    let p = size_fixtures().join("shared-51g.qcow2");
    assert_eq!(qemu_check(&p).0, 0);
    let v = refused_by_check(
        &p,
        "bytes of compressed clusters, more than the 7012352-byte file can hold",
    );
    assert!(v["bytes_read"].as_u64().unwrap() < 8 << 20, "{v:#}");
    // The same size from compressed clusters that are really there is a size verdict.
    let packed = size_fixtures().join("actual-51g-packed.qcow2");
    let out = imgport(&["check", "--json", packed.to_str().unwrap()]);
    let v = json(&out);
    assert!(
        v["verdict"]["passed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "R-FMT"),
        "{v:#}"
    );
}

#[test]
fn check_refuses_vhd_and_vmdk_tables_that_share_blocks_and_grains() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    refused_by_check(&vhd_sharing_one_block(dir.path()), "both name the block at");
    let mut g = Vmdk::create(dir.path(), "shared-grain.vmdk");
    g.share_first_grain(2);
    refused_by_check(g.save(), "two grain table entries name the grain");
}

#[test]
fn check_names_cloop_and_bochs_files_as_unsupported_formats() {
    if !have("qemu-img") || !have("create_compressed_fs") || !have("bximage") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (p, name) in [(cloop(dir.path()), "cloop"), (bochs(dir.path()), "bochs")] {
        assert_eq!(qemu_format(&p), name, "qemu-img info names it");
        refused_by_check(&p, &format!("{name} is not an importable image format"));
    }
}

/// The compressed grain holding guest sector 0 of a stream-optimized VMDK: the file
/// offset of its deflate data (after the 12-byte grain marker) and its size.
fn first_grain(vmdk: &[u8]) -> (usize, usize) {
    let grain_offset = le64(vmdk, 64) as usize * 512;
    assert_eq!(
        le64(vmdk, grain_offset),
        0,
        "the first grain marker is for LBA 0"
    );
    let size = le32(vmdk, grain_offset + 8) as usize;
    (grain_offset + 12, size)
}

#[test]
fn check_refuses_a_stream_optimized_vmdk_whose_grain_it_reads_is_corrupt() {
    if !have("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vmdk = dir.path().join("stream.vmdk");
    run(
        "qemu-img",
        &[
            "convert",
            "-O",
            "vmdk",
            "-o",
            "subformat=streamOptimized",
            disk_fixtures().join("base.raw").to_str().unwrap(),
            vmdk.to_str().unwrap(),
        ],
    );
    let out = imgport(&["check", "--json", vmdk.to_str().unwrap()]);
    let v = json(&out);
    let fmt_passed = v["verdict"]["passed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "R-FMT");
    assert!(fmt_passed, "the intact image passes R-FMT: {v:#}");
    // Damage the deflate data of the grain holding the partition table (the check reads
    // it); the grain tables stay intact, so only reading the grain can tell.
    let mut b = std::fs::read(&vmdk).unwrap();
    let (at, size) = first_grain(&b);
    for x in &mut b[at + size / 2..at + size / 2 + 8] {
        *x ^= 0x5a;
    }
    std::fs::write(&vmdk, &b).unwrap();
    refused_by_check(
        &vmdk,
        "reading the guest's data: vmdk: corrupt compressed grain",
    );
}
