//! Optional comparison with libguestfs' virt-inspector (issue 4): on the same guest
//! fixtures, both must agree on OS type, distribution, major version and architecture.
//!
//! virt-inspector boots an appliance VM (TCG here: no usable /dev/kvm) and takes 13–17 s
//! per image, and libguestfs cannot be installed beside the host's qemu-utils 10, so it
//! runs from a Debian chroot built by `tests/fixtures/libguestfs-chroot.sh`. The test
//! runs only with `IMGPORT_VIRT_INSPECTOR=1` (it says so loudly otherwise):
//!
//!     IMGPORT_VIRT_INSPECTOR=1 cargo nextest run -p imgport --test virt_inspector
//!
//! Linux fixtures only: virt-inspector does not recognise the Windows fixtures
//! (tests/fixtures/windows.sh builds system volumes holding real registry hives but not
//! the full Windows file set libguestfs looks for), so there is nothing to compare.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The text of the first `<name>…</name>` element in `xml`.
fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let a = xml.find(&open)? + open.len();
    let b = xml[a..].find(&close)? + a;
    Some(xml[a..b].trim())
}

/// Run virt-inspector inside `chroot` on `image` (bind-mounted read-only at /fx).
fn virt_inspector(chroot: &Path, image: &Path, format: &str) -> String {
    let fx = chroot.join("fx");
    std::fs::create_dir_all(&fx).unwrap();
    let dir = image.parent().unwrap();
    let sh = format!(
        "set -e; mountpoint -q {root}/proc || mount -t proc proc {root}/proc; \
         mountpoint -q {root}/dev || mount --bind /dev {root}/dev; \
         mountpoint -q {fx} || mount --bind -o ro {dir} {fx}; \
         chroot {root} env LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
           virt-inspector --format={format} -a /fx/{name}; \
         umount -l {fx} {root}/dev {root}/proc",
        root = chroot.display(),
        fx = fx.display(),
        dir = dir.display(),
        name = image.file_name().unwrap().to_string_lossy(),
    );
    let out = Command::new("sh").args(["-c", &sh]).output().unwrap();
    assert!(
        out.status.success(),
        "virt-inspector {}: {}",
        image.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn agrees_with_virt_inspector() {
    if std::env::var_os("IMGPORT_VIRT_INSPECTOR").is_none() {
        eprintln!(
            "SKIPPED: set IMGPORT_VIRT_INSPECTOR=1 to compare with libguestfs' virt-inspector \
             (builds a Debian chroot with libguestfs-tools; slow)"
        );
        return;
    }
    let chroot = build_fixtures("libguestfs-chroot.sh", "libguestfs-chroot");
    let images = [
        (guest_fixtures().join("debian12-cloud.qcow2"), "qcow2"),
        (guest_fixtures().join("debian12-btrfs-boot.qcow2"), "qcow2"),
        (guest_fixtures().join("bare-rootfs.qcow2"), "qcow2"),
    ];
    for (img, format) in &images {
        let xml = virt_inspector(&chroot, img, format);
        let ours = json(&imgport(&["inspect", "--json", img.to_str().unwrap()]));
        let f = img.display();
        assert_eq!(
            Some(ours["os"]["type"].as_str().unwrap()),
            tag(&xml, "name"),
            "{f}: {xml}"
        );
        assert_eq!(
            Some(ours["os"]["distro"].as_str().unwrap()),
            tag(&xml, "distro"),
            "{f}"
        );
        let arch = tag(&xml, "arch").unwrap();
        assert_eq!(ours["os"]["arch"], arch, "{f}");
        let major = tag(&xml, "major_version").unwrap();
        let product = tag(&xml, "product_name").unwrap_or_default();
        if ours["os"]["type"] == "linux" {
            assert_eq!(ours["os"]["version"], major, "{f}");
        } else {
            // virt-inspector gives the NT version (10, 6); we give the release (2016, 2008).
            assert!(
                product.contains(ours["os"]["version"].as_str().unwrap()),
                "{f}: {product} vs {}",
                ours["os"]["version"]
            );
        }
    }
}
