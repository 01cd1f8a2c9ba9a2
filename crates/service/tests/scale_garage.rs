//! Scale-out on real engines (issue 13 item 6): a 3-node Garage cluster (replication
//! factor 3, scripts/garage-cluster.sh), PostgreSQL (tests/pg_common), two API servers
//! (`--role api`) and three workers (`--role worker`), each with a data directory of
//! its own — nothing shared but the database and the object store. The users are real
//! clients (boto3 to Garage, the tencentcloud SDK to both API servers;
//! tests/clients/scale_garage.py):
//!
//! - the ImageUrl rules against the S3 store, through both API servers;
//! - an object replaced after ImportImage fails InvalidUrl (the job is pinned to the ETag);
//! - a batch of 30 imports with the right NORMAL / IMPORTFAILED + code each, while one
//!   worker is SIGKILLed in the middle of a conversion (another finishes its job), one
//!   Garage node is stopped and started again, and PostgreSQL is restarted (3 s down);
//! - the killed worker's job is retaken with its verdict kept (no second check) and its
//!   multipart upload resumed (the parts already in the store are not sent again);
//! - afterwards: exactly one message per import, the images bucket holds exactly the
//!   NORMAL images, no multipart upload is left, a stored image equals its source.
//!
//! Without Garage (scripts/install-garage.sh) or PostgreSQL the test is skipped — a
//! failure under `IMGPORT_TEST_REQUIRE_TOOLS=1`, as in CI.

mod api_common;
mod pg_common;

use api_common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cluster of scripts/garage-cluster.sh, stopped when dropped.
struct Garage {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Garage {
    fn start(dir: &Path) -> Option<Garage> {
        let script = repo().join("scripts/garage-cluster.sh");
        let installed = Command::new("bash")
            .arg(repo().join("scripts/install-garage.sh"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            imgport_test_support::skip(
                "Garage is not installed",
                "run scripts/install-garage.sh (cargo install --locked garage, once)",
            );
            return None;
        }
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "garage-cluster.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Garage {
            dir: dir.to_path_buf(),
            env,
        })
    }

    fn get(&self, k: &str) -> String {
        self.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} missing from the cluster's env"))
    }

    fn node(&self, what: &str, n: u32) {
        let st = Command::new("bash")
            .arg(repo().join("scripts/garage-cluster.sh"))
            .args([what, self.dir.to_str().unwrap(), &n.to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "garage-cluster.sh {what} {n}");
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/garage-cluster.sh"))
            .args(["stop", self.dir.to_str().unwrap()])
            .status();
    }
}

