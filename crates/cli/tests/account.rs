//! `imgport account` and secrets at rest (issue 18 item 4), through the real binary
//! on SQLite: `create`, `list`, `show-keys`, `rotate-key`; SecretKeys never appear in
//! the database files (the database and its WAL are searched byte for byte); a
//! database of an older version (plaintext keys) is sealed on the next start; the
//! master key file is made 0600 beside the data directory, the data directory 0700
//! and its files 0600 whatever the umask; a wrong master key is refused.

use imgport_service::db::Db;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn account(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imgport"));
    c.arg("account").args(args).arg("--data-dir").arg(data);
    c.env_remove("IMGPORT_MASTER_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether `needle` occurs in any file of `dir` (the database, its WAL, …).
fn on_disk(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if let Ok(b) = std::fs::read(e.path()) {
            if b.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    hits
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn accounts_are_listed_shown_and_rotated_with_keys_sealed_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bob = ok(account(&data, &["create", "bob"], &[]));
    let (app, sid, key) = (
        bob["AppId"].as_i64().unwrap(),
        bob["SecretId"].as_str().unwrap().to_string(),
        bob["SecretKey"].as_str().unwrap().to_string(),
    );
    let app_s = app.to_string();
    assert!(
        on_disk(&data, &key).is_empty(),
        "the SecretKey is on disk in plaintext"
    );
    // Private files whatever the umask the binary was started with.
    let keyfile = dir.path().join("data.master.key");
    assert_eq!(mode(&keyfile), 0o600);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("imgport.sqlite3")), 0o600);

    let list = ok(account(&data, &["list"], &[]));
    assert_eq!(list[0]["Name"], "bob");
    assert_eq!(list[0]["SecretId"], sid.as_str());
    assert_eq!(list[0]["Users"], serde_json::json!(["bob"]));
    assert!(!list.to_string().contains(&key) && list[0].get("SecretKey").is_none());

    let shown = ok(account(&data, &["show-keys", &app_s], &[]));
    assert_eq!(shown["SecretKey"], key.as_str());
    assert_eq!(shown["SecretId"], sid.as_str());

    let rotated = ok(account(&data, &["rotate-key", &app_s], &[]));
    let new_key = rotated["SecretKey"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    assert_eq!(rotated["SecretId"], sid.as_str());
    assert_eq!(
        ok(account(&data, &["show-keys", &app_s], &[]))["SecretKey"],
        new_key.as_str()
    );
    assert!(on_disk(&data, &new_key).is_empty());

    for args in [["show-keys", "42"], ["rotate-key", "42"]] {
        let out = account(&data, &args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("no account with AppId 42"),
            "{err}"
        );
    }

    // Another master key (the environment's wins over the file) is refused.
    let out = account(
        &data,
        &["list"],
        &[("IMGPORT_MASTER_KEY", &"ab".repeat(32))],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("master key"), "{err}");
    // The right one given by the environment works.
    let hexkey = std::fs::read_to_string(&keyfile).unwrap();
    let shown = ok(account(
        &data,
        &["show-keys", &app_s],
        &[("IMGPORT_MASTER_KEY", hexkey.trim())],
    ));
    assert_eq!(shown["SecretKey"], new_key.as_str());
}

#[test]
fn a_database_with_plaintext_keys_is_sealed_and_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // An older version's state: plaintext keys, files open to everyone.
    let old = Db::open(&data.join("imgport.sqlite3"))
        .unwrap()
        .create_account("old", false)
        .unwrap();
    std::fs::write(data.join("stray"), b"x").unwrap();
    for (p, m) in [
        (data.clone(), 0o755),
        (data.join("imgport.sqlite3"), 0o644),
        (data.join("stray"), 0o644),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    assert!(
        !on_disk(&data, &old.secret_key).is_empty(),
        "the setup stored no plaintext"
    );
    let shown = ok(account(&data, &["show-keys", &old.app_id.to_string()], &[]));
    assert_eq!(shown["SecretKey"], old.secret_key.as_str());
    assert!(
        on_disk(&data, &old.secret_key).is_empty(),
        "the plaintext key is still on disk after the migration: {:?}",
        on_disk(&data, &old.secret_key)
    );
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("imgport.sqlite3")), 0o600);
    assert_eq!(mode(&data.join("stray")), 0o600);
}
