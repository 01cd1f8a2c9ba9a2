//! `decide()`: facts + import form → [`Verdict`]. Pure: no I/O, total over its input.
//!
//! The checks run in the import pipeline's order (URL, format, size, partitions, root, OS,
//! architecture, virtio, cloud-init, then the warning-only rules) and report every problem
//! at once. A fact that could not be established gives a warning, never an error code
//! (see [`crate::rules::RULES`]' `when_unknown`).

use crate::facts::{
    DiskRole, FormatFacts, GuestFacts, ImportForm, OsFacts, PartitionScheme, RootContainer,
};
use crate::fixes::{self, Family, NoRoot};
use crate::rules::{self, *};
use crate::verdict::{Code, Finding, Severity, Verdict};

mod boot;
mod disk;
mod drivers;
mod form;
mod format;
mod net;
mod os;

use boot::*;
use disk::*;
use drivers::*;
pub use form::check_form;
use format::*;
use net::*;
use os::*;

/// Most evidence lines kept per finding (the rest are counted).
pub const MAX_EVIDENCE: usize = 32;
/// Longest evidence line kept, in bytes (longer ones are cut).
pub const MAX_TEXT: usize = 512;
/// Longest value from the facts or form quoted in a message, in bytes.
pub const MAX_VALUE: usize = 160;

/// Decides whether the image described by `format` and `guest` can be imported with `form`.
/// `guest` is `None` when the guest was not (or could not be) inspected.
pub fn decide(format: &FormatFacts, guest: Option<&GuestFacts>, form: &ImportForm) -> Verdict {
    let mut cx = Cx::new(form.force);
    if nonempty(&form.region).is_some() && nonempty(&form.source_region).is_some() {
        cx.check(RuleId::Region);
    }
    // Region and form errors come first in the list; `Verdict` sorts by code anyway.
    cx.findings.extend(check_form(form));
    let format_ok = check_format(&mut cx, format);
    check_sizes(&mut cx, format, format_ok);
    if nonempty(&form.os_type).is_some() {
        cx.check(RuleId::Os);
    }
    if nonempty(&form.architecture).is_some() {
        cx.check(RuleId::Arch);
    }
    match guest {
        None => {
            let (sev, why) = if format_ok {
                (Severity::Warning, "the guest was not inspected")
            } else {
                (Severity::Info, "the image could not be read")
            };
            cx.push(finding(
                sev,
                None,
                RuleId::Partitions,
                format!("{why}: partition, root, OS, virtio and cloud-init checks were not run"),
                vec![],
                vec!["Run `imgport check` on the image file to inspect the guest".into()],
            ));
        }
        Some(g) => check_guest(&mut cx, g, format, form),
    }
    cx.finish()
}

/// Collects findings and the rules that were checked.
struct Cx {
    force: bool,
    findings: Vec<Finding>,
    checked: Vec<RuleId>,
}

impl Cx {
    fn new(force: bool) -> Self {
        Cx {
            force,
            findings: Vec::new(),
            checked: Vec::new(),
        }
    }

    fn check(&mut self, rule: RuleId) {
        if !self.checked.contains(&rule) {
            self.checked.push(rule);
        }
    }

    fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// An error, or with `Force` on a waivable rule, a waived warning.
    fn fail(
        &mut self,
        code: Code,
        rule: RuleId,
        message: String,
        evidence: Vec<String>,
        fix: Vec<String>,
    ) {
        self.check(rule);
        let mut f = error(code, rule, message, evidence, fix);
        if self.force && rule.force_waives() {
            f.severity = Severity::Warning;
            f.waived = true;
            f.message = format!("waived by Force: {}", f.message);
        }
        self.push(f);
    }

    fn warn(&mut self, rule: RuleId, message: String, evidence: Vec<String>, fix: Vec<String>) {
        self.check(rule);
        self.push(finding(
            Severity::Warning,
            None,
            rule,
            message,
            evidence,
            fix,
        ));
    }

    fn info(&mut self, rule: RuleId, message: String, fix: Vec<String>) {
        self.check(rule);
        self.push(finding(Severity::Info, None, rule, message, vec![], fix));
    }

