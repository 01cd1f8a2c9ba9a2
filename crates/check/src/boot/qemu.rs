//! Runs one boot under QEMU and watches its serial console (issue 17, items 4 and 6).
//!
//! The guest gets what the cloud gives it: the system disk on virtio-blk (opened through
//! `snapshot=on`, so writes go to a temporary overlay in our temp dir and the image is
//! never modified), QEMU itself under its seccomp sandbox (`-sandbox on`, no spawning,
//! no privilege changes; dropped only when the QEMU was built without seccomp), one virtio-net NIC on a user-mode network with `restrict=on` (no
//! route out, no host forwards), 1 GiB of RAM, no display, the serial console written to
//! a file, and the NoCloud seed as a second, read-only virtio disk. KVM when `/dev/kvm`
//! opens read-write, else TCG. `-no-reboot`: a guest reset (a panic with `panic=N`, a
//! triple fault) ends QEMU instead of looping.
//!
//! The QEMU process is killed and reaped on timeout, on conclusion and when the
//! [`Running`] guard is dropped (an error or panic on our side); with `setpriv` on PATH it
//! is also started with `--pdeathsig KILL`, so it dies with us if we are killed.

use super::BootOptions;
use imgport_policy::boot::{self, BootFacts, Ending};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Most serial console bytes kept in memory (the newest ones).
pub const MAX_SERIAL_BYTES: usize = 1 << 20;
/// How often the serial file is read.
const POLL: Duration = Duration::from_millis(250);
/// After a fatal sign, how long to keep reading (the rest of a panic's trace).
const GRACE: Duration = Duration::from_secs(2);

/// `/dev/kvm` can be used (opens read-write).
pub fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// QEMU's `format=` name for the disk core's format name.
pub fn qemu_format(format: &str) -> Option<&'static str> {
    match format {
        "raw" => Some("raw"),
        "qcow2" => Some("qcow2"),
        "vmdk" => Some("vmdk"),
        "vhd" | "vpc" => Some("vpc"),
        _ => None,
    }
}

/// The QEMU command line (without the binary).
pub fn args(
    image: &Path,
    format: &str,
    seed: &Path,
    serial: &Path,
    kvm: bool,
    memory_mib: u32,
    sandbox: bool,
) -> Vec<String> {
    let p = |p: &Path| escape(&p.to_string_lossy());
    let mut a: Vec<String> = vec![
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-machine".into(),
        "pc".into(),
        "-accel".into(),
        if kvm { "kvm" } else { "tcg" }.into(),
    ];
    if kvm {
        a.extend(["-cpu".into(), "host".into()]);
    }
    a.extend([
        "-m".into(),
        memory_mib.to_string(),
        "-smp".into(),
        "1".into(),
        "-display".into(),
        "none".into(),
        "-monitor".into(),
        "none".into(),
        "-serial".into(),
        format!("file:{}", serial.to_string_lossy()),
        "-no-reboot".into(),
        "-drive".into(),
        format!(
            "file={},format={format},if=virtio,snapshot=on,cache=unsafe",
            p(image)
        ),
        "-drive".into(),
        format!("file={},format=raw,if=virtio,readonly=on", p(seed)),
        "-netdev".into(),
        "user,id=n0,restrict=on".into(),
        "-device".into(),
        "virtio-net-pci,netdev=n0".into(),
    ]);
    if sandbox {
        // QEMU's seccomp filter: a guest that escapes into QEMU still cannot spawn
        // processes, gain privileges or use obsolete system calls.
        a.extend([
            "-sandbox".into(),
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny".into(),
        ]);
    }
    a
}

/// QEMU's answer when it was built without seccomp (`-sandbox` unusable).
pub fn sandbox_unsupported(err: &std::io::Error) -> bool {
    let m = err.to_string();
    m.contains("sandbox") || m.contains("seccomp")
}

