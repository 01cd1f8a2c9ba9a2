//! The object store with boto3 (issue 7 item 3): buckets with a region, single and
//! multipart (12 MiB in 5 MiB parts) uploads with checksums, HeadObject, ranged GETs,
//! ListObjectsV2 paging, presigned GETs fetched with urllib (valid, tampered, expired),
//! ACLs, tenant isolation, deletes — tests/clients/s3_boto3.py against the server
//! running in-process.

mod s3_common;

#[test]
fn boto3_end_to_end() {
    let s = s3_common::start();
    let out = s3_common::run_script(&s, "s3_boto3.py", &[]);
    assert!(out.contains("OK boto3"), "{out}");
    // Failed, aborted and replaced uploads left no temporary files, and every blob
    // belongs to an object (parts were removed when their uploads ended).
    assert_eq!(s3_common::temp_files(&s), Vec::<std::path::PathBuf>::new());
    let objects: i64 = s
        .state
        .db
        .with(|c| c.int("SELECT COUNT(*) FROM objects", &[]))
        .unwrap();
    let parts: i64 = s
        .state
        .db
        .with(|c| c.int("SELECT COUNT(*) FROM multipart_parts", &[]))
        .unwrap();
    assert_eq!(parts, 0);
    assert_eq!(s3_common::blob_files(&s).len() as i64, objects);
    // The mostly-zero image is stored sparse, single PUT and multipart alike: its
    // holes are holes again (what R-SIZE-ACTUAL's measure of a raw image follows).
    use std::os::unix::fs::MetadataExt;
    let sparse: Vec<_> = s3_common::blob_files(&s)
        .into_iter()
        .filter_map(|p| std::fs::metadata(&p).ok())
        .filter(|m| m.len() == 32 * 1024 * 1024 + 12345)
        .collect();
    assert_eq!(sparse.len(), 2, "both sparse uploads stored");
    for m in sparse {
        assert!(
            m.blocks() * 512 < 1 << 20,
            "{} bytes allocated",
            m.blocks() * 512
        );
    }
}
