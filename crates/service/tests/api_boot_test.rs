//! The import's boot test (issue 17, `boot_test_default` in the operator config): the
//! converted qcow2 is booted before the image becomes NORMAL, and a boot that fails the
//! way the cloud would fail ends the import IMPORTFAILED with R-BOOT's code, its message
//! and the serial console in the findings (DescribeImages' extra fields). QEMU is a
//! stand-in script here (a real boot is in crates/cli/tests/boot_test.rs): it prints an
//! initramfs that cannot find its root on the virtio disk, and hangs.

mod api_common;

use api_common::*;
use std::path::Path;
use std::time::Duration;

#[test]
fn a_failed_boot_fails_the_import_with_its_evidence() {
    venv_python();
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("img"));
    let qemu = dir.path().join("fake-qemu");
    let pid = dir.path().join("qemu.pid");
    std::fs::write(
        &qemu,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do case \"$1\" in -serial) s=${{2#file:}}; shift;; esac; shift; done\n\
             echo $$ > \"{}\"\n\
             printf 'Gave up waiting for root file system device.\\nALERT!  UUID=1234 does not exist.  Dropping to a shell!\\n(initramfs) ' >> \"$s\"\n\
             exec sleep 1000\n",
            pid.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("config.toml"),
        format!(
            "boot_test_default = true\nboot_qemu = \"{}\"\nboot_timeout_secs = 120\n",
            qemu.display()
        ),
    )
    .unwrap();
    let s = Server::start(&data, 1);
    let out = python(
        "api_upload_import.py",
        &[&s.json().to_string(), imgs.good.to_str().unwrap(), "boots"],
        dir.path(),
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let row = |id: &str| db(&data).image_any(id).unwrap().expect("the image row");
    wait_until(Duration::from_secs(180), "the import to end", || {
        row(&id).state != "IMPORTING"
    });
    let r = row(&id);
    assert_eq!(r.state, "IMPORTFAILED", "{r:?}");
    assert_eq!(r.error_code.as_deref(), Some("VirtioNotInstall"), "{r:?}");
    let msg = r.error_message.clone().unwrap_or_default();
    assert!(msg.contains("boot test"), "{msg}");
    let findings: serde_json::Value = serde_json::from_str(&r.findings).unwrap();
    let boot = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "R-BOOT")
        .unwrap_or_else(|| panic!("{findings:#}"));
    assert!(
        boot["evidence"].to_string().contains("(initramfs)"),
        "{boot:#}"
    );
    // No stored qcow2 of a refused image, and no QEMU left behind.
    assert!(!data.join("images").join(format!("{id}.qcow2")).exists());
    let p = std::fs::read_to_string(&pid).expect("the fake QEMU ran");
    assert!(
        !Path::new(&format!("/proc/{}", p.trim())).exists(),
        "QEMU still running"
    );
}
