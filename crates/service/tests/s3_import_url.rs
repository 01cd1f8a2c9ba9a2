//! The ImportImage URL rules (SPEC R-ERR InvalidUrl, R-REGION; issue 7 item 5) through
//! `resolve_import_url`, on links made by the real clients (boto3 presigned,
//! cos-python-sdk-v5 presigned and `sign=`) and by `presign_get`: other hosts, missing
//! and deleted objects, private unsigned, tampered, expired, replayed, another tenant's
//! signature, wrong region with the finance wording, public-read, virtual hosts.

mod s3_common;

use imgport_service::s3::import_url::{resolve_import_url, UrlError};
use imgport_service::s3::presign_get;
use std::io::{Read, Write};

fn urls(s: &s3_common::Server) -> serde_json::Map<String, serde_json::Value> {
    let out = s3_common::run_script(s, "s3_import_urls.py", &[]);
    let last = out.lines().last().expect("the script prints the links");
    serde_json::from_str(last).expect("JSON links")
}

/// GET `url` (plain HTTP on loopback): (status, body).
fn http_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    http_get_via(authority, url)
}

/// GET `url` from the server at `server` (host:port), naming the URL's host in the
/// Host header (as a proxied request to a COS host name arrives).
fn http_get_via(server: &str, url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut c = std::net::TcpStream::connect(server).expect("connect");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    c.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp);
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| resp[i + 4..].to_vec())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn import_url_rules() {
    let s = s3_common::start();
    let st = &s.state;
    let u = urls(&s);
    let url = |k: &str| u[k].as_str().unwrap().to_string();
    let gz = "ap-guangzhou";
    let app = s.a.app_id.to_string();
    let g = format!("img-{app}");
    let port = st.config.storage_listen.port();

    // Not this service's object store: refused without any connection.
    for other in [
        format!("http://example.com/{g}/private.qcow2"),
        format!(
            "http://127.0.0.1:{}/{g}/private.qcow2",
            if port == 1 { 2 } else { 1 }
        ),
        format!("https://127.0.0.1:{port}/{g}/private.qcow2"),
        format!("http://{g}.s3.ap-guangzhou.amazonaws.com/private.qcow2"),
        format!("http://{g}.cos.mars-1.myqcloud.com/private.qcow2"),
        format!("http://{g}.cos.ap-guangzhou.myqcloud.com:8080/private.qcow2"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "ftp://127.0.0.1/x".to_string(),
        "file:///etc/passwd".to_string(),
        "not a url".to_string(),
        format!("http://user:pw@127.0.0.1:{port}/{g}/public.qcow2"),
    ] {
        let e = resolve_import_url(st, &other, gz, false).unwrap_err();
        assert!(matches!(e, UrlError::NotOurStore(_)), "{other}: {e:?}");
        assert!(
            e.message()
                .contains("not a link of this cloud's object storage"),
            "{}",
            e.message()
        );
    }

    // Missing objects, buckets, keys.
    for missing in [
        url("missing"),
        url("presigned_missing"),
        format!("http://127.0.0.1:{port}/no-such-bucket/x"),
        format!("http://127.0.0.1:{port}/{g}"),
        format!("http://127.0.0.1:{port}/"),
    ] {
        let e = resolve_import_url(st, &missing, gz, true).unwrap_err();
        assert!(matches!(e, UrlError::NoSuchObject(_)), "{missing}: {e:?}");
    }

    // Private without a signature, with a tampered one, signed by another tenant.
    for (k, why) in [
        ("private", ""),
        ("tampered", "signature does not match"),
        ("presigned_other_tenant", "another account"),
    ] {
        let e = resolve_import_url(st, &url(k), gz, true).unwrap_err();
        assert!(matches!(e, UrlError::NotAuthorized(_)), "{k}: {e:?}");
        assert!(e.message().contains(why), "{k}: {}", e.message());
        assert!(e.message().contains("public-read"), "{}", e.message());
    }

    // Public-read: any number of imports, no signature needed; via a virtual host too.
    for public in [
        url("public"),
        format!("http://localhost:{port}/{g}/public.qcow2"),
        format!("http://{g}.localhost:{port}/public.qcow2"),
    ] {
        for _ in 0..2 {
            let src = resolve_import_url(st, &public, gz, true).unwrap();
            assert_eq!(
                (src.bucket.as_str(), src.key.as_str()),
                (g.as_str(), "public.qcow2")
            );
            assert_eq!(src.size, 12);
            assert_eq!(src.owner_app_id, app);
            assert_eq!(src.region, gz);
            assert_eq!(st.objects.size(&src.blob).unwrap(), 12);
        }
    }

    // A wrong region is refused before the signature is consumed; finance wording.
    let e = resolve_import_url(st, &url("presigned"), "ap-shanghai", true).unwrap_err();
    assert!(
        matches!(&e, UrlError::WrongRegion { bucket_region, request_region } if bucket_region == gz && request_region == "ap-shanghai"),
        "{e:?}"
    );
    assert!(
        e.message().contains("R-REGION") && !e.message().contains("finance"),
        "{}",
        e.message()
    );
    let e =
        resolve_import_url(st, &url("presigned_shanghai"), "ap-shanghai-fsi", true).unwrap_err();
    let m = e.message();
    assert!(m.contains("ap-shanghai-fsi (Shanghai Finance)"), "{m}");
    assert!(m.contains("the finance regions (Shanghai Finance, Shenzhen Finance) cannot import from object storage of any other region"), "{m}");
    let e = resolve_import_url(st, &url("presigned_fsi"), gz, true).unwrap_err();
    assert!(matches!(e, UrlError::WrongRegion { .. }), "{e:?}");
    assert!(
        e.message().contains("finance region ap-shanghai-fsi"),
        "{}",
        e.message()
    );
    let src = resolve_import_url(st, &url("presigned_fsi"), "ap-shanghai-fsi", true).unwrap();
    assert_eq!(src.region, "ap-shanghai-fsi");

    // A signed URL: dry runs do not use it up; the first import does; a replay fails.
    for _ in 0..2 {
        resolve_import_url(st, &url("presigned"), gz, false).unwrap();
    }
    let src = resolve_import_url(st, &url("presigned"), gz, true).unwrap();
    assert_eq!(src.key, "private.qcow2");
    assert_eq!(src.size, 1024);
    for consume in [true, false] {
        let e = resolve_import_url(st, &url("presigned"), gz, consume).unwrap_err();
        assert!(matches!(e, UrlError::AlreadyUsed(_)), "{e:?}");
        assert!(
            e.message().contains("can be used only once"),
            "{}",
            e.message()
        );
    }
    // Another signed URL of the same object is a new link.
    resolve_import_url(st, &url("presigned_again"), gz, true).unwrap();
    let src = resolve_import_url(st, &url("presigned_odd_key"), gz, true).unwrap();
    assert_eq!(src.key, "dir/a b+c.qcow2");

    // COS links (q-signature in the query, or one `sign` parameter) on the COS host:
    // the store serves them, and they import once.
    let server = st.config.storage_listen.to_string();
    for k in ["cos", "cos_sign_param"] {
        let (status, body) = http_get_via(&server, &url(k));
        assert_eq!((status, &body[..4]), (200, &b"QFI\xfb"[..]), "{k}");
        let forged = url(k).replace("private.qcow2", "public.qcow2");
        assert_eq!(http_get_via(&server, &forged).0, 403, "{k}");
    }
    for k in ["cos", "cos_sign_param"] {
        let src = resolve_import_url(st, &url(k), gz, true).unwrap();
        assert_eq!(src.bucket, g, "{k}");
        let e = resolve_import_url(st, &url(k), gz, true).unwrap_err();
        assert!(matches!(e, UrlError::AlreadyUsed(_)), "{k}: {e:?}");
    }

    // Server-side presigned links: fetchable, importable once, then refused.
    let link = presign_get(st, &s.a, &g, "private.qcow2", 300);
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/{g}/private.qcow2?")),
        "{link}"
    );
    let (status, body) = http_get(&link);
    assert_eq!(status, 200);
    assert_eq!(&body[..4], b"QFI\xfb");
    resolve_import_url(st, &link, gz, true).unwrap();
    assert!(matches!(
        resolve_import_url(st, &link, gz, true),
        Err(UrlError::AlreadyUsed(_))
    ));
    // The record of a used signature is kept until its URL expired (in 300 s here):
    // pruning now forgets nothing of it; pruning as of 400 s from now forgets it, so
    // the record held the right expiry (and a real prune only runs after expiry).
    let now = imgport_service::db::now();
    st.db.prune_used_signatures(now).unwrap();
    assert!(matches!(
        resolve_import_url(st, &link, gz, false),
        Err(UrlError::AlreadyUsed(_))
    ));
    assert!(st.db.prune_used_signatures(now + 400).unwrap() >= 1);
    resolve_import_url(st, &link, gz, false).unwrap();
    let past = imgport_service::s3::presign::presign_get_at(
        st,
        &s.a,
        &g,
        "private.qcow2",
        60,
        imgport_service::db::now() - 120,
    );
    assert!(matches!(
        resolve_import_url(st, &past, gz, true),
        Err(UrlError::Expired(_))
    ));
    assert_eq!(http_get(&past).0, 403);
    let theirs = presign_get(st, &s.b, &g, "private.qcow2", 300);
    assert!(matches!(
        resolve_import_url(st, &theirs, gz, true),
        Err(UrlError::NotAuthorized(_))
    ));

    // Expired (the client made it valid for 1 s).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let e = resolve_import_url(st, &url("presigned_short"), gz, true).unwrap_err();
    assert!(matches!(e, UrlError::Expired(_)), "{e:?}");
    assert!(e.message().contains("expired"), "{}", e.message());

    // A deleted object's link no longer imports.
    let fresh = presign_get(st, &s.a, &g, "public.qcow2", 300);
    st.db.delete_object(&g, "public.qcow2").unwrap();
    for gone in [url("public"), fresh] {
        let e = resolve_import_url(st, &gone, gz, true).unwrap_err();
        assert!(matches!(e, UrlError::NoSuchObject(_)), "{e:?}");
        assert!(e.message().contains("deleted"), "{}", e.message());
    }
}
