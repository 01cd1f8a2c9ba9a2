//! Hostile local inputs to the CLI (issue 18, items 10–12), driving the real binary:
//! special files where an image is expected (FIFO, socket, character device,
//! directory), symbolic links on either side of `convert`, the output's mode under a
//! permissive umask, and exit statuses that say what happened. Every run is under a
//! watchdog: a command that hangs fails its test instead of stalling CI.

use serde_json::Value;
use std::fs;
use std::io::{Read, Seek};
use std::os::unix::fs::{symlink, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a command may run before it counts as hung. Far above what any of these
/// tiny inputs needs (even a debug build on a busy machine); not a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(120);

/// What one run of `imgport` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Run `imgport ARGS` with the umask `umask` (through `sh`), no stdin, and output to
/// files (a full pipe cannot block it); kill it and fail when it outlives [`WATCHDOG`].
fn imgport_umask(umask: &str, args: &[&str]) -> Run {
    let mut out = tempfile::tempfile().unwrap();
    let mut err = tempfile::tempfile().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_imgport"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .expect("run imgport");
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("imgport {args:?} hangs: still running after {WATCHDOG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |f: &mut fs::File| {
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Run {
        code: status.code(),
        stdout: read(&mut out),
        stderr: read(&mut err),
    }
}

fn imgport(args: &[&str]) -> Run {
    imgport_umask("022", args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A raw disk of `len` zero bytes with mode `mode`.
fn zero_disk(path: &Path, len: u64, mode: u32) {
    fs::File::create(path).unwrap().set_len(len).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Every command that reads a local image, on `input` (convert writes into `dir`).
fn every_reader(input: &Path, dir: &Path) -> Vec<Vec<String>> {
    let i = s(input).to_string();
    let out = s(&dir.join("out.qcow2")).to_string();
    [
        vec!["check", &i],
        vec!["check", "--json", &i],
        vec!["info", &i],
        vec!["info", "--json", &i],
        vec!["inspect", &i],
        vec!["inspect", "--json", &i],
        vec!["measure", &i],
        vec!["convert", &i, &out],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect()
}

/// Every reader refuses `input` at once with exit 2, naming `kind`; convert writes
/// nothing (issue 18 item 10).
fn assert_refused_by_every_command(input: &Path, dir: &Path, kind: &str) {
    let want = format!("is a {kind}, not a disk image file");
    for args in every_reader(input, dir) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = imgport(&args);
        assert_eq!(r.code, Some(2), "{args:?}: exit status; {}", r.text());
        assert!(
            r.text().contains(&want),
            "{args:?}: `{want}` in {}",
            r.text()
        );
        if args[0] == "check" && !args.contains(&"--json") {
            assert!(r.stdout.contains("COULD NOT CHECK"), "{}", r.stdout);
        }
    }
    assert!(
        fs::symlink_metadata(dir.join("out.qcow2")).is_err(),
        "convert wrote an output"
    );
}

#[test]
fn a_fifo_is_refused_at_once_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("disk.img");
    let st = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(st.success());
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_refused_by_every_command(&fifo, dir.path(), "FIFO");
    // Through a symbolic link, too: the type is that of the opened file.
    let link = dir.path().join("link.img");
    symlink(&fifo, &link).unwrap();
    assert_refused_by_every_command(&link, dir.path(), "FIFO");
}

#[test]
fn a_socket_is_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("disk.img");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    assert_refused_by_every_command(&sock, dir.path(), "socket");
}

#[test]
fn a_character_device_is_refused_by_every_command() {
    let dev = Path::new("/dev/null");
    assert!(fs::metadata(dev).unwrap().file_type().is_char_device());
    let dir = tempfile::tempdir().unwrap();
    assert_refused_by_every_command(dev, dir.path(), "character device");
}

#[test]
fn a_directory_where_a_file_is_expected_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("images");
    fs::create_dir(&sub).unwrap();
    let out = dir.path().join("out.qcow2");
    for args in [
        vec!["info", s(&sub)],
        vec!["inspect", s(&sub)],
        vec!["inspect", "--json", s(&sub)],
        vec!["measure", s(&sub)],
        vec!["convert", s(&sub), s(&out)],
    ] {
        let r = imgport(&args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.text());
        assert!(
            r.text().contains("is a directory, not a disk image file"),
            "{args:?}: {}",
            r.text()
        );
    }
    assert!(!out.exists());
}

#[test]
fn a_symlinked_input_is_followed_and_the_report_names_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.raw");
    zero_disk(&real, 1 << 20, 0o644);
    let link = dir.path().join("link.raw");
    symlink("real.raw", &link).unwrap();
    let named = format!(
        "{} (symlink to {})",
        link.display(),
        real.canonicalize().unwrap().display()
    );

    let r = imgport(&["inspect", "--json", s(&link)]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert_eq!(r.json()["image"]["source"], named.as_str());
    let r = imgport(&["inspect", s(&link)]);
    assert!(
        r.stdout.contains(&format!("image: {named}")),
        "{}",
        r.stdout
    );

    let r = imgport(&["check", "--json", s(&link)]);
    assert_eq!(r.json()["source"], named.as_str(), "{}", r.stdout);
    let r = imgport(&["check", s(&link)]);
    assert!(
        r.stdout.contains(&format!("imgport check {named}")),
        "{}",
        r.stdout
    );

    let r = imgport(&["info", s(&link)]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(
        r.stdout.contains(&format!("image: {named}")),
        "{}",
        r.stdout
    );

    let out = dir.path().join("out.qcow2");
    let r = imgport(&["convert", "--json", s(&link), s(&out)]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert_eq!(r.json()["input"], named.as_str());
    assert_eq!(r.json()["input_size"], 1 << 20);
    // Not a regular file that is a link: the link is followed, nothing else.
    assert!(fs::symlink_metadata(&out).unwrap().file_type().is_file());
}

/// A destination that is a symbolic link is neither written through nor replaced,
/// with or without --force, dangling or not (issue 18 item 11).
#[test]
fn an_output_path_that_is_a_symlink_is_refused_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    zero_disk(&src, 1 << 20, 0o644);
    let victim = dir.path().join("victim");
    fs::write(&victim, b"keep me").unwrap();
    let dst = dir.path().join("out.qcow2");
    symlink(&victim, &dst).unwrap();
    let missing = dir.path().join("missing");
    let dangling = dir.path().join("dangling.qcow2");
    symlink(&missing, &dangling).unwrap();
    for (link, target) in [(&dst, &victim), (&dangling, &missing)] {
        for force in [false, true] {
            let mut args = vec!["convert", s(&src), s(link)];
            if force {
                args.insert(1, "--force");
            }
            let r = imgport(&args);
            assert_eq!(r.code, Some(2), "{args:?}: {}", r.text());
            assert!(
                r.stderr.contains("is a symbolic link") && r.stderr.contains("also with --force"),
                "{args:?}: {}",
                r.stderr
            );
            assert!(fs::symlink_metadata(link).unwrap().file_type().is_symlink());
            assert_eq!(&fs::read_link(link).unwrap(), target);
        }
    }
    assert_eq!(fs::read(&victim).unwrap(), b"keep me");
    assert!(!missing.exists());
}

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Outputs are 0600 — or the input's mode where stricter — whatever the umask
/// (issue 18 item 11: a symlink to /etc/shadow became a 0644 copy).
#[test]
fn the_output_is_0600_or_stricter_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open.raw");
    zero_disk(&open, 1 << 20, 0o644);
    let secret = dir.path().join("secret.raw");
    zero_disk(&secret, 1 << 20, 0o400);
    let out = |n: &str| dir.path().join(n);
    let cases: [(&[&str], &Path, &PathBuf, u32); 5] = [
        (&[], &open, &out("a.qcow2"), 0o600),
        (&["-O", "raw"], &open, &out("a.raw"), 0o600),
        (&["-c"], &open, &out("c.qcow2"), 0o600),
        (&[], &secret, &out("s.qcow2"), 0o400),
        (&["-O", "raw"], &secret, &out("s.raw"), 0o400),
    ];
    for (opts, input, output, want) in cases {
        let mut args = vec!["convert"];
        args.extend_from_slice(opts);
        args.extend([s(input), s(output)]);
        for umask in ["022", "000"] {
            let _ = fs::remove_file(output);
            let r = imgport_umask(umask, &args);
            assert_eq!(r.code, Some(0), "{args:?}: {}", r.text());
            assert_eq!(
                mode_of(output),
                want,
                "{args:?} under umask {umask}: mode {:o}",
                mode_of(output)
            );
        }
    }
    // Replacing an existing, world-readable file gives the new file's mode.
    let old = out("old.qcow2");
    zero_disk(&old, 10, 0o644);
    let r = imgport(&["convert", "--force", s(&open), s(&old)]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert_eq!(mode_of(&old), 0o600);
}

/// `check` of a directory without image files is no verdict: exit 2, saying so
/// (issue 18 item 12).
#[test]
fn check_of_a_directory_without_images_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    // Only things that are not checked: a hidden file, a subdirectory, a FIFO.
    let odd = dir.path().join("odd");
    fs::create_dir_all(odd.join("sub")).unwrap();
    fs::write(odd.join(".hidden.raw"), vec![0u8; 4096]).unwrap();
    assert!(Command::new("mkfifo")
        .arg(odd.join("pipe.img"))
        .status()
        .unwrap()
        .success());
    for d in [&empty, &odd] {
        for json in [false, true] {
            let mut args = vec!["check", s(d)];
            if json {
                args.insert(1, "--json");
            }
            let r = imgport(&args);
            assert_eq!(r.code, Some(2), "{args:?}: {}", r.text());
            assert!(
                r.stderr
                    .contains(&format!("no image files in {}", d.display())),
                "{args:?}: {}",
                r.stderr
            );
        }
    }
}

/// An MBR whose only partition runs past the end of the 2 MiB disk: inspection goes
/// on, with an error about it.
fn corrupt_mbr_disk(path: &Path) {
    let mut disk = vec![0u8; 2 << 20];
    let entry = &mut disk[446..462];
    entry[4] = 0x83; // Linux
    entry[8..12].copy_from_slice(&2048u32.to_le_bytes());
    entry[12..16].copy_from_slice(&1_000_000u32.to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xaa;
    fs::write(path, disk).unwrap();
}

/// `inspect` exit statuses: 0 clean, 1 inspected with errors (shown in the human
/// output too), 2 not readable at all (issue 18 item 12).
#[test]
fn inspect_exit_status_says_whether_there_were_errors() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("zero.raw");
    zero_disk(&clean, 2 << 20, 0o644);
    let r = imgport(&["inspect", "--json", s(&clean)]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert_eq!(r.json()["errors"], serde_json::json!([]));

    let bad = dir.path().join("bad.raw");
    corrupt_mbr_disk(&bad);
    let r = imgport(&["inspect", "--json", s(&bad)]);
    assert_eq!(r.code, Some(1), "{}", r.text());
    let errors = r.json()["errors"].as_array().cloned().unwrap_or_default();
    assert!(!errors.is_empty(), "{}", r.stdout);
    let r = imgport(&["inspect", s(&bad)]);
    assert_eq!(r.code, Some(1), "{}", r.text());
    assert!(
        r.stdout.contains("error: partition 1 ends at byte"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("inspected with"), "{}", r.stderr);

    let r = imgport(&["inspect", s(&dir.path().join("absent.raw"))]);
    assert_eq!(r.code, Some(2), "{}", r.text());
}
