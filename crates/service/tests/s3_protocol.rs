//! Uploads at the wire level (issue 7 item 3: "PutObject incl. aws-chunked and Expect:
//! 100-continue"): chunk-signed streaming bodies (a bad chunk or trailer signature is
//! refused and stores nothing), checksum trailers, UNSIGNED-PAYLOAD, a lying payload
//! hash, and 100-continue sent only after the signature was accepted —
//! tests/clients/s3_protocol.py (heads signed by botocore, chunks per AWS's spec).

mod s3_common;

#[test]
fn streaming_uploads_and_expect_continue() {
    let s = s3_common::start();
    let out = s3_common::run_script(&s, "s3_protocol.py", &[]);
    assert!(out.contains("OK protocol"), "{out}");
    assert_eq!(s3_common::temp_files(&s), Vec::<std::path::PathBuf>::new());
}
