//! The boot test's facts and the reading of a serial console (issue 17, R-BOOT).
//!
//! `imgport boot-test` boots the image under QEMU the way the cloud runs it (virtio-blk
//! system disk, virtio-net on a closed user-mode network, a NoCloud seed whose user-data
//! prints a unique marker on the serial console when cloud-init's final stage runs) and
//! captures the serial console. This module only reads that text: [`scan`] finds the
//! marker, signs of userspace and signs of failure; [`conclude`] turns a scan and how the
//! boot ended into [`BootFacts`], which [`crate::decide()`] maps to error codes (R-BOOT).
//! No I/O: the QEMU process is run by `imgport-check`'s `boot` module.

use serde::{Deserialize, Serialize};

/// How many serial lines a result keeps (the tail of the console).
pub const TAIL_LINES: usize = 60;
/// Longest serial line kept, in characters (longer ones are cut).
pub const MAX_LINE_CHARS: usize = 400;

/// The result of a boot test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootOutcome {
    /// The marker was seen: kernel, root on virtio and cloud-init's final stage all worked.
    Booted,
    /// Kernel and userspace came up (login prompt, systemd targets), but no marker within
    /// the time allowed: the first-boot agent did not run.
    NoAgent,
    /// The boot failed (boot loader, kernel panic, root not mounted, emergency shell) or
    /// never reached userspace within the time allowed.
    Failed,
    /// Not run (Windows guest, no QEMU, …); `BootFacts::reason` says why.
    #[default]
    NotRun,
}

impl BootOutcome {
    /// The outcome as printed (`booted`, `no-agent`, `failed`, `not-run`).
    pub fn as_str(self) -> &'static str {
        match self {
            BootOutcome::Booted => "booted",
            BootOutcome::NoAgent => "no-agent",
            BootOutcome::Failed => "failed",
            BootOutcome::NotRun => "not-run",
        }
    }
}

/// What a failed boot ran into, read from the serial console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootFailure {
    /// The firmware or boot loader found nothing to boot or failed (`No bootable device`,
    /// `grub rescue>`, `error: no such device`, syslinux errors).
    BootLoader,
    /// The kernel or initramfs could not find or mount the root filesystem on the virtio
    /// disk (`ALERT! UUID=… does not exist`, `VFS: Cannot open root device`, `Unable to
    /// mount root fs`, `dracut-initqueue timeout`, `Gave up waiting for root`).
    RootNotFound,
    /// A kernel panic with no sign of a root problem.
    KernelPanic,
    /// The root was mounted but systemd stopped in emergency/rescue mode.
    EmergencyShell,
    /// No sign of userspace within the time allowed (and no failure seen).
    Timeout,
}

impl BootFailure {
    /// The failure as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            BootFailure::BootLoader => "boot-loader",
            BootFailure::RootNotFound => "root-not-found",
            BootFailure::KernelPanic => "kernel-panic",
            BootFailure::EmergencyShell => "emergency-shell",
            BootFailure::Timeout => "timeout",
        }
    }
}

/// The boot test's result, as facts for [`crate::decide()`] (`GuestFacts::boot`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BootFacts {
    pub outcome: BootOutcome,
    /// For `failed`: what it ran into.
    pub failure: Option<BootFailure>,
    /// One sentence: what was seen (the matching serial line) or why the test was not run.
    pub reason: String,
    /// The last [`TAIL_LINES`] lines of the serial console.
    pub serial_tail: Vec<String>,
    /// Wall time from QEMU's start to the conclusion, in milliseconds.
    pub elapsed_ms: u64,
    /// The time allowed, in seconds.
    pub timeout_secs: u64,
    /// `kvm` or `tcg`.
    pub accel: Option<String>,
}

impl BootFacts {
    /// A test that was not run, and why.
    pub fn not_run(reason: impl Into<String>) -> BootFacts {
        BootFacts {
            outcome: BootOutcome::NotRun,
            reason: reason.into(),
            ..BootFacts::default()
        }
    }
}

/// Signs that end a boot at once: nothing after them can still succeed.
const FATAL: &[(&str, BootFailure)] = &[
    // Firmware (SeaBIOS) and boot loaders.
    ("No bootable device", BootFailure::BootLoader),
    ("Boot failed: not a bootable disk", BootFailure::BootLoader),
    ("grub rescue>", BootFailure::BootLoader),
    ("Missing operating system", BootFailure::BootLoader),
    ("Operating system load error", BootFailure::BootLoader),
    ("Missing ldlinux", BootFailure::BootLoader),
    (
        "No DEFAULT or UI configuration directive found",
        BootFailure::BootLoader,
    ),
    // initramfs-tools and dracut shells: the root device was not found.
    ("(initramfs)", BootFailure::RootNotFound),
    ("dracut:/#", BootFailure::RootNotFound),
    ("Entering emergency mode", BootFailure::EmergencyShell),
    ("You are in emergency mode", BootFailure::EmergencyShell),
    ("You are in rescue mode", BootFailure::EmergencyShell),
    (
        "Give root password for maintenance",
        BootFailure::EmergencyShell,
    ),
    ("Kernel panic - not syncing", BootFailure::KernelPanic),
];

