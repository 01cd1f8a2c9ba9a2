//! The import's boot test (issue 17, R-BOOT): ImportImage `BootTest=true`, or the
//! operator's `boot_test_default`, boots the converted qcow2 before the image becomes
//! NORMAL. A boot that fails the way the cloud would fail ends the import IMPORTFAILED
//! with R-BOOT's code, its message and the serial console; every boot's result is in
//! DescribeImages' `BootTest` (60 serial lines) and in the message; a shutdown during a
//! boot kills QEMU and gives the job back. QEMU is a stand-in script here (real boots
//! are in crates/cli/tests/boot_test.rs): it records its pid and each run, prints what
//! the test asks for to the `-serial file:` and hangs.

mod api_common;

use api_common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A stand-in `qemu-system-x86_64` in `dir` that appends its pid to `dir/qemu.pids`,
/// runs `console` (sh, with `$s` the serial file and `$seed` the NoCloud seed image)
/// and then hangs until killed.
fn fake_qemu(dir: &Path, console: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let qemu = dir.join("fake-qemu");
    std::fs::write(
        &qemu,
        format!(
            "#!/bin/sh\n\
             while [ $# -gt 0 ]; do case \"$1\" in\n\
               -serial) s=${{2#file:}}; shift;;\n\
               -drive) case \"$2\" in *readonly=on*) seed=${{2#file=}}; seed=${{seed%%,format=*}};; esac; shift;;\n\
             esac; shift; done\n\
             echo $$ >> '{}'\n\
             {console}\n\
             exec sleep 1000\n",
            dir.join("qemu.pids").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).unwrap();
    qemu
}

/// The pids the stand-in QEMU ran as.
fn qemu_runs(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("qemu.pids"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn assert_no_qemu_left(dir: &Path) {
    for p in qemu_runs(dir) {
        assert!(
            !Path::new(&format!("/proc/{p}")).exists(),
            "QEMU {p} still running"
        );
    }
}

/// A data dir whose config boots imports with `qemu` (`default`: every import).
fn data_dir(dir: &Path, qemu: &Path, default: bool, timeout: u64) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("config.toml"),
        format!(
            "boot_test_default = {default}\nboot_qemu = \"{}\"\nboot_timeout_secs = {timeout}\n",
            qemu.display()
        ),
    )
    .unwrap();
    data
}

/// A server on `data` (one worker) and the id of `image`, uploaded with boto3 and
/// imported as `name` with tencentcloud-sdk-python (tests/clients/api_upload_import.py).
fn import_with(data: &Path, image: &Path, name: &str, cwd: &Path) -> (Server, String) {
    let s = Server::start(data, 1);
    let out = python(
        "api_upload_import.py",
        &[&s.json().to_string(), image.to_str().unwrap(), name],
        cwd,
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (s, id)
}

#[test]
fn a_failed_boot_fails_the_import_with_its_evidence() {
    venv_python();
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("img"));
    let qemu = fake_qemu(
        dir.path(),
        "printf 'Gave up waiting for root file system device.\\nALERT!  UUID=1234 does not exist.  Dropping to a shell!\\n(initramfs) ' >> \"$s\"",
    );
    let data = data_dir(dir.path(), &qemu, true, 120);
    let (_s, id) = import_with(&data, &imgs.good, "boots", dir.path());
    let row = |id: &str| db(&data).image_any(id).unwrap().expect("the image row");
    wait_until(Duration::from_secs(180), "the import to end", || {
        row(&id).state != "IMPORTING"
    });
    let r = row(&id);
    assert_eq!(r.state, "IMPORTFAILED", "{r:?}");
    assert_eq!(r.error_code.as_deref(), Some("VirtioNotInstall"), "{r:?}");
    assert_eq!(r.phase, "boot", "{r:?}");
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
    // The whole result is kept (DescribeImages' BootTest).
    assert!(r.boot_test, "{r:?}");
    let b: imgport_policy::BootFacts =
        serde_json::from_str(r.boot_result.as_deref().expect("a boot result")).unwrap();
    assert_eq!(b.outcome.as_str(), "failed");
    assert_eq!(b.failure.map(|f| f.as_str()), Some("root-not-found"));
    assert!(b.serial_tail.iter().any(|l| l.contains("ALERT!")), "{b:?}");
    // No stored qcow2 of a refused image, and no QEMU left behind.
    assert!(!data.join("images").join(format!("{id}.qcow2")).exists());
    assert_eq!(qemu_runs(dir.path()).len(), 1);
    assert_no_qemu_left(dir.path());
}

/// `BootTest=true` on one import (the operator's default is off): that image is booted,
/// the other is not; DescribeImages and the message show the boot (the Python client
/// asserts the API view; see tests/clients/api_boot_test.py).
#[test]
fn a_requested_boot_test_is_described_and_in_the_message() {
    venv_python();
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("img"));
    // A console of 70 unit lines, then the marker cloud-init's final stage prints (the
    // token read from the seed's meta-data, as the real guest would).
    let qemu = fake_qemu(
        dir.path(),
        "printf 'Linux version 6.1.0-28-amd64\\n' >> \"$s\"\n\
         i=0; while [ $i -lt 70 ]; do echo \"[  OK  ] Started unit $i.\" >> \"$s\"; i=$((i+1)); done\n\
         t=$(grep -ao 'imgport-boot-[0-9a-f]\\{16\\}' \"$seed\" | head -n1 | sed 's/imgport-boot-//')\n\
         echo \"imgport-boot-ok-$t\" >> \"$s\"",
    );
    let data = data_dir(dir.path(), &qemu, false, 120);
    let s = Server::start(&data, 2);
    let out = python(
        "api_boot_test.py",
        &[&s.json().to_string(), imgs.good.to_str().unwrap()],
        dir.path(),
    );
    let ids: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Exactly one boot: the image that asked for it.
    assert_eq!(qemu_runs(dir.path()).len(), 1);
    assert_no_qemu_left(dir.path());
    let d = db(&data);
    let booted = d
        .image_any(ids["booted"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert!(
        booted.boot_test && booted.boot_result.is_some(),
        "{booted:?}"
    );
    let plain = d
        .image_any(ids["plain"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert!(!plain.boot_test && plain.boot_result.is_none(), "{plain:?}");
}

/// SIGTERM while an import boots: the server exits within 5 s (issue 18 item 6), QEMU
/// is killed and reaped, and the job is given back (queued, no lease) for the next start.
#[test]
fn shutdown_during_a_boot_kills_qemu_and_gives_the_job_back() {
    venv_python();
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("img"));
    let qemu = fake_qemu(
        dir.path(),
        "printf 'Linux version 6.1.0-28-amd64\\n' >> \"$s\"",
    );
    let data = data_dir(dir.path(), &qemu, true, 900);
    let (s, id) = import_with(&data, &imgs.good, "slow-boot", dir.path());
    let row = |id: &str| db(&data).image_any(id).unwrap().expect("the image row");
    wait_until(Duration::from_secs(180), "the boot to start", || {
        row(&id).phase == "boot" && !qemu_runs(dir.path()).is_empty()
    });
    let status = s.terminate(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert_no_qemu_left(dir.path());
    let r = row(&id);
    assert_eq!(r.state, "IMPORTING", "{r:?}");
    assert_eq!(r.phase, "queued", "{r:?}");
    assert!(r.boot_result.is_none(), "{r:?}");
    let owner = db(&data)
        .with(|c| {
            c.opt_row(
                "SELECT lease_owner FROM images WHERE image_id = ?1",
                &[imgport_service::db::Val::Text(id.clone())],
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        owner.opt_text(0).unwrap(),
        None,
        "the lease was not released"
    );
}
