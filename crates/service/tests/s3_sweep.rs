//! Blobs no object refers to (a crash between committing an upload's blob and
//! recording the object) are deleted by the store's sweep, but only once they are an
//! hour old, so an upload in flight never loses its blob.

use imgport_service::db::objects::{Object, ACL_DEFAULT};
use imgport_service::{AppState, Config};
use std::time::{Duration, SystemTime};

#[test]
fn unreferenced_old_blobs_are_swept() {
    // No server runs here: its own start-up sweep would race with the back-dated files.
    let dir = tempfile::tempdir().unwrap();
    let st = &AppState::open(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    })
    .unwrap();
    let a = st.db.create_account("a", false).unwrap();
    assert!(st
        .db
        .create_bucket("b-sweep", a.app_id, "ap-guangzhou", false)
        .unwrap());
    let blob = |id: &str, age: Duration| {
        let t = st.objects.temp_path();
        std::fs::write(&t, id).unwrap();
        let f = std::fs::File::options().write(true).open(&t).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
        st.objects.commit(&t, id).unwrap();
    };
    let day = Duration::from_secs(86400);
    blob("kept0object", day);
    blob("orphan0old", day);
    blob("orphan0new", Duration::from_secs(5));
    st.db
        .put_object(&Object {
            bucket: "b-sweep".into(),
            key: "k".into(),
            blob: "kept0object".into(),
            size: 11,
            etag: "e".into(),
            acl: ACL_DEFAULT.into(),
            headers: vec![],
            created_at: 0,
        })
        .unwrap();
    assert_eq!(imgport_service::s3::sweep_orphans(st).unwrap(), 1);
    let mut left: Vec<String> = st
        .objects
        .list()
        .unwrap()
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    left.sort();
    assert_eq!(left, vec!["kept0object", "orphan0new"]);
    assert_eq!(imgport_service::s3::sweep_orphans(st).unwrap(), 0);
}