/// Signs of a failure on the way, which explain a fatal sign or a timeout.
const HINTS: &[(&str, BootFailure)] = &[
    ("Unable to mount root", BootFailure::RootNotFound),
    ("VFS: Cannot open root device", BootFailure::RootNotFound),
    ("Gave up waiting for root", BootFailure::RootNotFound),
    (
        "does not exist. Dropping to a shell",
        BootFailure::RootNotFound,
    ),
    ("ALERT!", BootFailure::RootNotFound),
    ("dracut-initqueue timeout", BootFailure::RootNotFound),
    ("Could not boot.", BootFailure::RootNotFound),
    ("/dev/root does not exist", BootFailure::RootNotFound),
    ("error: no such device", BootFailure::BootLoader),
    ("error: no such partition", BootFailure::BootLoader),
    ("error: unknown filesystem", BootFailure::BootLoader),
    ("error: file `", BootFailure::BootLoader),
    ("Failed to load ldlinux", BootFailure::BootLoader),
];

/// Signs of a running userspace (systemd, a getty, SysV init).
const USERSPACE: &[&str] = &[
    "Reached target",
    " login: ",
    "login:",
    "Welcome to ",
    "INIT: Entering runlevel",
    "Starting system message bus",
];

/// What [`scan`] found in the serial text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The marker was printed.
    pub marker: bool,
    /// The first fatal sign, with its line.
    pub fatal: Option<(BootFailure, String)>,
    /// The first failure hint, with its line.
    pub hint: Option<(BootFailure, String)>,
    /// The first sign of userspace, with its line.
    pub userspace: Option<String>,
    /// A getty's login prompt was printed (userspace fully up).
    pub login_prompt: bool,
}

impl Scan {
    /// Nothing more needs to be read: the marker or a fatal sign was seen.
    pub fn finished(&self) -> bool {
        self.marker || self.fatal.is_some()
    }
}

/// Reads the serial console text. `marker` is the unique string the seed's user-data
/// prints (matched on a line of its own, trimmed, so the user-data's own text, should it
/// ever be echoed, does not count: the user-data never holds the marker whole).
pub fn scan(serial: &str, marker: &str) -> Scan {
    let mut s = Scan::default();
    for line in lines(serial) {
        if !marker.is_empty() && line.contains(marker) {
            s.marker = true;
        }
        if s.fatal.is_none() {
            if let Some((_, f)) = FATAL.iter().find(|(p, _)| line.contains(p)) {
                s.fatal = Some((*f, strip_ansi(line)));
            }
        }
        if s.hint.is_none() {
            if let Some((_, f)) = HINTS.iter().find(|(p, _)| line.contains(p)) {
                s.hint = Some((*f, strip_ansi(line)));
            }
        }
        if line.contains("login:") {
            s.login_prompt = true;
        }
        if s.userspace.is_none() && USERSPACE.iter().any(|p| line.contains(p)) {
            s.userspace = Some(strip_ansi(line));
        }
    }
    s
}

/// How the boot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The scan said it was finished (marker or fatal sign).
    Concluded,
    /// The time allowed ran out.
    TimedOut,
    /// QEMU exited by itself (guest reset or power-off with `-no-reboot`), with its status.
    Exited(Option<i32>),
}

/// The boot test's facts from the serial console text and how the boot ended.
pub fn conclude(
    serial: &str,
    marker: &str,
    ending: Ending,
    elapsed_ms: u64,
    timeout_secs: u64,
) -> BootFacts {
    let s = scan(serial, marker);
    let mut f = BootFacts {
        serial_tail: tail(serial, TAIL_LINES),
        elapsed_ms,
        timeout_secs,
        ..BootFacts::default()
    };
    let secs = elapsed_ms / 1000;
    if s.marker {
        f.outcome = BootOutcome::Booted;
        f.reason =
            format!("the boot marker printed by cloud-init's final stage was seen after {secs} s");
        return f;
    }
    // A root problem explains a later panic or shell better than the panic itself.
    let failure = match (&s.fatal, &s.hint) {
        (Some((BootFailure::KernelPanic, _)), Some(h)) => Some(h.clone()),
        (Some((BootFailure::RootNotFound, fl)), Some((BootFailure::RootNotFound, hl))) => {
            Some((BootFailure::RootNotFound, format!("{hl} … {fl}")))
        }
        (Some(fatal), _) => Some(fatal.clone()),
        (None, _) => None,
    };
    if let Some((kind, line)) = failure {
        f.outcome = BootOutcome::Failed;
        f.failure = Some(kind);
        f.reason = format!("the boot failed after {secs} s: serial console: {line}");
        return f;
    }
    match (&s.userspace, ending) {
        (Some(line), _) => {
            f.outcome = BootOutcome::NoAgent;
            f.reason = format!(
                "userspace came up (serial console: {line}) but cloud-init's final stage did \
                 not print the boot marker within {secs} s"
            );
        }
        (None, ending) => {
            f.outcome = BootOutcome::Failed;
            f.failure = Some(s.hint.as_ref().map_or(BootFailure::Timeout, |h| h.0));
            let how = match ending {
                Ending::Exited(code) => format!(
                    "QEMU exited ({}) after {secs} s",
                    code.map_or("killed by a signal".to_string(), |c| format!("status {c}"))
                ),
                _ => format!("no sign of userspace within {timeout_secs} s"),
            };
            f.reason = match &s.hint {
                Some((_, line)) => format!("{how}; serial console: {line}"),
                None => how,
            };
        }
    }
    f
}

