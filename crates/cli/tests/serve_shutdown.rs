//! `imgport serve` stops promptly on SIGTERM during a conversion (issue 18 item 6):
//! the real binary imports a real guest image (uploaded with boto3, imported with
//! tencentcloud-sdk-python); once the job's phase is `convert` (read from the
//! database, with the job's reads paced by `IMGPORT_JOB_READ_RATE` so the conversion
//! lasts), SIGTERM; the process exits within the 5 s of the spec, successfully, with
//! the job given back (lease released, queued again, still IMPORTING); a restart
//! finishes the import NORMAL with a sound qcow2.

mod common;

use common::*;
use imgport_service::db::Db;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The spec's bound on a shutdown.
const EXIT_BOUND: Duration = Duration::from_secs(5);

struct Server {
    child: Child,
    api: String,
    storage: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the server on `data` (one worker, `read_rate` bytes/s for jobs if given);
/// returns it with the first start's credentials written to `data/../creds`.
fn serve(data: &Path, read_rate: Option<u64>) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imgport"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--storage-listen",
        "127.0.0.1:0",
        "--workers",
        "1",
    ])
    .arg("--data-dir")
    .arg(data)
    .env("RUST_LOG", "info")
    .env_remove("IMGPORT_MASTER_KEY")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    match read_rate {
        Some(r) => cmd.env("IMGPORT_JOB_READ_RATE", r.to_string()),
        None => cmd.env_remove("IMGPORT_JOB_READ_RATE"),
    };
    let mut child = cmd.spawn().expect("start imgport serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let urls: Vec<String> = first
        .split("http://")
        .skip(1)
        .map(|s| s.split([',', ' ']).next().unwrap().to_string())
        .collect();
    let creds = data.with_extension("creds");
    if !creds.exists() {
        let (mut sid, mut skey, mut app) = (String::new(), String::new(), String::new());
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
        std::fs::write(&creds, format!("{sid} {skey} {app}")).unwrap();
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        api: urls[0].clone(),
        storage: urls[1].clone(),
    }
}

/// (state, phase, lease_owner, lease_until) of image `id`.
fn job_row(db: &Db, id: &str) -> (String, String, Option<String>, i64) {
    db.with(|c| {
        let rows = c.rows(
            &format!(
                "SELECT state, phase, lease_owner, lease_until FROM images WHERE image_id = '{id}'"
            ),
            &[],
        )?;
        let r = &rows[0];
        Ok((r.text(0)?, r.text(1)?, r.opt_text(2)?, r.int(3)?))
    })
    .unwrap()
}

#[test]
fn sigterm_during_a_conversion_gives_the_job_back_and_exits_in_time() {
    let py = venv_python();
    let image = guest_image("debian12-cloud.qcow2");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Paced reads: the conversion of the image's data lasts well beyond the poll.
    let s = serve(&data, Some(8 << 20));
    let creds = std::fs::read_to_string(data.with_extension("creds")).unwrap();
    let c: Vec<&str> = creds.split_whitespace().collect();
    let script = r#"
import sys, boto3
from botocore.config import Config
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
api, st, sid, key, app, img = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url="http://" + st, aws_access_key_id=sid, aws_secret_access_key=key, region_name="ap-guangzhou", config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="t-" + app, CreateBucketConfiguration={"LocationConstraint": "ap-guangzhou"})
s3.upload_file(img, "t-" + app, "g.qcow2")
url = s3.generate_presigned_url("get_object", Params={"Bucket": "t-" + app, "Key": "g.qcow2"}, ExpiresIn=3600)
c = CommonClient("cvm", "2017-03-12", credential.Credential(sid, key), "ap-guangzhou", profile=ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=api)))
r = c.call_json("ImportImage", {"Architecture": "x86_64", "OsType": "Debian", "OsVersion": "12", "ImageName": "t", "ImageUrl": url})
print(r["Response"]["ImageId"])
"#;
    let out = Command::new(&py)
        .args(["-c", script, &s.api, &s.storage, c[0], c[1], c[2]])
        .arg(&image)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let db = Db::open(&data.join("imgport.sqlite3")).unwrap();
    let t = Instant::now();
    loop {
        let (state, phase, owner, _) = job_row(&db, &id);
        assert_eq!(
            state, "IMPORTING",
            "the job ended before it could be interrupted"
        );
        if phase == "convert" && owner.is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "never converting: {phase}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut s = s;
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            signalled.elapsed() < EXIT_BOUND,
            "imgport serve still running {EXIT_BOUND:?} after SIGTERM during a conversion"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let (state, phase, owner, until) = job_row(&db, &id);
    assert_eq!(
        (state.as_str(), phase.as_str(), owner.as_deref(), until),
        ("IMPORTING", "queued", None, 0),
        "the job was not given back"
    );
    assert!(
        !data.join("images").join(format!("{id}.qcow2")).exists(),
        "a partial image was left"
    );
    drop(s);

    // A restart (full speed) retakes it at once and finishes it.
    let s = serve(&data, None);
    let t = Instant::now();
    let state = loop {
        let (state, ..) = job_row(&db, &id);
        if state != "IMPORTING" || t.elapsed() > Duration::from_secs(600) {
            break state;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(state, "NORMAL");
    let stored = data.join("images").join(format!("{id}.qcow2"));
    run_ok(
        "qemu-img",
        &["compare", image.to_str().unwrap(), stored.to_str().unwrap()],
    );
    drop(s);
}
