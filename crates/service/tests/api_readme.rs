//! The README's walkthrough commands as written (issue 15 item 3): `aws s3 mb | cp |
//! presign` from the aws CLI (PyPI, pinned in scripts/requirements-py.txt) against the
//! embedded store — `s3 presign` without `--region` makes a SigV2 link, which the store
//! and ImportImage accept — then the import with tencentcloud-sdk-python ends NORMAL.
//! The driving script is tests/clients/readme_aws.py.

mod api_common;

use api_common::*;

#[test]
fn the_readme_aws_cli_commands_import_an_image() {
    venv_python();
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("img"));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let s = Server::start(&data, 1);
    let out = python(
        "readme_aws.py",
        &[
            &s.json().to_string(),
            repo().join("README.md").to_str().unwrap(),
            imgs.good.to_str().unwrap(),
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["image"].as_str().unwrap();
    let img = db(&data).image_any(id).unwrap().unwrap();
    assert_eq!(img.state, "NORMAL", "{img:?}");
    // Declared from the DryRun's `Detected`.
    assert_eq!(
        (img.os_type.as_str(), img.os_version.as_str()),
        ("CentOS", "7")
    );
}