/// QEMU option values escape `,` as `,,`.
fn escape(s: &str) -> String {
    s.replace(',', ",,")
}

/// A started QEMU, killed and reaped when dropped.
struct Running {
    child: Child,
    exited: bool,
}

impl Running {
    /// `Some(exit code)` once QEMU has exited by itself (reaped).
    fn try_wait(&mut self) -> Option<Option<i32>> {
        if self.exited {
            return None;
        }
        match self.child.try_wait() {
            Ok(Some(st)) => {
                self.exited = true;
                Some(st.code())
            }
            _ => None,
        }
    }

    fn stop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.exited = true;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Boots `image` (`format` as the disk core names it) with the seed at `seed`, writing the
/// serial console to `serial` and overlays to `tmp`; reads it until the marker, a fatal
/// sign, QEMU's exit or the timeout. `Err` only when QEMU could not be started.
pub fn run(
    opts: &BootOptions,
    image: &Path,
    format: &str,
    seed: &Path,
    serial: &Path,
    tmp: &Path,
    marker: &str,
) -> std::io::Result<BootFacts> {
    let kvm = match opts.kvm {
        Some(k) => k,
        None => kvm_usable(),
    };
    let timeout = opts.timeout;
    File::create(serial)?;
    let err_path = tmp.join("qemu.stderr");
    let qemu_args = args(
        image,
        format,
        seed,
        serial,
        kvm,
        opts.memory_mib,
        opts.sandbox,
    );
    let mut cmd = match setpriv() {
        Some(sp) => {
            let mut c = Command::new(sp);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&opts.qemu);
            c
        }
        None => Command::new(&opts.qemu),
    };
    cmd.args(&qemu_args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&err_path)?);
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot start {}: {e}", opts.qemu.display()),
        )
    })?;
    let mut running = Running {
        child,
        exited: false,
    };
    let mut f = File::open(serial)?;
    let mut text = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut fatal_at: Option<Instant> = None;
    let ending = loop {
        read_new(&mut f, &mut pending, &mut text)?;
        let s = boot::scan(&text, marker);
        if s.marker {
            break Ending::Concluded;
        }
        if s.fatal.is_some() {
            let at = *fatal_at.get_or_insert_with(Instant::now);
            if at.elapsed() >= GRACE {
                break Ending::Concluded;
            }
        }
        if s.login_prompt && !opts.agent_expected {
            // No cloud-init in the image (inspection): the marker cannot come.
            break Ending::Concluded;
        }
        if let Some(code) = running.try_wait() {
            read_new(&mut f, &mut pending, &mut text)?;
            break Ending::Exited(code);
        }
        if started.elapsed() >= timeout {
            break Ending::TimedOut;
        }
        if opts.cancel.requested() {
            // Killed and reaped by `running`'s drop.
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "boot cancelled",
            ));
        }
        std::thread::sleep(POLL);
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    running.stop();
    let mut qemu_err = String::new();
    if let Ok(e) = File::open(&err_path) {
        let _ = e.take(4096).read_to_string(&mut qemu_err);
    }
    if let Ending::Exited(code) = ending {
        if code != Some(0) && text.trim().is_empty() {
            // Nothing was booted: QEMU itself failed (bad option, unreadable image,
            // KVM present but unusable, as under some nested hypervisors).
            return Err(std::io::Error::other(format!(
                "{} ({}) exited with {} before the guest printed anything: {}",
                opts.qemu.display(),
                if kvm { "kvm" } else { "tcg" },
                code.map_or("a signal".to_string(), |c| format!("status {c}")),
                qemu_err.trim()
            )));
        }
    }
    let mut facts = boot::conclude(&text, marker, ending, elapsed_ms, timeout.as_secs());
    facts.accel = Some(if kvm { "kvm" } else { "tcg" }.into());
    if matches!(ending, Ending::Exited(_)) && !qemu_err.trim().is_empty() {
        // QEMU's own complaint (bad option, unreadable image, no KVM) explains an exit.
        facts.reason = format!("{}; QEMU: {}", facts.reason, qemu_err.trim());
    }
    Ok(facts)
}

