//! The object store with cos-python-sdk-v5 (issue 7 item 3): COS sha1 signatures,
//! virtual-host buckets `NAME-APPID.cos.REGION.myqcloud.com` (region from the host),
//! put_object / upload_file (multipart in 1 MB parts) / ranged get_object,
//! list_objects, get_presigned_url fetched (valid, tampered, expired), x-cos-acl —
//! tests/clients/s3_cos.py against the server running in-process.

mod s3_common;

#[test]
fn cos_sdk_end_to_end() {
    let s = s3_common::start();
    let out = s3_common::run_script(&s, "s3_cos.py", &[]);
    assert!(out.contains("OK cos"), "{out}");
    assert_eq!(s3_common::temp_files(&s), Vec::<std::path::PathBuf>::new());
    // The bucket made through the ap-shanghai-fsi host lives in that region.
    let regions: Vec<(String, String)> = s
        .state
        .db
        .buckets(s.a.app_id)
        .unwrap()
        .into_iter()
        .map(|b| (b.name, b.region))
        .collect();
    assert_eq!(
        regions,
        vec![(format!("cos-{}", s.a.app_id), "ap-guangzhou".to_string())]
    );
}
