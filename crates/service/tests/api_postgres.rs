//! The service on PostgreSQL, end to end through the real binary: `imgport serve
//! --database-url postgres://…` prints the first-start walkthrough, which is run as
//! printed (boto3 upload, DryRun, tccli ImportImage, polling to NORMAL,
//! DescribeMessages); no SQLite file is made; `imgport account --database-url` adds
//! accounts to the same database; then two servers start at once on that database
//! (concurrent schema creation), create no second admin, and both see the image still
//! NORMAL through the API.
//!
//! The database is a fresh one on the test PostgreSQL (tests/pg_common); without
//! PostgreSQL the test is skipped (a failure under `IMGPORT_TEST_REQUIRE_TOOLS=1`).

mod api_common;
mod pg_common;

use api_common::*;
use imgport_service::db::images::ImageFilter;
use imgport_service::db::Db;
use std::process::Command;
use std::time::Duration;

/// Run `script` with bash in `work` (HOME = `home`, so tccli keeps its settings).
fn bash(script: &str, work: &std::path::Path, home: &std::path::Path) -> String {
    let out = Command::new("timeout")
        .args(["300", "bash", "-euo", "pipefail", "-c", script])
        .current_dir(work)
        .env("HOME", home)
        .env("PATH", path_env())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `Db` calls from a thread of its own (the test thread is not in a runtime, but this
/// keeps the PostgreSQL client away from any).
fn pg_db(url: &str) -> Db {
    let url = url.to_string();
    std::thread::spawn(move || Db::open_postgres(&url, 1).unwrap())
        .join()
        .unwrap()
}

#[test]
fn the_walkthrough_on_postgresql_survives_a_restart() {
    let Some(pg) = pg_common::temp_db() else {
        return;
    };
    venv_python();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let raw = raw_disk(dir.path(), "good", true, true, "dos", 64, 0);
    to_qcow2(&raw, &work.join("disk.qcow2"));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let flags = ["--database-url", pg.url.as_str()];

    let s = Server::start_with_args(&data, 1, &[], &flags);
    let start = s
        .banner
        .find("# 1. Point tccli at this service")
        .unwrap_or_else(|| panic!("no walkthrough in the banner:\n{}", s.banner));
    let stdout = bash(&s.banner[start..], &work, &home);
    for want in [
        "\"Importable\": true",
        "\"ImageState\": \"NORMAL\"",
        "Image import succeeded: my-image",
    ] {
        assert!(stdout.contains(want), "{want} missing from:\n{stdout}");
    }
    assert!(
        !data.join("imgport.sqlite3").exists(),
        "a SQLite database was made although the database is PostgreSQL"
    );
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
    assert!(
        log.contains("PostgreSQL"),
        "the log does not say the database is PostgreSQL:\n{log}"
    );

    // The rows are in PostgreSQL: the image, its message, the stored file.
    let db = pg_db(&pg.url);
    let app: i64 = s.app_id.parse().unwrap();
    let (imgs, total) = db.images(app, &ImageFilter::default(), 0, 10).unwrap();
    assert_eq!(total, 1);
    assert_eq!(imgs[0].state, "NORMAL");
    let owner = db.user_id(app, "admin").unwrap().unwrap();
    let (msgs, _, _) = db.messages(owner, 0, 10).unwrap();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].image_id.as_deref(), Some(imgs[0].image_id.as_str()));
    assert!(data
        .join("images")
        .join(format!("{}.qcow2", imgs[0].image_id))
        .exists());

    // `imgport account` on the same database; a taken name is refused as such.
    let account = |name: &str| {
        Command::new(imgport_bin())
            .args(["account", "create", name, "--data-dir"])
            .arg(&data)
            .args(flags)
            .output()
            .unwrap()
    };
    let out = account("bob");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Name"], "bob");
    let out = account("bob");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("exists already"),
        "{err}"
    );
    assert_eq!(db.account_count().unwrap(), 2);
    drop(db);

    // Restart: two servers at once on the database (each creates the schema under the
    // advisory lock); no new admin; both see the image NORMAL through the API.
    assert!(s.terminate(Duration::from_secs(30)).success());
    let (d1, d2) = (data.clone(), data.clone());
    let (f1, f2) = (flags.map(String::from), flags.map(String::from));
    let h1 = std::thread::spawn(move || {
        let f: Vec<&str> = f1.iter().map(String::as_str).collect();
        Server::start_with_args(&d1, 1, &[], &f)
    });
    let h2 = std::thread::spawn(move || {
        let f: Vec<&str> = f2.iter().map(String::as_str).collect();
        Server::start_with_args(&d2, 1, &[], &f)
    });
    let servers = [h1.join().unwrap(), h2.join().unwrap()];
    for s2 in &servers {
        assert!(
            !s2.banner.contains("SecretKey"),
            "a second admin was made:\n{}",
            s2.banner
        );
        let out = bash(
            &format!(
                "tccli configure set cvm.endpoint http://{}\n\
                 tccli cvm DescribeImages --Filters '[{{\"Name\": \"image-name\", \"Values\": [\"my-image\"]}}]'",
                s2.api
            ),
            &work,
            &home,
        );
        assert!(
            out.contains("\"ImageState\": \"NORMAL\"") && out.contains("\"TotalCount\": 1"),
            "{out}"
        );
    }
    assert!(!data.join("imgport.sqlite3").exists());
}
