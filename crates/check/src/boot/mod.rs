//! The boot test (issue 17): boot the checked image under QEMU the way the cloud runs it
//! and turn what its serial console shows into [`BootFacts`] for the policy (R-BOOT).
//!
//! [`boot_test`] decides whether a boot can prove anything (a readable image with a
//! Linux system; Windows guests are "not run": none can be booted here), builds the
//! NoCloud seed ([`seed`]) in a temp dir, runs QEMU ([`qemu`]) under a per-process limit
//! on concurrent boots, and [`apply`] puts the result into a [`CheckReport`] and
//! re-decides its verdict. Reading the console is pure and lives in
//! `imgport_policy::boot`.

pub mod qemu;
pub mod seed;

use crate::CheckReport;
use imgport_policy::rules::OsType;
use imgport_policy::{BootFacts, ImportForm};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Default wall time of one boot (TCG on a loaded host is slow).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(240);
/// Guest RAM.
pub const DEFAULT_MEMORY_MIB: u32 = 1024;

/// How to boot.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// The QEMU binary (`qemu-system-x86_64` on PATH by default).
    pub qemu: PathBuf,
    /// Wall time allowed before QEMU is killed.
    pub timeout: Duration,
    pub memory_mib: u32,
    /// `Some(true)`: KVM, `Some(false)`: TCG, `None`: KVM when `/dev/kvm` is usable.
    pub kvm: Option<bool>,
    /// Most boots running at once in this process (the others wait); at least 1.
    pub max_concurrent: usize,
    /// Inspection found a first-boot agent (or could not tell): wait for the marker until
    /// the timeout. `false`: conclude `no-agent` as soon as a login prompt shows.
    pub agent_expected: bool,
    /// Asked while waiting for a boot slot and between reads of the console: once it
    /// answers `true` (a server shutting down, a job whose lease was lost) QEMU is killed
    /// and reaped at once and the boot ends `not-run` ("cancelled").
    pub cancel: Cancel,
    /// Run QEMU under `-sandbox on` (seccomp); a QEMU built without it is retried
    /// without, saying so in the result.
    pub sandbox: bool,
}

/// When to give up a boot early (see [`BootOptions::cancel`]); never, by default.
#[derive(Clone, Default)]
pub struct Cancel(Option<Arc<dyn Fn() -> bool + Send + Sync>>);

impl Cancel {
    /// Cancel once `f` returns `true`.
    pub fn when(f: impl Fn() -> bool + Send + Sync + 'static) -> Cancel {
        Cancel(Some(Arc::new(f)))
    }

    /// Whether the boot must stop now.
    pub fn requested(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f())
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Cancel(when …)"
        } else {
            "Cancel(never)"
        })
    }
}

/// The reason of a boot that was cancelled (`not-run`).
pub const CANCELLED: &str = "the boot test was cancelled before it concluded (the import stopped)";

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            qemu: PathBuf::from("qemu-system-x86_64"),
            timeout: DEFAULT_TIMEOUT,
            memory_mib: DEFAULT_MEMORY_MIB,
            kvm: None,
            max_concurrent: 1,
            agent_expected: true,
            cancel: Cancel::default(),
            sandbox: true,
        }
    }
}

/// Boots the image at `path`, already checked into `report`. Never fails: a boot that
/// could not be run is `not-run` with the reason.
pub fn boot_test(path: &Path, report: &CheckReport, opts: &BootOptions) -> BootFacts {
    match report.info.as_ref() {
        Some(i) => boot_file(path, i.format.name(), report, opts),
        None => BootFacts::not_run("the image could not be read as a disk image"),
    }
}

/// [`boot_test`] of a file in `format` (the disk core's name) whose guest `report`
/// describes: the service boots its own qcow2 conversion of the checked image.
pub fn boot_file(path: &Path, format: &str, report: &CheckReport, opts: &BootOptions) -> BootFacts {
    if let Some(reason) = cannot_boot(report) {
        return BootFacts::not_run(reason);
    }
    let Some(format) = qemu::qemu_format(format) else {
        return BootFacts::not_run("the image format cannot be booted");
    };
    let agent_expected = report
        .guest
        .as_ref()
        .is_none_or(|g| g.cloud_init != Some(false));
    let opts = &BootOptions {
        agent_expected: opts.agent_expected && agent_expected,
        ..opts.clone()
    };
    let Some(_slot) = Slot::acquire(opts.max_concurrent, &opts.cancel) else {
        return BootFacts::not_run(CANCELLED);
    };
    let kvm = opts.kvm.unwrap_or_else(qemu::kvm_usable);
    let first = run(
        path,
        format,
        &BootOptions {
            kvm: Some(kvm),
            ..opts.clone()
        },
    );
    let result = match first {
        // `/dev/kvm` opened but KVM failed (nested virtualisation without the MSRs QEMU
        // needs, …): TCG still proves the boot, only slower.
        Err(e) if kvm && opts.kvm.is_none() && e.kind() != std::io::ErrorKind::Interrupted => run(
            path,
            format,
            &BootOptions {
                kvm: Some(false),
                ..opts.clone()
            },
        )
        .map_err(|e2| std::io::Error::other(format!("{e}; then {e2}"))),
        r => r,
    };
    match result {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => BootFacts::not_run(CANCELLED),
        Err(e) => BootFacts::not_run(format!("QEMU could not be run: {e}")),
    }
}

