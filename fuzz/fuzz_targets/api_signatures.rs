//! Any text as the signature material of a request: the TC3-HMAC-SHA256
//! `Authorization` header of the cloud API, SigV4 credential scopes, `x-amz-date`,
//! query strings and paths (canonical forms), and COS `q-sign-*` fields. Checks that
//! the parsers never panic, that what parses is within its bounds, that canonical
//! forms are stable (canonicalising twice changes nothing), and that a request we
//! sign with TC3 verifies while a changed body does not.
#![no_main]

use imgport_service::api::tc3;
use imgport_service::s3::{cos_auth, sigv4};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "fuzz-secret-key";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    let headers: Vec<(String, String)> = lines
        .by_ref()
        .take(40)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    // TC3: parse, then verify against headers taken from the input.
    if let Ok(a) = tc3::parse(first) {
        assert!(a.signed_headers.len() <= 32);
        assert_eq!(a.signature.len(), 64);
        let req = tc3::Signed {
            method: "POST",
            query: "",
            headers: &headers,
            body: data,
        };
        let _ = tc3::canonical_request(&a, &req);
        let _ = tc3::verify(KEY, &a, &req, "cvm", 1_767_225_600, 1_767_225_600, 300);
    }
    // TC3 round trip: sign our own request with the input as body and host.
    let host = first
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect::<String>();
    let signed_headers = vec![
        (
            "Content-Type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ),
        ("Host".to_string(), host),
    ];
    let ts = 1_767_225_600;
    let a = tc3::Authorization {
        secret_id: "AKIDfuzz".into(),
        date: tc3::utc_date(ts).unwrap(),
        service: "cvm".into(),
        signed_headers: vec!["content-type".into(), "host".into()],
        signature: String::new(),
    };
    let req = tc3::Signed {
        method: "POST",
        query: "",
        headers: &signed_headers,
        body: data,
    };
    let canonical = tc3::canonical_request(&a, &req).unwrap();
    let signature = tc3::sign(KEY, &a, &tc3::string_to_sign(&a, ts, &canonical));
    let header = format!(
        "TC3-HMAC-SHA256 Credential=AKIDfuzz/{}/cvm/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
        a.date
    );
    let parsed = tc3::parse(&header).expect("our own Authorization header parses");
    tc3::verify(KEY, &parsed, &req, "cvm", ts, ts + 10, 300).expect("our own signature verifies");
    let mut changed = data.to_vec();
    changed.push(b'x');
    let req2 = tc3::Signed {
        body: &changed,
        ..req
    };
    assert!(tc3::verify(KEY, &parsed, &req2, "cvm", ts, ts, 300).is_err());

    // SigV4 pieces.
    if let Some(scope) = sigv4::Scope::parse(first) {
        assert_eq!(sigv4::Scope::parse(&scope.text()), Some(scope));
    }
    if let Some(t) = sigv4::parse_amz_date(first) {
        assert_eq!(sigv4::parse_amz_date(&sigv4::amz_date(t)), Some(t));
    }
    let q = sigv4::canonical_query(first, &["X-Amz-Signature"]);
    assert_eq!(sigv4::canonical_query(&q, &[]), q);
    let uri = sigv4::canonical_uri(first);
    assert_eq!(sigv4::canonical_uri(&uri), uri);
    assert_eq!(
        sigv4::decode_bytes(&sigv4::uri_encode_bytes(data, false)),
        data
    );
    let pairs = sigv4::parse_query(first);
    let _ = sigv4::canonical_query_pairs(&pairs);

    // COS q-sign fields, from the query form and the header form.
    let header_pairs: Vec<(String, String)> = first
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for fields in [pairs, header_pairs] {
        if let Ok(sig) = cos_auth::parse(&fields) {
            assert!(sig.header_list.len() <= 64 && sig.param_list.len() <= 64);
            let _ = cos_auth::expiry(&sig);
            let look = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.clone())
            };
            let _ = cos_auth::compute(KEY, &sig, "GET", "/k", &look, &look);
        }
    }
});
