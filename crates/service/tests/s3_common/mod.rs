//! Shared by the object-store tests: the storage server in-process on an ephemeral
//! port (`AppState::open` on a temporary data directory, two tenants made through
//! db/accounts.rs), and the real Python clients of the venv that
//! scripts/install-py.sh makes (a missing venv fails the test, it is not skipped).
#![allow(dead_code)]

use imgport_service::db::accounts::Account;
use imgport_service::{AppState, Config};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A running object store.
pub struct Server {
    pub rt: tokio::runtime::Runtime,
    pub state: AppState,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Two tenants.
    pub a: Account,
    pub b: Account,
    pub dir: tempfile::TempDir,
}

/// Start the object store on 127.0.0.1:0 with a fresh data directory.
pub fn start() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let config = Config {
        storage_listen: addr,
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    let state = AppState::open(config).expect("open state");
    let a = state.db.create_account("alice", false).expect("account");
    let b = state.db.create_account("bob", false).expect("account");
    let st = state.clone();
    rt.spawn(async move {
        if let Err(e) = imgport_service::s3::serve_storage(st, listener).await {
            eprintln!("storage server stopped: {e}");
        }
    });
    Server {
        rt,
        state,
        endpoint: format!("http://{addr}"),
        a,
        b,
        dir,
    }
}

/// The venv's python, made by scripts/install-py.sh.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("IMGPORT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/imgport/venv")
        });
    let st = Command::new("bash")
        .arg(repo().join("scripts/install-py.sh"))
        .status();
    let py = venv.join("bin/python");
    assert!(
        st.is_ok_and(|s| s.success()) && py.exists(),
        "the Python clients (boto3, cos-python-sdk-v5) are missing: run scripts/install-py.sh (venv {})",
        venv.display()
    );
    py
}

/// Run `tests/clients/NAME` against `s` with the tenants' credentials in the
/// environment (`S3_ENDPOINT`, `S3_SID`, `S3_SKEY`, `S3_APPID`, `S3_SID2`, …);
/// returns its stdout, or fails the test with its output.
pub fn run_script(s: &Server, name: &str, extra: &[(&str, &str)]) -> String {
    let script = repo().join("tests/clients").join(name);
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .env("S3_ENDPOINT", &s.endpoint)
        .env("S3_SID", &s.a.secret_id)
        .env("S3_SKEY", &s.a.secret_key)
        .env("S3_APPID", s.a.app_id.to_string())
        .env("S3_SID2", &s.b.secret_id)
        .env("S3_SKEY2", &s.b.secret_key)
        .env("S3_APPID2", s.b.app_id.to_string())
        .env("S3_REGION", &s.state.config.region)
        .env("S3_TMP", s.dir.path())
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env("NO_PROXY", "127.0.0.1,localhost");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        script.display(),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Files under the object store's temporary directory (uploads in flight or
/// abandoned): none should remain after a test.
pub fn temp_files(s: &Server) -> Vec<PathBuf> {
    std::fs::read_dir(s.dir.path().join("data/objects/tmp"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// Every blob file in the store.
pub fn blob_files(s: &Server) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(s.dir.path().join("data/objects/blobs")) {
        for d in dirs.flatten() {
            if let Ok(files) = std::fs::read_dir(d.path()) {
                out.extend(files.flatten().map(|f| f.path()));
            }
        }
    }
    out
}