/// Appends what was written to the serial file since the last call (bounded: the text
/// keeps the newest [`MAX_SERIAL_BYTES`]).
fn read_new(f: &mut File, pending: &mut Vec<u8>, text: &mut String) -> std::io::Result<()> {
    let mut buf = Vec::new();
    f.by_ref()
        .take(MAX_SERIAL_BYTES as u64)
        .read_to_end(&mut buf)?;
    if buf.is_empty() {
        return Ok(());
    }
    pending.extend_from_slice(&buf);
    // Keep an incomplete UTF-8 sequence at the end for the next read.
    let cut = match std::str::from_utf8(pending) {
        Ok(_) => pending.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => pending.len(),
    };
    text.push_str(&String::from_utf8_lossy(&pending[..cut]));
    pending.drain(..cut);
    if text.len() > MAX_SERIAL_BYTES {
        let mut from = text.len() - MAX_SERIAL_BYTES;
        while !text.is_char_boundary(from) {
            from += 1;
        }
        text.drain(..from);
    }
    Ok(())
}

/// `setpriv` (util-linux), to start QEMU with a parent-death signal.
fn setpriv() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("setpriv"))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_the_clouds_shape() {
        let a = args(
            Path::new("/t/a,b.qcow2"),
            "qcow2",
            Path::new("/t/seed.img"),
            Path::new("/t/serial.log"),
            false,
            1024,
            true,
        );
        let s = a.join(" ");
        assert!(
            s.contains("-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny"),
            "{s}"
        );
        assert!(s.contains("-accel tcg"), "{s}");
        assert!(
            s.contains("file=/t/a,,b.qcow2,format=qcow2,if=virtio,snapshot=on"),
            "{s}"
        );
        assert!(s.contains("-netdev user,id=n0,restrict=on"), "{s}");
        assert!(s.contains("virtio-net-pci"), "{s}");
        assert!(s.contains("-m 1024"), "{s}");
        assert!(!s.contains("hostfwd"), "{s}");
        assert_eq!(qemu_format("vhd"), Some("vpc"));
        assert_eq!(qemu_format("iso"), None);
    }

    /// A cancelled boot kills and reaps QEMU at once (a stand-in that prints a kernel
    /// banner and hangs) and ends `Interrupted`, long before its timeout.
    #[test]
    fn a_cancelled_boot_kills_qemu() {
        use std::os::unix::fs::PermissionsExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("qemu");
        let pid = dir.path().join("pid");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nwhile [ $# -gt 0 ]; do case \"$1\" in -serial) s=${{2#file:}}; shift;; esac; shift; done\n\
                 echo $$ > '{}'\nprintf 'Linux version 6.1.0\\n' >> \"$s\"\nexec sleep 1000\n",
                pid.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let pid2 = pid.clone();
        // Cancel once the stand-in is running.
        let cancel = super::super::Cancel::when(move || {
            if pid2.exists() {
                s2.store(true, Ordering::Relaxed);
            }
            s2.load(Ordering::Relaxed)
        });
        let opts = BootOptions {
            qemu: fake,
            timeout: Duration::from_secs(600),
            kvm: Some(false),
            cancel,
            ..BootOptions::default()
        };
        let img = dir.path().join("disk.raw");
        std::fs::write(&img, b"").unwrap();
        let r = run(
            &opts,
            &img,
            "raw",
            &img,
            &dir.path().join("serial.log"),
            dir.path(),
            "marker",
        );
        let e = r.expect_err("a cancelled boot is an error");
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "{e}");
        assert!(stop.load(Ordering::Relaxed));
        let p = std::fs::read_to_string(&pid).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", p.trim()));
        assert!(status.is_err(), "QEMU still there: {status:?}");
    }
}
