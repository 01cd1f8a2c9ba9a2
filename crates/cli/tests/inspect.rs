//! `imgport inspect --json` on real guest images (issue 4): each fixture's expected
//! facts — built with debootstrap/mkfs/sfdisk/sgdisk/cryptsetup (guest-images.sh),
//! hivex + ntfs-3g (windows.sh), LVM tools (partitions.sh) — and the share of the
//! image the inspector reads.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn inspect(img: &Path) -> Value {
    let out = imgport(&["inspect", "--json", img.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}: {}",
        img.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

/// Expected facts of one image.
struct Expect {
    file: &'static str,
    table: &'static str,
    class: &'static str,
    os: Option<(&'static str, &'static str, &'static str, &'static str)>,
    root: Option<&'static str>,
    virtio: Option<bool>,
    cloud_init: Option<bool>,
}

const LINUX: &[Expect] = &[
    Expect {
        file: "debian12-cloud.qcow2",
        table: "mbr",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("partition 1"),
        virtio: Some(true),
        cloud_init: Some(true),
    },
    Expect {
        file: "debian12-nocloud.qcow2",
        table: "mbr",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("partition 1"),
        virtio: Some(true),
        cloud_init: Some(false),
    },
    Expect {
        file: "debian12-novirtio.qcow2",
        table: "mbr",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("partition 1"),
        virtio: Some(false),
        cloud_init: Some(true),
    },
    Expect {
        file: "debian12-gpt.qcow2",
        table: "gpt",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("partition 1"),
        virtio: Some(true),
        cloud_init: Some(true),
    },
    Expect {
        file: "debian12-btrfs-boot.qcow2",
        table: "mbr",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("partition 2"),
        virtio: Some(true),
        cloud_init: Some(true),
    },
    Expect {
        file: "bare-rootfs.qcow2",
        table: "none",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("whole disk"),
        virtio: Some(true),
        cloud_init: Some(true),
    },
    Expect {
        file: "data-disk.qcow2",
        table: "mbr",
        class: "data-disk",
        os: None,
        root: None,
        virtio: None,
        cloud_init: None,
    },
    Expect {
        file: "boot-only.qcow2",
        table: "mbr",
        class: "boot-only",
        os: None,
        root: None,
        virtio: None,
        cloud_init: None,
    },
    Expect {
        file: "swap-only.qcow2",
        table: "mbr",
        class: "swap-only",
        os: None,
        root: None,
        virtio: None,
        cloud_init: None,
    },
    Expect {
        file: "luks-root.qcow2",
        table: "mbr",
        class: "encrypted",
        os: None,
        root: None,
        virtio: None,
        cloud_init: None,
    },
    Expect {
        file: "installer-iso.qcow2",
        table: "none",
        class: "install-iso",
        os: None,
        root: None,
        virtio: None,
        cloud_init: None,
    },
    Expect {
        file: "zero-disk.qcow2",
        table: "none",
        class: "blank",
        os: None,
        root: None,
        virtio: None,
        cloud_init: None,
    },
];

fn assert_expected(dir: &Path, e: &Expect) -> Value {
    let img = dir.join(e.file);
    let v = inspect(&img);
    let f = e.file;
    assert_eq!(v["partition_table"], e.table, "{f}");
    assert_eq!(
        v["classification"]["kind"], e.class,
        "{f}: {:#}",
        v["classification"]
    );
    assert!(!v["classification"]["reason"].as_str().unwrap().is_empty());
    match e.os {
        Some((t, distro, version, arch)) => {
            assert_eq!(v["os"]["type"], t, "{f}");
            assert_eq!(v["os"]["distro"], distro, "{f}");
            assert_eq!(v["os"]["version"], version, "{f}");
            assert_eq!(v["os"]["arch"], arch, "{f}");
            assert!(v["os"]["product_name"].is_string(), "{f}");
        }
        None => assert!(v["os"].is_null(), "{f}: {:#}", v["os"]),
    }
    match e.root {
        Some(r) => assert_eq!(v["root"]["volume"], r, "{f}"),
        None => assert!(v["root"].is_null(), "{f}"),
    }
    assert_eq!(
        v["virtio"].as_bool(),
        e.virtio,
        "{f}: {:#}",
        v["virtio_evidence"]
    );
    assert_eq!(v["cloud_init"].as_bool(), e.cloud_init, "{f}");
    // Reads metadata and a few files only.
    let read = v["image"]["bytes_read"].as_u64().unwrap();
    let size = v["image"]["file_size"].as_u64().unwrap();
    assert!(
        read * 100 / size.max(1) <= 6 || read < 1 << 20,
        "{f}: read {read} of {size}"
    );
    v
}

#[test]
fn debian_guests_and_negatives_give_their_expected_facts() {
    let dir = guest_fixtures();
    for e in LINUX {
        let v = assert_expected(dir, e);
        if e.os.is_some() {
            // Per-kernel virtio evidence and the evidence trail.
            let k = &v["kernels"][0];
            assert_eq!(
                k["version"].as_str().map(|s| s.starts_with("6.1.")),
                Some(true)
            );
            assert!(k["virtio"].as_array().is_some_and(|a| !a.is_empty()));
            assert!(k["virtio_boot_reason"]
                .as_str()
                .is_some_and(|s| !s.is_empty()));
            assert!(v["evidence"].as_array().unwrap().len() > 3);
        }
    }
}

#[test]
fn separate_boot_on_ext2_and_btrfs_root_are_mounted_by_fstab() {
    let v = inspect(&guest_fixtures().join("debian12-btrfs-boot.qcow2"));
    assert_eq!(v["root"]["filesystem"], "btrfs");
    let mounts = v["root"]["mounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["mountpoint"] == "/boot" && m["volume"] == "partition 1"),
        "{mounts:#?}"
    );
    let kinds: Vec<&str> = v["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ext2", "btrfs", "swap"]);
    // The kernel was found through the /boot mount.
    assert!(v["kernels"][0]["image"]
        .as_str()
        .unwrap()
        .starts_with("/boot/vmlinuz-"));
}