fn lines(serial: &str) -> impl Iterator<Item = &str> {
    serial
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// The last `n` non-empty lines, control characters (ANSI colours …) removed.
pub fn tail(serial: &str, n: usize) -> Vec<String> {
    let all: Vec<&str> = lines(serial).collect();
    all[all.len().saturating_sub(n)..]
        .iter()
        .map(|l| strip_ansi(l))
        .collect()
}

/// Drops ANSI escape sequences (`ESC [ … letter`) and other control characters.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(MAX_LINE_CHARS));
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_control() && c != '\t' {
            continue;
        }
        if out.chars().count() >= MAX_LINE_CHARS {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "imgport-boot-ok-0123abcd";

    #[test]
    fn marker_means_booted() {
        let log = format!("Welcome to Debian\nfoo login: \n{M}\n");
        let f = conclude(&log, M, Ending::Concluded, 61_000, 240);
        assert_eq!(f.outcome, BootOutcome::Booted);
        assert!(f.reason.contains("61 s"), "{}", f.reason);
        assert_eq!(f.serial_tail.last().map(String::as_str), Some(M));
    }

    #[test]
    fn initramfs_shell_is_root_not_found() {
        let log = "Begin: Waiting for root file system ... done\n\
                   Gave up waiting for root file system device.\n\
                   ALERT!  UUID=6e1c does not exist.  Dropping to a shell!\n\
                   (initramfs) ";
        let s = scan(log, M);
        assert!(s.finished());
        let f = conclude(log, M, Ending::Concluded, 90_000, 240);
        assert_eq!(f.outcome, BootOutcome::Failed);
        assert_eq!(f.failure, Some(BootFailure::RootNotFound));
        assert!(f.reason.contains("Gave up waiting"), "{}", f.reason);
    }

    #[test]
    fn panic_after_vfs_error_is_root_not_found() {
        let log = "VFS: Cannot open root device \"vda1\" or unknown-block(0,0): error -6\n\
                   Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)";
        let f = conclude(log, M, Ending::Exited(Some(0)), 5_000, 240);
        assert_eq!(f.failure, Some(BootFailure::RootNotFound));
        let log = "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00007f00";
        let f = conclude(log, M, Ending::Exited(Some(0)), 5_000, 240);
        assert_eq!(f.failure, Some(BootFailure::KernelPanic));
    }

    #[test]
    fn boot_loader_errors() {
        for log in [
            "Booting from Hard Disk...\nBoot failed: not a bootable disk\n\nNo bootable device.",
            "error: no such device: 1234.\nEntering rescue mode...\ngrub rescue> ",
        ] {
            let f = conclude(log, M, Ending::Concluded, 3_000, 240);
            assert_eq!(f.failure, Some(BootFailure::BootLoader), "{log}");
        }
    }

    #[test]
    fn userspace_without_marker_is_no_agent() {
        let log = "[\u{1b}[0;32m  OK  \u{1b}[0m] Reached target multi-user.target\n\
                   Debian GNU/Linux 12 imgport-fixture ttyS0\n\nimgport-fixture login: ";
        assert!(scan(log, M).login_prompt);
        let f = conclude(log, M, Ending::TimedOut, 240_000, 240);
        assert_eq!(f.outcome, BootOutcome::NoAgent);
        assert!(
            f.serial_tail[0].starts_with("[  OK  ] Reached"),
            "{:?}",
            f.serial_tail
        );
    }

    #[test]
    fn silence_is_a_timeout_and_an_exit_says_so() {
        let f = conclude(
            "SeaBIOS (version 1.16)\n",
            M,
            Ending::TimedOut,
            240_000,
            240,
        );
        assert_eq!(
            (f.outcome, f.failure),
            (BootOutcome::Failed, Some(BootFailure::Timeout))
        );
        let f = conclude("", M, Ending::Exited(Some(1)), 1_000, 240);
        assert!(f.reason.contains("status 1"), "{}", f.reason);
    }

    #[test]
    fn emergency_mode_after_userspace_is_a_failure() {
        let log = "Welcome to Debian GNU/Linux 12!\nYou are in emergency mode. After logging in…";
        let f = conclude(log, M, Ending::Concluded, 30_000, 240);
        assert_eq!(f.failure, Some(BootFailure::EmergencyShell));
    }

    #[test]
    fn the_tail_is_bounded() {
        let log: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let t = tail(&log, TAIL_LINES);
        assert_eq!(t.len(), TAIL_LINES);
        assert_eq!(t[0], "line 440");
        let long = "x".repeat(10_000);
        assert_eq!(tail(&long, 1)[0].len(), MAX_LINE_CHARS);
    }
}
