//! Shared by the `api_*` tests: the real `imgport` binary (built with cargo into the
//! same target directory), the Python venv with the real clients
//! (scripts/install-py.sh), a server on ephemeral loopback ports, and small synthetic
//! guest images built with real tools (mkfs.ext4 -d, sfdisk, qemu-img).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// PATH with the sbin directories (mkfs.ext4, sfdisk) and the venv's bin first.
pub fn path_env() -> String {
    format!(
        "{}:{}:/usr/sbin:/sbin",
        venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The `imgport` binary of this target directory and profile, built if needed.
pub fn imgport_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/api_x-HASH → target/<profile>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap();
        let profile = profile_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo())
            .args([
                "build",
                "-q",
                "-p",
                "imgport",
                "--bin",
                "imgport",
                "--target-dir",
            ])
            .arg(target_dir);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let st = cmd
            .status()
            .expect("run cargo build for the imgport binary");
        assert!(st.success(), "building the imgport binary failed");
        let bin = profile_dir.join("imgport");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

pub fn venv() -> PathBuf {
    std::env::var_os("IMGPORT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/imgport/venv")
        })
}

/// The venv's python with tccli, tencentcloud-sdk-python and boto3. Runs
/// scripts/install-py.sh (idempotent); fails the test when the clients are missing.
pub fn venv_python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let py = venv().join("bin/python");
        let st = Command::new("bash")
            .arg(repo().join("scripts/install-py.sh"))
            .status();
        assert!(
            st.is_ok_and(|s| s.success()) && py.exists(),
            "the Python clients (tccli, tencentcloud-sdk-python, boto3) are missing: run scripts/install-py.sh (venv {})",
            venv().display()
        );
        let ok = Command::new(&py)
            .args(["-c", "import tencentcloud, boto3, tccli"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "the venv {} lacks tccli / tencentcloud-sdk-python / boto3", venv().display());
        py.clone()
    })
    .clone()
}

pub fn run_ok(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .env("PATH", path_env())
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running `imgport serve`.
pub struct Server {
    pub child: Child,
    pub api: String,
    pub storage: String,
    pub secret_id: String,
    pub secret_key: String,
    pub app_id: String,
    /// Everything printed on stdout (the banner).
    pub banner: String,
    pub data: PathBuf,
}

impl Server {
    /// Start on ephemeral ports with `data` (a `config.toml` there is used). The admin
    /// credentials printed on the first start are kept in `data/.creds`.
    pub fn start(data: &Path, workers: usize) -> Server {
        Self::start_with_env(data, workers, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(data: &Path, workers: usize, env: &[(&str, &str)]) -> Server {
        Self::start_with_args(data, workers, env, &[])
    }

    /// [`Server::start`] with extra environment variables and `serve` flags.
    pub fn start_with_args(
        data: &Path,
        workers: usize,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Server {
        let mut cmd = Command::new(imgport_bin());
        cmd.envs(env.iter().copied());
        cmd.arg("serve");
        cmd.args(args);
        if data.join("config.toml").exists() {
            cmd.arg("--config").arg(data.join("config.toml"));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("log"))
            .unwrap();
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0", "--storage-listen", "127.0.0.1:0"])
            .args(["--workers", &workers.to_string()])
            .arg("--data-dir")
            .arg(data)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start imgport serve");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut banner = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("imgport serve printed no banner");
        banner.push_str(&first);
        banner.push('\n');
        let urls: Vec<String> = first
            .split("http://")
            .skip(1)
            .map(|s| s.split([',', ' ']).next().unwrap().to_string())
            .collect();
        assert_eq!(urls.len(), 2, "banner: {first}");
        let creds = data.join(".creds");
        let (mut sid, mut skey, mut app) = (String::new(), String::new(), String::new());
        if creds.exists() {
            let c = std::fs::read_to_string(&creds).unwrap();
            let v: Vec<&str> = c.split_whitespace().collect();
            (sid, skey, app) = (v[0].into(), v[1].into(), v[2].into());
            // The rest of a later start's banner is short: collect what is there.
            while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                banner.push_str(&l);
                banner.push('\n');
            }
        } else {
            while Instant::now() < deadline {
                let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) else {
                    break;
                };
                banner.push_str(&l);
                banner.push('\n');
                if let Some(v) = l.trim().strip_prefix("SecretId:") {
                    sid = v.trim().into();
                } else if let Some(v) = l.trim().strip_prefix("SecretKey:") {
                    skey = v.trim().into();
                } else if let Some(i) = l.find("(AppId ") {
                    app = l[i + 7..].split(')').next().unwrap().into();
                }
                // The walkthrough's last line (cmd_serve::WALKTHROUGH_END).
                if l.trim() == "# (end of the walkthrough)" && !sid.is_empty() {
                    break;
                }
            }
            assert!(
                !sid.is_empty() && !skey.is_empty(),
                "no credentials in:\n{banner}"
            );
            std::fs::write(&creds, format!("{sid} {skey} {app}")).unwrap();
        }
        std::thread::spawn(move || for _ in rx {});
        Server {
            child,
            api: urls[0].clone(),
            storage: urls[1].clone(),
            secret_id: sid,
            secret_key: skey,
            app_id: app,
            banner,
            data: data.to_path_buf(),
        }
    }

    /// The connection facts as JSON, for the Python clients.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "api": self.api,
            "storage": self.storage,
            "secret_id": self.secret_id,
            "secret_key": self.secret_key,
            "app_id": self.app_id,
            "data": self.data,
            "imgport": imgport_bin(),
            "region": "ap-guangzhou",
        })
    }

    /// Send SIGTERM and wait (at most `limit`) for the exit status.
    pub fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        run_ok("kill", &["-TERM", &pid]);
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                t.elapsed() < limit,
                "imgport serve did not stop within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL: no graceful anything (what the restart test wants).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a Python client script from tests/clients with `args`; its output on failure.
