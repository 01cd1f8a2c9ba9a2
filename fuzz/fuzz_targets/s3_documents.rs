//! Any text as the small documents and headers an S3 client sends: the
//! CompleteMultipartUpload XML, element lookup and unescaping, and a `Range` header
//! against objects of several sizes. Checks that nothing panics, that parts come back
//! ascending and bounded, and that a range is always inside the object.
#![no_main]

use imgport_service::s3::get_object::{parse_range, Range};
use imgport_service::s3::multipart::{requested_parts, MAX_PARTS};
use imgport_service::s3::xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(parts) = requested_parts(&text) {
        assert!(!parts.is_empty() && parts.len() as i64 <= MAX_PARTS);
        assert!(parts.windows(2).all(|w| w[0].0 < w[1].0));
    }
    for tag in ["Part", "ETag", "LocationConstraint", "Key", "Grantee"] {
        for body in xml::all(&text, tag) {
            let _ = xml::unescape(body);
        }
        let _ = xml::first(&text, tag);
    }
    let _ = xml::esc(&text);
    for size in [0u64, 1, 511, 4096, 1 << 40, u64::MAX] {
        match parse_range(Some(&text), size) {
            Range::Part(s, e) => assert!(s <= e && e < size, "{text:?} {size}: {s}-{e}"),
            Range::Whole | Range::Unsatisfiable => {}
        }
    }
});