    fn finish(self) -> Verdict {
        let bad = |id: RuleId| {
            self.findings
                .iter()
                .any(|f| f.rule == id && f.severity != Severity::Info)
        };
        let passed = RULES
            .iter()
            .map(|r| r.id)
            .filter(|id| self.checked.contains(id) && !bad(*id))
            .collect();
        Verdict::from_findings(self.findings, passed)
    }
}

fn error(
    code: Code,
    rule: RuleId,
    message: String,
    evidence: Vec<String>,
    fix: Vec<String>,
) -> Finding {
    finding(Severity::Error, Some(code), rule, message, evidence, fix)
}

/// The one place a finding is made: its evidence capped, its code checked against the
/// rule table (a code its rule does not list is a bug here), and its message tagged.
fn finding(
    severity: Severity,
    code: Option<Code>,
    rule: RuleId,
    message: String,
    evidence: Vec<String>,
    fix: Vec<String>,
) -> Finding {
    if let Some(code) = code {
        assert!(
            rule.rule().codes.contains(&code),
            "{rule} yields {code:?}, which RULES does not list for it"
        );
    }
    // The rule's tag ends the message, unless the message cites the rule already, with
    // more: "… (R-BOOT, R-VIRTIO)", "… (R-PART: no software RAID …)".
    let message = if message.contains(rule.as_str()) {
        message
    } else {
        format!("{message} ({rule})")
    };
    Finding {
        severity,
        code,
        rule,
        message,
        evidence: cap(evidence),
        fix,
        waived: false,
    }
}

// ---------------------------------------------------------------------------------------
// Guest: R-PART, R-ERR, R-OS, R-ARCH, R-VIRTIO, R-CLOUDINIT, R-KERNEL, R-NET, R-ACTIVATION
// ---------------------------------------------------------------------------------------

fn check_guest(cx: &mut Cx, g: &GuestFacts, format: &FormatFacts, form: &ImportForm) {
    check_partitions(cx, g, format);
    let os =
        g.os.as_ref()
            .filter(|o| o.os_type.is_some() || o.distro.is_some());
    if !nothing_to_search(g) {
        check_root(cx, g, os);
    }
    let Some(os) = os else {
        // Without an OS nothing below can be checked; R-ERR already says why.
        if declared(form).is_some_and(|d| d.os_type == OsType::Windows) {
            activation(cx);
        }
        check_boot(cx, g, Family::Unknown, None);
        return;
    };
    let detected = check_os(cx, os, form);
    check_arch(cx, os, form);
    let family = detected
        .or_else(|| declared(form))
        .map(|o| Family::of_os_name(o.name))
        .unwrap_or(if is_windows(os) {
            Family::Windows
        } else {
            Family::Unknown
        });
    let windows = family == Family::Windows || is_windows(os);
    let major = os.version.as_deref().map(major_version);
    // Linux without any kernel: R-KERNEL's error says why nothing (virtio included)
    // can be available at boot; R-VIRTIO has nothing to judge.
    let no_kernel = !windows && g.kernel_count == Some(0);
    if !no_kernel {
        check_virtio(cx, g, family, windows, major);
    }
    if !windows {
        check_device_names(cx, g);
    }
    check_cloud_init(cx, g, family, windows);
    if !windows {
        check_kernel(cx, g, family);
    }
    check_net(cx, g, family, windows);
    if windows || declared(form).is_some_and(|d| d.os_type == OsType::Windows) {
        activation(cx);
    }
    check_boot(cx, g, family, major);
}

// ---------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------

fn declared(form: &ImportForm) -> Option<&'static SupportedOs> {
    nonempty(&form.os_type).and_then(find_os)
}

pub(crate) fn is_windows(os: &OsFacts) -> bool {
    os.os_type == Some(OsType::Windows)
}