pub fn python(script: &str, args: &[&str], cwd: &Path) -> Output {
    let out = Command::new(venv_python())
        .arg(repo().join("tests/clients").join(script))
        .args(args)
        .current_dir(cwd)
        .env("PATH", path_env())
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Small synthetic guest images, built with real tools.
pub struct Images {
    /// CentOS 7 root (os-release, ELF binaries, fstab) with cloud-init: importable.
    pub good: PathBuf,
    /// The same without cloud-init: `CloudInitNotInstalled`.
    pub nocloud: PathBuf,
    /// An ext4 data disk without an OS: `RootPartitionNotFound`.
    pub datadisk: PathBuf,
    /// The good system on a GPT disk: `PartitionNotPresent`.
    pub gpt: PathBuf,
    /// The good raw disk, gzip-compressed: `InvalidFormatSize`.
    pub gzip: PathBuf,
}

fn write_file(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A root tree: an OS (CentOS 7, x86_64 ELF binaries) or just data.
fn tree(dir: &Path, os: bool, cloud_init: bool) {
    if !os {
        write_file(&dir.join("data/readme.txt"), b"backup volume\n");
        return;
    }
    write_file(
        &dir.join("etc/os-release"),
        b"NAME=\"CentOS Linux\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\n",
    );
    write_file(&dir.join("etc/fstab"), b"/dev/vda1 / ext4 defaults 0 1\n");
    write_file(&dir.join("etc/hostname"), b"synthetic\n");
    let elf = std::fs::read("/bin/ls").expect("/bin/ls for an x86_64 ELF");
    for p in ["usr/bin/ls", "bin/sh", "sbin/init"] {
        write_file(&dir.join(p), &elf);
    }
    std::fs::create_dir_all(dir.join("boot")).unwrap();
    // A kernel (by name: R-KERNEL counts /boot/vmlinuz-*); without one the system
    // cannot boot and is refused whatever else it has (issue 17). No /lib/modules: the
    // virtio drivers stay "not established" (a warning).
    write_file(
        &dir.join("boot/vmlinuz-3.10.0-1160.el7.x86_64"),
        b"kernel image\n",
    );
    if cloud_init {
        write_file(&dir.join("usr/bin/cloud-init"), b"#!/bin/sh\n");
        write_file(
            &dir.join("etc/cloud/cloud.cfg"),
            b"datasource_list: [ NoCloud ]\n",
        );
    }
}

/// A raw disk of `mib` MiB: a partition table (`dos` or `gpt`) with one partition at
/// 1 MiB holding an ext4 of `tree`, and optionally `random_mib` MiB of random data
/// after it (outside the partition).
pub fn raw_disk(
    work: &Path,
    name: &str,
    os: bool,
    cloud_init: bool,
    label: &str,
    mib: u64,
    random_mib: u64,
) -> PathBuf {
    let root = work.join(format!("{name}.root"));
    let _ = std::fs::remove_dir_all(&root);
    tree(&root, os, cloud_init);
    let fs = work.join(format!("{name}.ext4"));
    let _ = std::fs::remove_file(&fs);
    std::fs::File::create(&fs)
        .unwrap()
        .set_len(60 << 20)
        .unwrap();
    run_ok(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-d",
            root.to_str().unwrap(),
            fs.to_str().unwrap(),
        ],
    );
    let raw = work.join(format!("{name}.raw"));
    let _ = std::fs::remove_file(&raw);
    std::fs::File::create(&raw)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    let table = match label {
        "gpt" => "label: gpt\nstart=2048, size=122880, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n",
        _ => "label: dos\nstart=2048, size=122880, type=83\n",
    };
    let mut child = Command::new("sfdisk")
        .args(["-q", raw.to_str().unwrap()])
        .env("PATH", path_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sfdisk");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(table.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "sfdisk failed");
    let mut disk = std::fs::OpenOptions::new().write(true).open(&raw).unwrap();
    disk.seek(SeekFrom::Start(1 << 20)).unwrap();
    std::io::copy(&mut std::fs::File::open(&fs).unwrap(), &mut disk).unwrap();
    if random_mib > 0 {
        disk.seek(SeekFrom::Start(100 << 20)).unwrap();
        let mut rnd = std::fs::File::open("/dev/urandom")
            .unwrap()
            .take(random_mib << 20);
        std::io::copy(&mut rnd, &mut disk).unwrap();
    }
    disk.sync_all().unwrap();
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&fs);
    raw
}

/// `qemu-img convert -O qcow2 raw → name.qcow2`.
pub fn to_qcow2(raw: &Path, out: &Path) {
    run_ok(
        "qemu-img",
        &[
            "convert",
            "-O",
            "qcow2",
            raw.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
}

/// The synthetic images in `work`.
pub fn images(work: &Path) -> Images {
    std::fs::create_dir_all(work).unwrap();
    let good_raw = raw_disk(work, "good", true, true, "dos", 64, 0);
    let good = work.join("good.qcow2");
    to_qcow2(&good_raw, &good);
    let raw = raw_disk(work, "nocloud", true, false, "dos", 64, 0);
    let nocloud = work.join("nocloud.qcow2");
    to_qcow2(&raw, &nocloud);
    let raw = raw_disk(work, "datadisk", false, false, "dos", 64, 0);
    let datadisk = work.join("datadisk.qcow2");
    to_qcow2(&raw, &datadisk);
    let raw = raw_disk(work, "gpt", true, true, "gpt", 64, 0);
    let gpt = work.join("gpt.qcow2");
    to_qcow2(&raw, &gpt);
    let gzip = work.join("good.raw.gz");
    let out = run_ok("gzip", &["-c", good_raw.to_str().unwrap()]);
    std::fs::write(&gzip, out.stdout).unwrap();
    Images {
        good,
        nocloud,
        datadisk,
        gpt,
        gzip,
    }
}

/// The service database of a data directory (read-only use in tests).
pub fn db(data: &Path) -> imgport_service::db::Db {
    imgport_service::db::Db::open(&data.join("imgport.sqlite3")).unwrap()
}

/// Wait until `f` is true (polling every 50 ms), at most `limit`.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
