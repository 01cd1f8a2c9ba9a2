//! `imgport inspect --json` on real guest images (issue 4): each fixture's expected
//! facts — built with debootstrap/mkfs/sfdisk/sgdisk/cryptsetup (guest-images.sh),
//! hivex + ntfs-3g (windows.sh), LVM tools (partitions.sh) — and the share of the
//! image the inspector reads.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// `inspect --json`; its exit status must say whether the report has errors (0 none,
/// 1 some: issue 18 item 12).
fn inspect(img: &Path) -> Value {
    let out = imgport(&["inspect", "--json", img.to_str().unwrap()]);
    let v = json(&out);
    let with_errors = v["errors"].as_array().is_some_and(|e| !e.is_empty());
    assert_eq!(
        out.status.code(),
        Some(i32::from(with_errors)),
        "{}: {}\nerrors: {:#}",
        img.display(),
        String::from_utf8_lossy(&out.stderr),
        v["errors"]
    );
    v
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
    // Real-world layouts (guest-images.sh "real-world layouts"): CentOS/RHEL-style LVM
    // with XFS and a dracut initramfs; root on a logical partition with /usr apart; a
    // dracut initramfs without the virtio disk drivers.
    Expect {
        file: "debian12-lvm.qcow2",
        table: "mbr",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("lv centos/root"),
        virtio: Some(true),
        cloud_init: Some(true),
    },
    Expect {
        file: "debian12-logical.qcow2",
        table: "mbr",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("partition 5"),
        virtio: Some(true),
        cloud_init: Some(true),
    },
    Expect {
        file: "debian12-dracut-novirtio.qcow2",
        table: "mbr",
        class: "os",
        os: Some(("linux", "debian", "12", "x86_64")),
        root: Some("partition 1"),
        virtio: Some(false),
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
    assert!(
        img.exists(),
        "{} was not built (see guest-images.sh)",
        img.display()
    );
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
    // Reads metadata and a few files only: apart from the initramfs (read whole, as
    // its cpio lists the modules), a few MiB.
    let read = v["image"]["bytes_read"].as_u64().unwrap();
    let size = v["image"]["file_size"].as_u64().unwrap();
    let initramfs = initramfs_bytes(&v);
    assert!(
        read.saturating_sub(initramfs) <= MAX_READ_BESIDES_INITRAMFS,
        "{f}: read {read} of {size}, {initramfs} of them the initramfs"
    );
    assert!(
        read * 100 / size.max(1) <= 10 || read < 1 << 20,
        "{f}: read {read} of {size}"
    );
    // Speed is bounded by the bytes read above, not by a wall clock (a busy 2-core CI
    // machine made a 5 s bound flaky, issue 18 item 15); the time is only reported.
    assert!(v["elapsed_ms"].is_u64(), "{f}: elapsed_ms");
    v
}

/// What inspection may read besides the initramfs: partition tables, superblocks,
/// LVM metadata, directories, os-release, the dpkg status, configs, ELF headers.
const MAX_READ_BESIDES_INITRAMFS: u64 = 6 << 20;

/// Bytes of the initramfs files inspection read.
fn initramfs_bytes(v: &Value) -> u64 {
    v["kernels"]
        .as_array()
        .map(|ks| {
            ks.iter()
                .filter_map(|k| k["initramfs"]["file_size"].as_u64())
                .sum()
        })
        .unwrap_or(0)
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

/// The `volume`s of filesystems of type `kind`.
fn volumes_of(v: &Value, kind: &str) -> Vec<String> {
    v["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == kind)
        .map(|f| f["volume"].as_str().unwrap().to_string())
        .collect()
}

fn has_evidence(v: &Value, path: &str, text: &str) -> bool {
    v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"] == path && e["what"].as_str().unwrap().contains(text))
}

#[test]
fn rhel_style_lvm_root_on_xfs_with_dracut_initramfs() {
    let v = inspect(&guest_image("debian12-lvm.qcow2"));
    // MBR: /boot on partition 1 (XFS), partition 2 an LVM PV with VG centos.
    let parts: Vec<(u64, &str)> = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["number"].as_u64().unwrap(),
                p["type_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(parts, [(1, "0x83"), (2, "0x8e")]);
    assert_eq!(v["lvm"].as_array().unwrap().len(), 1);
    assert_eq!(v["lvm"][0]["name"], "centos");
    let lvs: Vec<&str> = v["lvm"][0]["lvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(lvs, ["root", "swap"]);
    assert_eq!(volumes_of(&v, "xfs"), ["partition 1", "lv centos/root"]);
    assert_eq!(volumes_of(&v, "swap"), ["lv centos/swap"]);
    assert_eq!(volumes_of(&v, "lvmpv"), ["partition 2"]);
    // Root on the LV (fstab /dev/mapper/centos-root), /boot by UUID.
    assert_eq!(v["root"]["filesystem"], "xfs");
    assert!(has_evidence(
        &v,
        "/etc/fstab:1",
        "is the chosen root (LVM centos/root)"
    ));
    let mounts = v["root"]["mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1, "{mounts:#?}");
    assert_eq!(mounts[0]["mountpoint"], "/boot");
    assert_eq!(mounts[0]["volume"], "partition 1");
    // The kernel and the dracut image (RHEL's name) through the /boot mount: an early
    // cpio with the microcode, then the zstd-compressed main archive.
    let k = &v["kernels"][0];
    let ver = k["version"].as_str().unwrap();
    assert_eq!(k["image"], format!("/boot/vmlinuz-{ver}"));
    let i = &k["initramfs"];
    assert_eq!(i["path"], format!("/boot/initramfs-{ver}.img"));
    let layers: Vec<&str> = i["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(layers.len(), 2, "{layers:?}");
    assert_eq!(layers[0], "cpio@0");
    assert!(layers[1].starts_with("zstd@"), "{layers:?}");
    assert!(i["error"].is_null(), "{i:#}");
    assert_eq!(i["module_versions"][0], ver);
    assert!(i["module_count"].as_u64().unwrap() > 100, "{i:#}");
    for m in k["virtio"].as_array().unwrap() {
        if ["virtio_blk", "virtio_pci", "virtio_scsi"].contains(&m["name"].as_str().unwrap()) {
            assert_eq!(m["in_initramfs"], true, "{m:#}");
            assert_eq!(m["config"], "m", "{m:#}");
        }
    }
    assert_eq!(v["linux"]["initramfs_tool"], "dracut");
    assert_eq!(v["linux"]["device_name_mounts"], serde_json::json!([]));
}

#[test]
fn root_on_a_logical_partition_with_usr_apart() {
    let v = inspect(&guest_image("debian12-logical.qcow2"));
    // Partition 2 is the extended container; 5, 6, 7 are logical, numbered as Linux does.
    let parts: Vec<(u64, bool, &str)> = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["number"].as_u64().unwrap(),
                p["logical"].as_bool().unwrap(),
                p["type_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        [
            (1, false, "0x83"),
            (2, false, "0x05"),
            (5, true, "0x83"),
            (6, true, "0x83"),
            (7, true, "0x82")
        ]
    );
    assert_eq!(
        volumes_of(&v, "ext4"),
        ["partition 1", "partition 5", "partition 6"]
    );
    assert_eq!(volumes_of(&v, "swap"), ["partition 7"]);
    // fstab: / by device name (/dev/sda5), /boot by UUID, /usr by LABEL.
    assert!(has_evidence(
        &v,
        "/etc/fstab:1",
        "is the chosen root (partition number 5"
    ));
    assert!(has_evidence(
        &v,
        "/etc/fstab:3",
        "mounted partition 6 at /usr (filesystem label usr)"
    ));
    let mounts: Vec<(&str, &str)> = v["root"]["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountpoint"].as_str().unwrap(),
                m["volume"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(mounts.contains(&("/boot", "partition 1")), "{mounts:?}");
    assert!(mounts.contains(&("/usr", "partition 6")), "{mounts:?}");
    // The facts that live on /usr: os-release (/etc/os-release -> ../usr/lib/os-release),
    // the ELF of /bin/sh (/bin -> usr/bin), the module tree, cloud-init's program.
    assert!(has_evidence(&v, "/etc/os-release", "ID=debian"));
    assert!(has_evidence(&v, "/bin/sh -> /usr/bin/dash", "ELF x86_64"));
    assert_eq!(
        v["kernels"][0]["modules_dir"]
            .as_str()
            .map(|d| d.ends_with("-amd64")),
        Some(true)
    );
    assert!(v["cloud_init_evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "program: /usr/bin/cloud-init"));
    assert_eq!(v["linux"]["initramfs_tool"], "initramfs-tools");
    // / and swap by kernel device names (R-VIRTIO: not there on a virtio disk); /boot
    // and /usr by UUID and LABEL.
    let dev: Vec<(&str, &str, &str)> = v["linux"]["device_name_mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap(),
                m["mountpoint"].as_str().unwrap(),
                m["device"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        dev,
        [
            ("/etc/fstab:1", "/", "/dev/sda5"),
            ("/etc/fstab:4", "swap", "/dev/sda7")
        ]
    );
}

#[test]
fn dracut_initramfs_without_the_virtio_disk_drivers() {
    let v = inspect(&guest_image("debian12-dracut-novirtio.qcow2"));
    let k = &v["kernels"][0];
    let i = &k["initramfs"];
    assert_eq!(i["layers"][0], "cpio@0");
    assert!(
        i["layers"][1].as_str().unwrap().starts_with("lz4-legacy@"),
        "{i:#}"
    );
    assert!(i["error"].is_null(), "{i:#}");
    // A full initramfs (hundreds of modules) lacking exactly the omitted drivers.
    assert!(i["module_count"].as_u64().unwrap() > 100, "{i:#}");
    let m = |name: &str| {
        k["virtio"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    for name in ["virtio_blk", "virtio_pci", "virtio_scsi"] {
        let m = m(name);
        assert_eq!(m["in_initramfs"], false, "{m:#}");
        assert_eq!(m["on_disk"], true, "{m:#}");
        assert_eq!(m["config"], "m", "{m:#}");
    }
    // virtio_net is loaded from the root filesystem (dracut adds NIC drivers only with
    // its network module), so it is not missing.
    assert_eq!(m("virtio_net")["on_disk"], true);
    assert_eq!(k["virtio_net"], true);
    assert_eq!(k["virtio_boot"], false);
    assert_eq!(
        v["virtio_missing"],
        serde_json::json!(["virtio_blk", "virtio_pci"])
    );
    // The evidence names the image scanned and, per missing driver, where it was looked for.
    let ev: Vec<&str> = v["virtio_evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    let ver = k["version"].as_str().unwrap();
    assert!(
        ev.iter().any(
            |e| e.starts_with(&format!("initramfs /boot/initrd.img-{ver} ("))
                && e.contains("cpio@0 + lz4-legacy@")
        ),
        "{ev:#?}"
    );
    assert!(
        ev.iter().any(
            |e| e.starts_with("virtio_blk: =m (a module) in /boot/config-")
                && e.contains("not in the initramfs (rebuilding the initramfs with it is enough)")
        ),
        "{ev:#?}"
    );
    assert!(
        ev.contains(&"initramfs generator installed: dracut"),
        "{ev:#?}"
    );
    assert_eq!(v["linux"]["initramfs_tool"], "dracut");
}

#[test]
fn i386_guest() {
    let v = inspect(&guest_image("debian12-i386.qcow2"));
    assert_eq!(v["classification"]["kind"], "os");
    assert_eq!(v["os"]["distro"], "debian");
    assert_eq!(v["os"]["version"], "12");
    assert_eq!(v["os"]["arch"], "i386");
    assert_eq!(v["linux"]["arch_bits"], 32);
    assert!(has_evidence(
        &v,
        "/bin/sh -> /usr/bin/dash",
        "ELF i386 (32-bit)"
    ));
    // debootstrap minbase: no kernel, no cloud-init.
    assert_eq!(v["kernels"], serde_json::json!([]));
    assert!(v["virtio"].is_null());
    assert_eq!(v["cloud_init"], false);
    assert!(v["image"]["bytes_read"].as_u64().unwrap() < 4 << 20);
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
