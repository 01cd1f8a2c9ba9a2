//! `imgport serve` end to end with the real clients (issue 7): boto3 uploads
//! (multipart, presigned URLs) and tencentcloud-sdk-python calls (TC3-HMAC-SHA256)
//! drive tests/clients/service_e2e.py against the real binary on loopback; then a
//! server killed with SIGKILL during a conversion is restarted and the job ends
//! cleanly. The Python venv is made by scripts/install-py.sh (CI runs it).

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    api: String,
    storage: String,
    secret_id: String,
    secret_key: String,
    app_id: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `imgport serve` on ephemeral ports with `data`; reads its banner.
fn serve(data: &Path, workers: &str) -> Server {
    serve_with_env(data, workers, &[])
}

/// [`serve`] with extra environment variables.
fn serve_with_env(data: &Path, workers: &str, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imgport"));
    cmd.arg("serve");
    cmd.envs(env.iter().copied());
    if data.join("config.toml").exists() {
        cmd.arg("--config").arg(data.join("config.toml"));
    }
    let mut child = cmd
        .args([
            "--listen",
            "127.0.0.1:0",
            "--storage-listen",
            "127.0.0.1:0",
            "--workers",
            workers,
        ])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start imgport serve");
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().unwrap().unwrap();
    let urls: Vec<&str> = first
        .split("http://")
        .skip(1)
        .map(|s| s.split([',', ' ']).next().unwrap())
        .collect();
    let (mut sid, mut skey, mut app) = (String::new(), String::new(), String::new());
    if data.join(".creds").exists() {
        let c = std::fs::read_to_string(data.join(".creds")).unwrap();
        let v: Vec<&str> = c.split_whitespace().collect();
        (sid, skey, app) = (v[0].into(), v[1].into(), v[2].into());
    } else {
        for l in lines.by_ref() {
            let l = l.unwrap();
            if let Some(v) = l.trim().strip_prefix("SecretId:") {
                sid = v.trim().into();
            } else if let Some(v) = l.trim().strip_prefix("SecretKey:") {
                skey = v.trim().into();
            } else if let Some(i) = l.find("(AppId ") {
                app = l[i + 7..].split(')').next().unwrap().into();
            }
            if !sid.is_empty() && !skey.is_empty() {
                break;
            }
        }
        std::fs::write(data.join(".creds"), format!("{sid} {skey} {app}")).unwrap();
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        api: urls[0].to_string(),
        storage: urls[1].to_string(),
        secret_id: sid,
        secret_key: skey,
        app_id: app,
    }
}

#[test]
fn real_clients_upload_import_and_read_messages() {
    let py = venv_python();
    let good = guest_fixtures().join("debian12-cloud.qcow2");
    let bad = guest_fixtures().join("debian12-nocloud.qcow2");
    let dir = tempfile::tempdir().unwrap();
    // Every image failure code through the service, from the real fixture images that
    // `imgport check` is tested on (crates/cli/tests/check.rs).
    let failing: Vec<(&str, PathBuf)> = [
        (
            "VirtioNotInstall",
            guest_fixtures(),
            "debian12-novirtio.qcow2",
        ),
        ("RootPartitionNotFound", guest_fixtures(), "luks-root.qcow2"),
        ("PartitionNotPresent", guest_fixtures(), "zero-disk.qcow2"),
        (
            "InvalidFormatSize",
            size_fixtures(),
            "actual-51g-packed.qcow2",
        ),
        ("InvalidFormatSize", size_fixtures(), "virtual-600g.qcow2"),
        ("InvalidFormatSize", disk_fixtures(), "bad-backing.qcow2"),
    ]
    .into_iter()
    .map(|(code, dir, name)| (code, dir.join(name)))
    .collect();
    // The webhook the script registers: the one target the allow-list names.
    let hook_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("config.toml"),
        format!("webhook_allow = [\"127.0.0.1:{hook_port}\"]\n"),
    )
    .unwrap();
    let s = serve(dir.path(), "2");
    let out = Command::new(py)
        .env("IMGPORT_TEST_HOOK_PORT", hook_port.to_string())
        .arg(repo().join("tests/clients/service_e2e.py"))
        .args([&s.api, &s.storage, &s.secret_id, &s.secret_key, &s.app_id])
        .arg(dir.path())
        .arg(&good)
        .arg(&bad)
        .arg(env!("CARGO_BIN_EXE_imgport"))
        .arg(serde_json::json!(failing).to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "service_e2e.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

/// SIGKILL the server while it converts; restart it: the job is retaken after its
/// lease and ends NORMAL with a sound qcow2, and no partial files remain.
#[test]
fn a_killed_server_resumes_its_jobs() {
    let py = venv_python();
    let good = guest_fixtures().join("debian12-cloud.qcow2");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "job_lease_secs = 3\n").unwrap();
    // The first server reads the upload at 20 MB/s, so the conversion of this 800 MB
    // image lasts long enough to be killed in the middle (the restarted one is not capped).
    let s = serve_with_env(dir.path(), "1", &[("IMGPORT_JOB_READ_RATE", "20000000")]);
    let script = r#"
import sys, boto3, time
from botocore.config import Config
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
api, st, sid, key, app, img = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url="http://" + st, aws_access_key_id=sid, aws_secret_access_key=key, region_name="ap-guangzhou", config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="k-" + app, CreateBucketConfiguration={"LocationConstraint": "ap-guangzhou"})
s3.upload_file(img, "k-" + app, "g.qcow2")
url = s3.generate_presigned_url("get_object", Params={"Bucket": "k-" + app, "Key": "g.qcow2"}, ExpiresIn=3600)
c = CommonClient("cvm", "2017-03-12", credential.Credential(sid, key), "ap-guangzhou", profile=ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=api)))
r = c.call_json("ImportImage", {"Architecture": "x86_64", "OsType": "Debian", "OsVersion": "12", "ImageName": "k", "ImageUrl": url})
print(r["Response"]["ImageId"])
"#;
    let out = Command::new(&py)
        .args([
            "-c",
            script,
            &s.api,
            &s.storage,
            &s.secret_id,
            &s.secret_key,
            &s.app_id,
        ])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Kill it once the job is converting, and only then.
    let db = dir.path().join("imgport.sqlite3");
    let phase = |db: &Path| {
        Command::new("sqlite3")
            .arg(db)
            .arg(format!(
                "SELECT state||' '||phase FROM images WHERE image_id='{id}'"
            ))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let t = Instant::now();
    let mut before = phase(&db);
    while before != "IMPORTING convert" {
        assert!(
            !before.starts_with("NORMAL") && !before.starts_with("IMPORTFAILED"),
            "the job ended before the server could be killed mid-conversion: {before}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "the conversion did not start: {before:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        before = phase(&db);
    }
    drop(s); // SIGKILL
    let s = serve(dir.path(), "1");
    let t = Instant::now();
    let mut state = String::new();
    while t.elapsed() < Duration::from_secs(300) {
        state = phase(&db);
        if state.starts_with("NORMAL") || state.starts_with("IMPORTFAILED") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(state.starts_with("NORMAL"), "after restart: {state}");
    let stored = dir.path().join("images").join(format!("{id}.qcow2"));
    run_ok("qemu-img", &["check", stored.to_str().unwrap()]);
    run_ok(
        "qemu-img",
        &["compare", good.to_str().unwrap(), stored.to_str().unwrap()],
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("images"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy() != format!("{id}.qcow2"))
        .collect();
    assert!(leftovers.is_empty(), "orphan files: {leftovers:?}");
    drop(s);
}