#[test]
fn windows_guests() {
    let dir = windows_fixtures();
    for (file, version, arch, virtio, cbi) in [
        ("win2016.raw", "2016", "x86_64", true, true),
        ("win2012r2.raw", "2012 R2", "x86_64", false, true),
        ("win2008r2.raw", "2008 R2", "x86_64", true, false),
        ("win2008x86.raw", "2008", "i386", true, true),
        ("win10.raw", "10", "x86_64", false, false),
    ] {
        let v = inspect(&dir.join(file));
        assert_eq!(v["os"]["type"], "windows", "{file}");
        assert_eq!(v["os"]["distro"], "windows", "{file}");
        assert_eq!(v["os"]["version"], version, "{file}");
        assert_eq!(v["os"]["arch"], arch, "{file}");
        assert_eq!(v["virtio"], virtio, "{file}: {:#}", v["virtio_evidence"]);
        assert_eq!(v["cloud_init"], cbi, "{file}");
        assert_eq!(v["root"]["filesystem"], "ntfs");
        assert_eq!(v["classification"]["kind"], "os");
        if !virtio {
            assert!(v["virtio_missing"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == "viostor" || m == "netkvm"));
        }
    }
}

#[test]
fn lvm_disk_opens_logical_volumes() {
    let v = inspect(&partition_fixtures().join("lvm-disk.raw"));
    let vg = &v["lvm"][0];
    assert!(vg["name"].is_string());
    assert!(v["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["volume"].as_str().unwrap().starts_with("lv ")));
}

#[test]
fn human_output_and_refused_images() {
    let out = imgport(&[
        "inspect",
        guest_fixtures()
            .join("debian12-cloud.qcow2")
            .to_str()
            .unwrap(),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "partition table: mbr",
        "os: linux debian 12",
        "virtio: yes",
        "cloud-init: yes",
        "read ",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    // A refused image is an error, with the disk core's code.
    let out = imgport(&[
        "inspect",
        "--json",
        disk_fixtures().join("bad-backing.qcow2").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"]["code"], "InvalidFormatSize");
}
