//! A PostgreSQL server for tests, shared by the database unit tests (included with
//! `#[path]` from `src/db/mod.rs`) and the end-to-end tests in this directory.
//!
//! `IMGPORT_TEST_PG_URL` (`postgres://USER:PASSWORD@HOST:PORT/DB` of a role that may
//! create databases) names one to use. Otherwise a throwaway cluster is started once
//! per test process: `initdb` from `/usr/lib/postgresql/*/bin` (newest first) or PATH,
//! into a temporary directory (as the `postgres` system user when running as root:
//! PostgreSQL refuses to run as root), trust authentication, listening on 127.0.0.1 on
//! a free port. A small shell watchdog stops it and deletes the directory when the test
//! process is gone, however it ended. Each test gets a database of its own
//! ([`temp_db`]), dropped afterwards.
//!
//! Without PostgreSQL, [`temp_db`] prints a SKIPPED line and returns `None` (the
//! PostgreSQL half of the tests is skipped); CI installs it (scripts/apt-packages.txt)
//! and sets `IMGPORT_TEST_REQUIRE_TOOLS=1`, which turns that into a failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A server and an administrative URL on it (any database; tests get their own).
struct Server {
    /// `postgres://user[:password]@host:port` (no database).
    base: String,
    /// The database to connect to for CREATE/DROP DATABASE.
    admin_db: String,
    /// `?…` parameters of `IMGPORT_TEST_PG_URL` (e.g. `?sslmode=disable`), or empty.
    query: String,
    /// The throwaway cluster's directory (none for `IMGPORT_TEST_PG_URL`).
    dir: Option<PathBuf>,
}

/// A database of its own for one test, dropped when this is.
pub struct TempDb {
    /// `postgres://…/test_xxx`.
    pub url: String,
    name: String,
    admin_url: String,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = off_runtime(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        });
    }
}

/// Run `f` on a thread of its own: the sync `postgres` client must not run inside a
/// tokio runtime (tests may call from one).
fn off_runtime<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(f).join().expect("postgres admin thread")
}

/// A fresh, empty database; `None` (after a SKIPPED line, or a panic under
/// `IMGPORT_TEST_REQUIRE_TOOLS=1`) when no PostgreSQL is available.
pub fn temp_db() -> Option<TempDb> {
    let s = server()?;
    let name = format!(
        "test_{}_{}",
        std::process::id(),
        rand::random::<u64>() % 1_000_000_000
    );
    let admin_url = format!("{}/{}{}", s.base, s.admin_db, s.query);
    let (a, n) = (admin_url.clone(), name.clone());
    off_runtime(move || -> Result<(), postgres::Error> {
        let mut c = postgres::Client::connect(&a, postgres::NoTls)?;
        c.batch_execute(&format!(
            "CREATE DATABASE {n} TEMPLATE template0 ENCODING 'UTF8'"
        ))
    })
    .unwrap_or_else(|e| panic!("CREATE DATABASE on the test PostgreSQL: {e}"));
    Some(TempDb {
        url: format!("{}/{}{}", s.base, name, s.query),
        name,
        admin_url,
    })
}

