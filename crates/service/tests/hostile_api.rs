//! Hostile requests against the real `imgport serve` with the real clients (issue 18,
//! items 1, 2 and 5): tests/clients/hostile_api.py captures requests made by
//! tencentcloud-sdk-python, boto3 and cos-python-sdk-v5 and sends them again — as
//! they were, as another action, for another region — and registers webhooks to
//! every spelling of a loopback port. Each must be refused, and the clients' own
//! flows (botocore's region redirect, repeated read-only queries) must keep working.

mod api_common;

use api_common::*;

/// A loopback port nothing listens on (for the webhook allow-list).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn hostile_requests_are_refused() {
    venv_python();
    let dir = tempfile::tempdir().unwrap();
    // A file that imports as an image that fails (any failure: it exists, in a
    // region, and can be renamed and deleted).
    let junk = dir.path().join("junk.raw");
    std::fs::write(&junk, vec![0x5au8; 2 << 20]).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let hook_port = free_port();
    let allow = format!("127.0.0.1:{hook_port}");
    let s = Server::start_with_env(&data, 1, &[("IMGPORT_WEBHOOK_ALLOW", &allow)]);
    // A second server with the default configuration: no webhook allowed at all.
    let data2 = dir.path().join("data2");
    std::fs::create_dir_all(&data2).unwrap();
    let s2 = Server::start(&data2, 1);
    let mut cfg = s.json();
    cfg["hook_port"] = hook_port.into();
    cfg["junk"] = junk.to_string_lossy().into_owned().into();
    let out = python(
        "hostile_api.py",
        &[&cfg.to_string(), &s2.json().to_string()],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("hostile api: all passed"), "{stdout}");
}
