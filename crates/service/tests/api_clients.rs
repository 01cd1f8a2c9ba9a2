//! The cloud API against the real `imgport serve` binary with the real clients (issue
//! 7): tccli, tencentcloud-sdk-python and boto3 run tests/clients/api_clients.py —
//! signatures and common errors, the import form, DryRun, imports of small synthetic
//! images ending NORMAL (qemu-img check / compare on the stored qcow2) or IMPORTFAILED
//! with each failure code, messages only for subscribed users (and their webhook),
//! replayed signed URLs, filters, deletion, tenant isolation, metrics.

mod api_common;

use api_common::*;

#[test]
fn real_clients_drive_the_cloud_api() {
    let py = venv_python();
    let _ = py;
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("images"));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // The webhook the script registers: the one target the allow-list names.
    let hook_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let allow = format!("127.0.0.1:{hook_port}");
    let s = Server::start_with_env(&data, 2, &[("IMGPORT_WEBHOOK_ALLOW", &allow)]);
    let mut server = s.json();
    server["hook_port"] = hook_port.into();
    let images = serde_json::json!({
        "good": imgs.good, "nocloud": imgs.nocloud, "datadisk": imgs.datadisk,
        "gpt": imgs.gpt, "gzip": imgs.gzip,
    });
    let out = python(
        "api_clients.py",
        &[&server.to_string(), &images.to_string()],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("api clients: all passed"), "{stdout}");
}