/// One `imgport serve` process of a role.
struct Proc {
    child: Child,
    api: Option<String>,
    banner: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(
    name: &str,
    root: &Path,
    role: &str,
    pg: &str,
    garage: &Garage,
    extra: &[(&str, &str)],
) -> Proc {
    let data = root.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let config = root.join("config.toml");
    let log = std::fs::File::create(root.join(format!("{name}.log"))).unwrap();
    let mut cmd = Command::new(imgport_bin());
    cmd.arg("serve")
        .args(["--role", role, "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--workers", "1", "--data-dir"])
        .arg(&data)
        .args(["--database-url", pg])
        .env("RUST_LOG", "info")
        // One master key for all servers of the database (README "Run at scale").
        .env("IMGPORT_MASTER_KEY", "ab".repeat(32))
        .envs(
            garage
                .env
                .iter()
                .filter(|(k, _)| k.starts_with("IMGPORT_"))
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = cmd.spawn().expect("start imgport serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .next()
        .and_then(|l| l.ok())
        .unwrap_or_else(|| panic!("{name}: no banner (log {}/{name}.log)", root.display()));
    let mut banner = vec![first.clone()];
    let api = first
        .split_once("API and console on http://")
        .map(|(_, r)| r.split(',').next().unwrap().to_string());
    if first.contains("object storage") {
        // The first start's credentials follow; later starts print two lines.
        for l in lines.by_ref().take(8).map_while(Result::ok) {
            let done = l.contains("Run at scale") || l.contains("imgport account create");
            banner.push(l);
            if done {
                break;
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Proc { child, api, banner }
}

fn creds(banner: &[String]) -> (String, String) {
    let get = |k: &str| {
        banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(k).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {k} in {banner:?}"))
    };
    (get("SecretId:"), get("SecretKey:"))
}

fn py(cfg: &Path, args: &[&str], cwd: &Path) -> String {
    let out = python(
        "scale_garage.py",
        &[&[cfg.to_str().unwrap()], args].concat(),
        cwd,
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The jobs a worker process (by PID) holds in phase `convert` whose multipart upload
/// of the qcow2 has parts in the store already.
fn converting(db: &imgport_service::db::Db, pid: u32) -> Vec<String> {
    let sql = format!(
        "SELECT image_id FROM images WHERE state = 'IMPORTING' AND phase = 'convert' AND lease_owner LIKE '{pid}-%' AND output_upload IN (SELECT upload_id FROM upload_parts)"
    );
    db.with(|c| {
        c.rows(&sql, &[])?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
}

#[test]
fn two_api_servers_and_three_workers_on_garage_and_postgresql() {
    let Some(pg) = pg_common::temp_db() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(garage) = Garage::start(&dir.path().join("garage")) else {
        return;
    };
    venv_python();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let imgs = images(&work);
    let root = dir.path().join("servers");
    std::fs::create_dir_all(&root).unwrap();
    // Short leases: a SIGKILLed worker's job is retaken within seconds.
    std::fs::write(root.join("config.toml"), "job_lease_secs = 4\n").unwrap();

    let api_a = serve("api-a", &root, "api", &pg.url, &garage, &[]);
    let (sid, skey) = creds(&api_a.banner);
    let api_b = serve("api-b", &root, "api", &pg.url, &garage, &[]);
    let apis = [api_a.api.clone().unwrap(), api_b.api.clone().unwrap()];
    let cfg = serde_json::json!({
        "apis": apis,
        "secret_id": sid,
        "secret_key": skey,
        "s3_endpoint": garage.get("S3_ENDPOINT"),
        "key_id": garage.get("AWS_ACCESS_KEY_ID"),
        "key_secret": garage.get("AWS_SECRET_ACCESS_KEY"),
        "images": {
            "good": imgs.good, "nocloud": imgs.nocloud, "datadisk": imgs.datadisk,
            "gpt": imgs.gpt, "gzip": imgs.gzip,
        },
        // The good system with 56 MiB of random data after its partition: its qcow2
        // is about 60 MiB, so parts 2 and 3 are uploaded while it converts.
        "big": raw_disk(&work, "big", true, true, "dos", 160, 56),
    });
    let cfg_path = work.join("cfg.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();

    // No worker yet: the URL rules, and an object replaced while its import is queued.
    let out = py(&cfg_path, &["rules", "rules.json"], &work);
    assert!(out.contains("rules ok"), "{out}");
    let out = py(&cfg_path, &["replaced", "replaced.json"], &work);
    assert!(out.contains("replaced ok"), "{out}");

    // Worker 1 reads slowly (8 MB/s), so that it is caught in the middle of a
    // conversion, with parts of its upload in the store.
    let out = py(&cfg_path, &["big", "big.json"], &work);
    assert!(out.contains("big img-"), "{out}");
    let mut w1 = serve(
        "worker-1",
        &root,
        "worker",
        &pg.url,
        &garage,
        &[("IMGPORT_JOB_READ_RATE", "8000000")],
    );
    assert!(
        w1.api.is_none() && w1.banner[0].contains("role worker"),
        "{:?}",
        w1.banner
    );
    let db = {
        let url = pg.url.clone();
        std::thread::spawn(move || imgport_service::db::Db::open_postgres(&url, 1).unwrap())
            .join()
            .unwrap()
    };
    let pid = w1.child.id();
    let t = Instant::now();
    let victim = loop {
        if let Some(id) = converting(&db, pid).pop() {
            break id;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "worker 1 never converted"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    w1.child.kill().unwrap();
    w1.child.wait().unwrap();
    eprintln!("SIGKILLed worker 1 while it converted {victim}");
    let submit = {
        let (cfg_path, work) = (cfg_path.clone(), work.clone());
        std::thread::spawn(move || py(&cfg_path, &["submit", "30", "batch.json"], &work))
    };
    let _w2 = serve("worker-2", &root, "worker", &pg.url, &garage, &[]);
    let _w3 = serve("worker-3", &root, "worker", &pg.url, &garage, &[]);
    // One Garage node down mid-batch (2 of 3 replicas still answer), then back.
    garage.node("stop-node", 3);
    let out = submit.join().unwrap();
    assert!(out.contains("submitted 30"), "{out}");
    // PostgreSQL restarted while jobs run: servers reconnect, nothing is lost.
    let busy = db
        .with(|c| c.rows("SELECT count(*) FROM images WHERE state = 'IMPORTING'", &[]))
        .unwrap()[0]
        .int(0)
        .unwrap();
    eprintln!("restarting PostgreSQL with {busy} imports running or queued");
    assert!(
        pg_common::restart(Duration::from_secs(3)) || std::env::var("IMGPORT_TEST_PG_URL").is_ok()
    );
    garage.node("start-node", 3);
    let out = py(
        &cfg_path,
        &[
            "wait",
            "rules.json",
            "replaced.json",
            "big.json",
            "batch.json",
        ],
        &work,
    );
    let summary: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or("{}")).unwrap();
    assert_eq!(summary["done"], 33, "{out}");
    // The victim was retaken, and its verdict kept: the retake did not check again.
    let phases: Vec<String> = serde_json::from_value(summary["retaken"][&victim].clone())
        .unwrap_or_else(|_| panic!("{victim} was not retaken after the SIGKILL: {out}"));
    assert!(
        phases.contains(&"convert".to_string()) && !phases.contains(&"inspect".to_string()),
        "{victim}'s retake: {phases:?}"
    );
    // ... and it resumed the killed attempt's upload: the parts already in the store
    // were not sent again.
    let logs: String = ["worker-2.log", "worker-3.log"]
        .iter()
        .map(|f| std::fs::read_to_string(root.join(f)).unwrap_or_default())
        .collect();
    assert!(
        logs.lines()
            .any(|l| l.contains(victim.as_str())
                && l.contains("resumed the earlier attempt's upload")),
        "no resumed upload for {victim} in the workers' logs"
    );
}