/// Restart the test cluster (issue 13: servers must reconnect): a fast shutdown,
/// `down` of downtime, then started again on the same port; returns once it accepts
/// connections. False (nothing done) for a server named by `IMGPORT_TEST_PG_URL`.
pub fn restart(down: Duration) -> bool {
    let Some(s) = server() else { return false };
    let Some(dir) = &s.dir else { return false };
    std::fs::write(dir.join("down"), b"").unwrap();
    let pid = std::fs::read_to_string(dir.join("data/postmaster.pid"))
        .ok()
        .and_then(|p| p.lines().next().map(str::to_string))
        .expect("the test cluster's postmaster.pid");
    let _ = Command::new("kill").args(["-INT", pid.trim()]).status();
    let t = Instant::now();
    while Path::new(&format!("/proc/{}", pid.trim())).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "postgres did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(down);
    std::fs::remove_file(dir.join("down")).unwrap();
    let url = format!("{}/{}{}", s.base, s.admin_db, s.query);
    let t = Instant::now();
    loop {
        let u = url.clone();
        if off_runtime(move || postgres::Client::connect(&u, postgres::NoTls)).is_ok() {
            return true;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "postgres did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn server() -> Option<&'static Server> {
    static S: OnceLock<Option<Server>> = OnceLock::new();
    S.get_or_init(|| {
        if let Ok(url) = std::env::var("IMGPORT_TEST_PG_URL") {
            if !url.trim().is_empty() {
                return Some(from_url(url.trim()));
            }
        }
        match start_cluster() {
            Ok(s) => Some(s),
            Err(why) => {
                imgport_test_support::skip(
                    &format!("PostgreSQL is not available ({why})"),
                    "install the `postgresql` package (scripts/install-deps.sh) or set IMGPORT_TEST_PG_URL",
                );
                None
            }
        }
    })
    .as_ref()
}

/// Split `postgres://user@host:port/db?x` into base, database and parameters.
fn from_url(url: &str) -> Server {
    let (scheme, rest) = url
        .split_once("://")
        .expect("IMGPORT_TEST_PG_URL: no scheme");
    let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (db, query) = match path.split_once('?') {
        Some((d, q)) => (d, format!("?{q}")),
        None => (path, String::new()),
    };
    Server {
        base: format!("{scheme}://{auth}"),
        admin_db: if db.is_empty() { "postgres" } else { db }.to_string(),
        query,
        dir: None,
    }
}

/// The directory holding `initdb` and `postgres`.
fn bin_dir() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("initdb").exists() && dir.join("postgres").exists() {
            return Ok(dir);
        }
    }
    Err("no initdb in /usr/lib/postgresql/*/bin or PATH".into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `cmd` as the user the cluster runs as.
fn as_cluster_user(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start_cluster() -> Result<Server, String> {
    let bin = bin_dir()?;
    let root = is_root();
    let dir = std::env::temp_dir().join(format!(
        "imgport-test-pg-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if root {
        let ok = Command::new("chown")
            .args(["postgres:", dir.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(
                "running as root and there is no `postgres` user to run the cluster as".into(),
            );
        }
    }
    let data = dir.join("data");
    let out = as_cluster_user(root, &bin.join("initdb"))
        .args(["-D", data.to_str().unwrap()])
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "-N",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut last = String::new();
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        // The watchdog: runs postgres — again after [`restart`] stopped it (while the
        // file `down` exists it waits) — stops it when this process is gone, and then
        // deletes the directory. A first run that ends at once (port taken) ends the
        // watchdog. /proc, not `kill -0`: the cluster user may not signal a root process.
        let script = format!(
            r#"first=1
while [ -d /proc/{me} ]; do
  if [ -e {dir}/down ]; then sleep 0.2; continue; fi
  t0=$(date +%s)
  {pg} -D {data} -p {port} -h 127.0.0.1 -k {dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off >>{dir}/log 2>&1 &
  pg=$!
  while [ -d /proc/{me} ] && kill -0 $pg 2>/dev/null; do sleep 0.2; done
  kill -INT $pg 2>/dev/null
  wait $pg
  if [ $first = 1 ] && [ $(( $(date +%s) - t0 )) -lt 3 ] && [ ! -e {dir}/down ]; then break; fi
  first=0
done
while [ -d /proc/{me} ]; do sleep 1; done
rm -rf {dir}"#,
            pg = bin.join("postgres").display(),
            data = data.display(),
            dir = dir.display(),
            me = std::process::id(),
        );
        as_cluster_user(root, Path::new("/bin/sh"))
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting postgres: {e}"))?;
        let base = format!("postgres://postgres@127.0.0.1:{port}");
        let url = format!("{base}/postgres");
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            let u = url.clone();
            match off_runtime(move || postgres::Client::connect(&u, postgres::NoTls)) {
                Ok(_) => {
                    return Ok(Server {
                        base,
                        admin_db: "postgres".into(),
                        query: String::new(),
                        dir: Some(dir),
                    })
                }
                Err(e) => last = e.to_string(),
            }
            if !data.join("postmaster.pid").exists() && t.elapsed() > Duration::from_secs(3) {
                break; // postgres exited (port taken?): try another port
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    Err(format!(
        "the test cluster did not start: {last}; its log:\n{log}"
    ))
}
