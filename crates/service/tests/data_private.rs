//! The data directory is private whatever the umask (issue 18 item 4): with umask
//! 022 (this test binary sets it; it has this one test), `AppState::open` makes the
//! data directory and its subdirectories 0700, the database and its WAL 0600, the
//! master key file 0600 beside the data directory, and blobs committed to the object
//! store 0600 although their temporary file was made 0644; a data directory left
//! 0755 with 0644 files by an older version is tightened at start.

use imgport_service::{AppState, Config};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn everything_under_the_data_directory_is_private() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // An older version's leftovers.
    std::fs::create_dir_all(data.join("images")).unwrap();
    std::fs::write(data.join("images/old.qcow2"), b"x").unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    let st = AppState::open(config).unwrap();
    let a = st.db.create_account("alice", false).unwrap();
    assert!(st.db.account(a.app_id).unwrap().is_some());
    for d in ["", "images", "objects", "objects/blobs", "objects/tmp"] {
        assert_eq!(mode(&data.join(d)), 0o700, "{d}");
    }
    for f in ["imgport.sqlite3", "imgport.sqlite3-wal", "images/old.qcow2"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&dir.path().join("data.master.key")), 0o600);
    let t = st.objects.temp_path();
    std::fs::write(&t, b"hello").unwrap();
    assert_eq!(mode(&t), 0o644, "the umask is not 022");
    st.objects.commit(&t, "blob1").unwrap();
    assert_eq!(mode(&data.join("objects/blobs/bl/blob1")), 0o600);
    assert_eq!(mode(&data.join("objects/blobs/bl")), 0o700);
}