/// One boot; again without `-sandbox` when this QEMU has no seccomp support.
fn run(path: &Path, format: &str, opts: &BootOptions) -> std::io::Result<BootFacts> {
    match run_once(path, format, opts) {
        Err(e) if opts.sandbox && qemu::sandbox_unsupported(&e) => {
            let plain = BootOptions {
                sandbox: false,
                ..opts.clone()
            };
            let mut f = run_once(path, format, &plain)?;
            f.reason = format!(
                "{} (QEMU has no seccomp sandbox: run without -sandbox)",
                f.reason
            );
            Ok(f)
        }
        r => r,
    }
}

fn run_once(path: &Path, format: &str, opts: &BootOptions) -> std::io::Result<BootFacts> {
    let dir = tempfile::Builder::new().prefix("imgport-boot.").tempdir()?;
    let token = token();
    let seed_path = dir.path().join("seed.img");
    std::fs::write(&seed_path, seed::build(&token)?)?;
    let serial = dir.path().join("serial.log");
    let image = std::path::absolute(path)?;
    qemu::run(
        opts,
        &image,
        format,
        &seed_path,
        &serial,
        dir.path(),
        &seed::marker(&token),
    )
}

/// Why this image is not booted, if it is not.
fn cannot_boot(report: &CheckReport) -> Option<String> {
    if report.info.is_none() {
        return Some("the image could not be read as a disk image".into());
    }
    let os = report.guest.as_ref().and_then(|g| g.os.as_ref());
    match os.and_then(|o| o.os_type) {
        Some(OsType::Windows) => Some(
            "Windows guest: no Windows image can be booted here (no licensed test guest); \
             the virtio and cloudbase-init checks above are the prediction"
                .into(),
        ),
        Some(OsType::Linux) => {
            let arch = os.and_then(|o| o.arch.as_deref()).unwrap_or("x86_64");
            if matches!(arch, "x86_64" | "amd64" | "i386" | "i486" | "i586" | "i686") {
                None
            } else {
                Some(format!("{arch} guest: only x86 guests are booted"))
            }
        }
        _ => Some("inspection found no operating system to boot".into()),
    }
}

/// A random token for the marker (16 hex digits from the OS's random source).
fn token() -> String {
    let mut b = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        // Unique enough per process and boot: the marker only needs to be unpredictable
        // to the guest image, which cannot see this process.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = ((t as u64) ^ ((std::process::id() as u64) << 32)).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Puts the boot result into the report's guest facts and re-decides the verdict.
pub fn apply(report: &mut CheckReport, boot: BootFacts, form: &ImportForm) {
    let guest = report.guest.get_or_insert_with(Default::default);
    guest.boot = Some(boot);
    report.verdict = imgport_policy::decide(&report.format, report.guest.as_ref(), form);
}

/// Boots running in this process, bounded by `BootOptions::max_concurrent`.
static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

struct Slot;

impl Slot {
    /// A slot once fewer than `max` boots run; `None` when `cancel` is requested first.
    fn acquire(max: usize, cancel: &Cancel) -> Option<Slot> {
        let max = max.max(1);
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= max {
            if cancel.requested() {
                return None;
            }
            n = FREED
                .wait_timeout(n, Duration::from_millis(250))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *n += 1;
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        FREED.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }

    #[test]
    fn slots_bound_concurrency() {
        let never = Cancel::default();
        let a = Slot::acquire(2, &never).unwrap();
        let b = Slot::acquire(2, &never).unwrap();
        assert_eq!(*RUNNING.lock().unwrap(), 2);
        // Full: a cancelled wait gives up instead of blocking until a boot ends.
        let stop = Cancel::when(|| true);
        assert!(Slot::acquire(2, &stop).is_none());
        drop((a, b));
        assert_eq!(*RUNNING.lock().unwrap(), 0);
        assert!(!never.requested() && stop.requested());
    }
}