/// Linux, or a type not told but a distribution found.
pub(crate) fn is_linux(os: &OsFacts) -> bool {
    os.os_type == Some(OsType::Linux) || (os.os_type.is_none() && os.distro.is_some())
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The supported systems of one type, from [`rules::SUPPORTED_OS`], as a message lists
/// them: "CentOS, CoreOS, …, SUSE or Ubuntu"; "Windows Server 2008, 2012 or 2016".
fn os_names(os_type: OsType) -> String {
    const WINDOWS: &str = "Windows Server ";
    let names: Vec<&str> = rules::SUPPORTED_OS
        .iter()
        .filter(|o| o.os_type == os_type)
        .map(|o| o.name)
        .collect();
    let (prefix, names): (&str, Vec<&str>) = if names.iter().all(|n| n.starts_with(WINDOWS)) {
        (WINDOWS, names.iter().map(|n| &n[WINDOWS.len()..]).collect())
    } else {
        ("", names)
    };
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{prefix}{} or {last}", rest.join(", ")),
        _ => format!("{prefix}{}", names.join("")),
    }
}

fn all_os_names() -> String {
    rules::SUPPORTED_OS
        .iter()
        .map(|o| o.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value cut to [`MAX_VALUE`] bytes.
fn clip(s: &str) -> String {
    crate::text::clip(s, MAX_VALUE)
}

/// At most [`MAX_EVIDENCE`] lines, each clipped.
fn cap(v: Vec<String>) -> Vec<String> {
    let n = v.len();
    let mut out: Vec<String> = v
        .iter()
        .take(MAX_EVIDENCE)
        .map(|s| crate::text::clip(s, MAX_TEXT))
        .collect();
    if n > MAX_EVIDENCE {
        out.push(format!("… {} more", n - MAX_EVIDENCE));
    }
    out
}

/// A comma-separated, capped list of values.
fn list(v: &[String]) -> String {
    let mut s = v
        .iter()
        .take(8)
        .map(|x| clip(x))
        .collect::<Vec<_>>()
        .join(", ");
    if v.len() > 8 {
        s.push_str(&format!(", … {} more", v.len() - 8));
    }
    crate::text::clip(&s, 2 * MAX_VALUE)
}

/// Bytes with their GiB value, as `qemu-img info` would show it.
fn size(bytes: u64) -> String {
    format!("{bytes} bytes ({:.1} GiB)", bytes as f64 / GIB as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_respects_char_boundaries() {
        let s = "é".repeat(MAX_TEXT);
        let c = clip(&s);
        assert!(c.len() <= MAX_VALUE + "…".len());
        assert!(c.ends_with('…'));
    }

    #[test]
    fn cap_counts_the_rest() {
        let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let c = cap(v);
        assert_eq!(c.len(), MAX_EVIDENCE + 1);
        assert_eq!(c.last().unwrap(), "… 68 more");
    }

    #[test]
    fn size_shows_gib() {
        assert_eq!(size(GIB), "1073741824 bytes (1.0 GiB)");
    }

    #[test]
    fn os_names_come_from_the_supported_list() {
        assert_eq!(
            os_names(OsType::Windows),
            "Windows Server 2008, 2012 or 2016"
        );
        assert_eq!(
            os_names(OsType::Linux),
            "CentOS, CoreOS, Debian, OpenSUSE, SUSE or Ubuntu"
        );
    }

    #[test]
    fn a_finding_gets_its_rule_tag_once() {
        let f = finding(
            Severity::Warning,
            None,
            RuleId::Net,
            "two NICs".into(),
            vec![],
            vec![],
        );
        assert_eq!(f.message, "two NICs (R-NET)");
        let f = finding(
            Severity::Warning,
            None,
            RuleId::Boot,
            "no marker (R-BOOT, R-CLOUDINIT)".into(),
            vec![],
            vec![],
        );
        assert_eq!(f.message, "no marker (R-BOOT, R-CLOUDINIT)");
    }

    #[test]
    #[should_panic(expected = "which RULES does not list")]
    fn a_code_outside_its_rule_is_refused() {
        error(
            Code::CloudInitNotInstalled,
            RuleId::Net,
            "x".into(),
            vec![],
            vec![],
        );
    }
}
