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

/// The import form's own checks, which need no image: R-REGION (when both regions are
/// known) and the declared OsType / OsVersion / Architecture against the supported list.
/// The service can run these synchronously in `ImportImage` before queuing a job; `decide`
/// includes them. None of them is waived by `Force`.
pub fn check_form(form: &ImportForm) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(check_region(form));
    if let Some(t) = nonempty(&form.os_type) {
        match find_os(t) {
            None => out.push(error(
                Code::InvalidImageOsTypeUnsupported,
                RuleId::Os,
                format!("declared OsType '{}' is not in the supported list", clip(t)),
                vec![format!("import form: OsType={}", clip(t))],
                vec![format!(
                    "Declare one of the supported OsType values: {}",
                    all_os_names()
                )],
            )),
            Some(os) => {
                if let Some(v) = nonempty(&form.os_version) {
                    if !version_supported(os, v) {
                        out.push(error(
                            Code::InvalidImageOsVersionUnsupported,
                            RuleId::Os,
                            format!(
                                "declared OsVersion '{}' is not supported for {}",
                                clip(v),
                                os.name
                            ),
                            vec![format!(
                                "import form: OsType={}, OsVersion={}",
                                clip(t),
                                clip(v)
                            )],
                            vec![format!(
                                "Declare one of the {} versions DescribeImportImageOs lists: {}",
                                os.name,
                                os.versions.join(", ")
                            )],
                        ));
                    }
                }
            }
        }
    }
    if let Some(a) = nonempty(&form.architecture) {
        if normalize_arch(a).is_none() {
            out.push(error(
                Code::InvalidImageArchitectureUnsupported,
                RuleId::Arch,
                format!(
                    "declared Architecture '{}' is not supported: only x86_64 and i386",
                    clip(a)
                ),
                vec![format!("import form: Architecture={}", clip(a))],
                vec![format!(
                    "Declare the image's architecture: {}",
                    ARCHITECTURES.join(" or ")
                )],
            ));
        }
    }
    out
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
// R-REGION
// ---------------------------------------------------------------------------------------

fn check_region(form: &ImportForm) -> Option<Finding> {
    let (Some(region), Some(source)) = (nonempty(&form.region), nonempty(&form.source_region))
    else {
        return None;
    };
    if region.eq_ignore_ascii_case(source) {
        return None;
    }
    let (region, source) = (clip(region), clip(source));
    let evidence = vec![
        format!("import region: {region}"),
        format!("image URL's object storage region: {source}"),
    ];
    let message = if FINANCE_REGIONS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(&region))
    {
        format!(
            "the image URL is in {source}'s object storage, but the finance region {region} \
             cannot import from object storage of another region"
        )
    } else {
        format!(
            "the image URL is in {source}'s object storage, but the import service in {region} \
             reads only its own region's storage over the internal network"
        )
    };
    Some(error(
        Code::InvalidUrl,
        RuleId::Region,
        message,
        evidence,
        fixes::region(&region),
    ))
}

// ---------------------------------------------------------------------------------------
// R-FMT, R-SIZE-*
// ---------------------------------------------------------------------------------------

/// True when the format is accepted and readable.
fn check_format(cx: &mut Cx, f: &FormatFacts) -> bool {
    cx.check(RuleId::Format);
    let detected = nonempty(&f.detected_format);
    let accepted = detected.and_then(normalize_format);
    let mut evidence = Vec::new();
    if let Some(d) = detected {
        evidence.push(format!("detected format: {}", clip(d)));
    }
    if let Some(r) = nonempty(&f.refusal) {
        evidence.push(format!("disk core: {}", clip(r)));
        let fix = if accepted.is_some() {
            fixes::refused()
        } else {
            detected
                .and_then(fixes::not_a_disk)
                .unwrap_or_else(fixes::format)
        };
        cx.fail(
            Code::InvalidFormatSize,
            RuleId::Format,
            format!(
                "the image was refused: {} (R-FMT: only sound raw, qcow2, vhd and vmdk images \
                 are accepted)",
                clip(r)
            ),
            evidence,
            fix,
        );
        return false;
    }
    match (detected, accepted) {
        (None, _) => {
            cx.warn(
                RuleId::Format,
                "the image format was not determined; it must be raw, qcow2, vhd or vmdk".into(),
                evidence,
                vec!["Check it with `qemu-img info SRC | grep 'file format'`".into()],
            );
            false
        }
        (Some(d), None) => {
            cx.fail(
                Code::InvalidFormatSize,
                RuleId::Format,
                format!(
                    "image format '{}' is not accepted: only raw, qcow2, vhd and vmdk",
                    clip(d)
                ),
                evidence,
                fixes::format(),
            );
            false
        }
        (Some(_), Some(a)) if !f.supported => {
            let mut fix = fixes::refused();
            fix.truncate(1);
            fix.extend(fixes::format());
            cx.fail(
                Code::InvalidFormatSize,
                RuleId::Format,
                format!("this {a} image's variant or features cannot be read"),
                evidence,
                fix,
            );
            false
        }
        (Some(_), Some(_)) => true,
    }
}

fn check_sizes(cx: &mut Cx, f: &FormatFacts, format_ok: bool) {
    match f.virtual_size {
        Some(v) => {
            cx.check(RuleId::SizeVirtual);
            if v > MAX_VIRTUAL_BYTES {
                cx.fail(
                    Code::InvalidFormatSize,
                    RuleId::SizeVirtual,
                    format!(
                        "virtual size {} exceeds the {} limit",
                        size(v),
                        size(MAX_VIRTUAL_BYTES)
                    ),
                    vec![format!("virtual size: {}", size(v))],
                    fixes::virtual_size(),
                );
            }
        }
        None if format_ok => cx.warn(
            RuleId::SizeVirtual,
            "the virtual size is unknown; it must be at most 500 GiB".into(),
            vec![],
            vec!["Check it with `qemu-img info SRC | grep 'virtual size'`".into()],
        ),
        None => {}
    }

    let is_qcow2 = nonempty(&f.detected_format).and_then(normalize_format) == Some("qcow2");
    let actual = match (f.qcow2_required, f.file_size) {
        (Some(r), _) => Some((r, format!("size as qcow2 (measured): {}", size(r)))),
        (None, Some(fs)) if is_qcow2 => Some((
            fs,
            format!("qcow2 file size (not re-measured): {}", size(fs)),
        )),
        _ => None,
    };
    match actual {
        Some((a, ev)) => {
            cx.check(RuleId::SizeActual);
            if a > MAX_ACTUAL_BYTES && f.qcow2_required_counts_zeros {
                // Only an upper bound: not established, so a warning (the import
                // measures its stored copy, whose holes it sees).
                cx.warn(
                    RuleId::SizeActual,
                    format!(
                        "the size as qcow2 is at most {}, over the {} limit, but that counts \
                         every byte this {} image maps straight onto its file: its zero \
                         regions could not be seen (read over HTTP, which does not show a \
                         file's holes); the import may fail with InvalidFormatSize",
                        size(a),
                        size(MAX_ACTUAL_BYTES),
                        if is_qcow2 {
                            "metadata-preallocated qcow2"
                        } else {
                            nonempty(&f.detected_format)
                                .and_then(normalize_format)
                                .unwrap_or("raw")
                        }
                    ),
                    vec![
                        ev,
                        "guest bytes map straight onto the file; holes unknown".into(),
                    ],
                    vec![
                        "Check the local file instead (`imgport check FILE` sees its holes), \
                          or convert it, which skips zeros: `qemu-img convert -O qcow2 SRC \
                          image.qcow2`, and upload the qcow2"
                            .into(),
                    ],
                );
            } else if a > MAX_ACTUAL_BYTES {
                let mut evidence = vec![ev];
                if let Some(fs) = f.file_size {
                    evidence.push(format!("image file size: {}", size(fs)));
                }
                cx.fail(
                    Code::InvalidFormatSize,
                    RuleId::SizeActual,
                    format!(
                        "actual size as qcow2 {} exceeds the {} limit",
                        size(a),
                        size(MAX_ACTUAL_BYTES)
                    ),
                    evidence,
                    fixes::actual_size(),
                );
            }
        }
        None if format_ok => cx.warn(
            RuleId::SizeActual,
            "the size as qcow2 was not measured; it must be at most 50 GiB".into(),
            vec![],
            vec!["Measure it with `imgport measure -O qcow2 SRC` \
                  (or `qemu-img measure -O qcow2 SRC`, \"required size\")"
                .into()],
        ),
        None => {}
    }
}

// ---------------------------------------------------------------------------------------
// Guest: R-PART, R-ERR, R-OS, R-ARCH, R-VIRTIO, R-CLOUDINIT, R-KERNEL, R-NET, R-ACTIVATION
// ---------------------------------------------------------------------------------------

fn check_guest(cx: &mut Cx, g: &GuestFacts, format: &FormatFacts, form: &ImportForm) {
    let structural_fail = check_partitions(cx, g, format);
    let os =
        g.os.as_ref()
            .filter(|o| !o.os_type.trim().is_empty() || o.distro.is_some());
    if !structural_fail {
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

/// R-BOOT (issue 17): what the boot test saw. A root not found on the virtio disk is
/// `VirtioNotInstall`, nothing bootable is `PartitionNotPresent`, both with the serial
/// console's evidence and not waived by Force (the failure was observed, not predicted);
/// other failures, a missing cloud-init marker and a timeout are warnings (a loaded TCG
/// host can be slow); a boot or a test not run is information.
fn check_boot(cx: &mut Cx, g: &GuestFacts, family: Family, major: Option<&str>) {
    use crate::boot::{BootFailure, BootOutcome};
    let Some(b) = &g.boot else { return };
    cx.check(RuleId::Boot);
    let secs = b.elapsed_ms / 1000;
    let accel = b.accel.as_deref().unwrap_or("qemu");
    let mut evidence = vec![clip(&b.reason)];
    evidence.extend(
        b.serial_tail
            .iter()
            .rev()
            .take(MAX_EVIDENCE - 1)
            .rev()
            .map(|l| clip(l)),
    );
    match (b.outcome, b.failure) {
        (BootOutcome::Booted, _) => cx.info(
            RuleId::Boot,
            format!("boot test ({accel}): booted in {secs} s, cloud-init's final stage ran"),
            vec![],
        ),
        (BootOutcome::NotRun, _) => cx.info(
            RuleId::Boot,
            format!("boot test not run: {}", clip(&b.reason)),
            vec![],
        ),
        (BootOutcome::NoAgent, _) => cx.warn(
            RuleId::Boot,
            format!(
                "boot test ({accel}): the system came up but cloud-init's final stage did not \
                 run within {secs} s: the instance would get no network configuration, \
                 password or keys from the metadata service (R-BOOT, R-CLOUDINIT)"
            ),
            evidence,
            fixes::cloud_init(family),
        ),
        (BootOutcome::Failed, Some(BootFailure::RootNotFound)) => cx.fail(
            Code::VirtioNotInstall,
            RuleId::Boot,
            format!(
                "boot test ({accel}): the kernel booted but did not find its root filesystem \
                 on the virtio disk: the initramfs lacks the virtio drivers (or root= names \
                 another disk); an instance of this image cannot start (R-BOOT, R-VIRTIO)"
            ),
            evidence,
            fixes::virtio(
                family,
                &g.virtio_missing,
                major,
                g.initramfs_tool.as_deref(),
            ),
        ),
        (BootOutcome::Failed, Some(BootFailure::BootLoader)) => cx.fail(
            Code::PartitionNotPresent,
            RuleId::Boot,
            format!(
                "boot test ({accel}): the firmware or boot loader found nothing to boot: no \
                 boot loader in the MBR, or the boot partition it needs is not in the image \
                 (R-BOOT, R-PART)"
            ),
            evidence,
            vec![
                "Include the boot partition when making the image, and reinstall the boot \
                 loader (`grub-install /dev/sdX` or `grub2-install`, then `update-grub` / \
                 `grub2-mkconfig`)"
                    .into(),
            ],
        ),
        (BootOutcome::Failed, failure) => cx.warn(
            RuleId::Boot,
            format!(
                "boot test ({accel}): the boot did not reach a usable system ({}) after {secs} s",
                failure.map_or("failed", BootFailure::as_str)
            ),
            evidence,
            vec![
                "Read the serial console below; boot the image locally with \
                  `console=ttyS0` on the kernel command line to see the whole log"
                    .into(),
            ],
        ),
    }
}

/// R-PART. True when the disk has no usable partition information at all (no root check).
fn check_partitions(cx: &mut Cx, g: &GuestFacts, format: &FormatFacts) -> bool {
    cx.check(RuleId::Partitions);
    if g.all_zero {
        cx.fail(
            Code::PartitionNotPresent,
            RuleId::Partitions,
            "every byte of the disk is zero: no partition table and no filesystem; the image \
             is incomplete"
                .into(),
            vec!["all sectors read as zero".into()],
            fixes::no_partitions(),
        );
        return true;
    }
    if g.classification == Some(DiskRole::Truncated) {
        cx.fail(
            Code::PartitionNotPresent,
            RuleId::Partitions,
            "the image is incomplete: its partitions run past the end of the disk, so the \
             partition contents are missing"
                .into(),
            g.classification_evidence.clone(),
            fixes::truncated(),
        );
        return true;
    }
    let mut structural = false;
    match g.partition_table {
        Some(PartitionScheme::Mbr) => {}
        Some(PartitionScheme::Gpt) => {
            let mut evidence = vec![format!(
                "partition table: GPT{}",
                if g.hybrid_gpt {
                    " with a hybrid MBR"
                } else {
                    ""
                }
            )];
            if let Some(n) = g.partition_count {
                evidence.push(format!("partitions: {n}"));
            }
            cx.fail(
                Code::PartitionNotPresent,
                RuleId::Partitions,
                "the disk uses a GPT partition table; GPT is not supported, only MBR".into(),
                evidence,
                fixes::gpt(g.hybrid_gpt, format.virtual_size, g.partition_count),
            );
        }
        Some(PartitionScheme::None) => {
            if g.classification.is_some_and(DiskRole::is_mistaken_upload) {
                // Not a disk at all (an installer ISO, an archive, an encrypted
                // container): the root check names it (RootPartitionNotFound, R-ERR).
            } else if g.filesystems.is_empty() {
                cx.fail(
                    Code::PartitionNotPresent,
                    RuleId::Partitions,
                    "no partition table and no filesystem found: the image is incomplete; was \
                     the boot partition included?"
                        .into(),
                    vec!["partition table: none".into(), "filesystems: none".into()],
                    fixes::no_partitions(),
                );
                structural = true;
            } else if g.classification == Some(DiskRole::Os) {
                // A system in a bare filesystem is a partition image, not a disk image:
                // no partition table and no boot sector to start it from — the seed's
                // "the image is incomplete; was the boot partition included?" (R-PART).
                cx.fail(
                    Code::PartitionNotPresent,
                    RuleId::Partitions,
                    format!(
                        "no partition table: the system's root filesystem ({}) spans the whole \
                         disk, so this is an image of one partition, not of the disk; there \
                         is no partition table or boot sector to start it from",
                        list(&g.filesystems)
                    ),
                    vec![
                        "partition table: none".into(),
                        format!("filesystem on the whole disk: {}", list(&g.filesystems)),
                    ],
                    fixes::no_partitions(),
                );
            } else {
                // No OS either: the root check names what the disk is (data disk …).
                cx.warn(
                    RuleId::Partitions,
                    format!(
                        "no partition table: a filesystem ({}) spans the whole disk, so there \
                         is no boot sector; the import expects an MBR-partitioned system disk",
                        list(&g.filesystems)
                    ),
                    vec!["partition table: none".into()],
                    fixes::no_partitions(),
                );
            }
        }
        None => cx.warn(
            RuleId::Partitions,
            "the partition table was not read; it must be MBR".into(),
            vec![],
            vec!["Check it with `fdisk -l` on a raw copy of the image".into()],
        ),
    }
    if g.dynamic_disk {
        cx.fail(
            Code::RootPartitionNotFound,
            RuleId::Partitions,
            "the disk is a Windows dynamic disk (LDM): only basic MBR disks are supported, no \
             logical volume management"
                .into(),
            vec!["LDM (dynamic disk) metadata found".into()],
            fixes::no_root(NoRoot::WindowsIn(RootContainer::DynamicDisk)),
        );
        structural = true;
    }
    structural
}

/// R-ERR (RootPartitionNotFound) and Windows-on-NTFS (R-PART).
fn check_root(cx: &mut Cx, g: &GuestFacts, os: Option<&OsFacts>) {
    cx.check(RuleId::RootPartition);
    let evidence = || g.classification_evidence.clone();
    if let Some(role) = g.classification {
        if let Some(what) = role.without_root() {
            cx.fail(
                Code::RootPartitionNotFound,
                RuleId::RootPartition,
                format!("no root partition found: the image is {what}"),
                evidence(),
                fixes::no_root(NoRoot::Disk(role)),
            );
            return;
        }
        if role != DiskRole::Os && os.is_none() {
            cx.warn(
                RuleId::RootPartition,
                format!(
                    "could not establish whether the image has a root partition ({role}); the \
                     import may fail with RootPartitionNotFound"
                ),
                evidence(),
                fixes::no_root(NoRoot::Unknown),
            );
            return;
        }
    }
    let Some(os) = os else {
        cx.warn(
            RuleId::RootPartition,
            "no operating system was identified on any filesystem; the import may fail with \
             RootPartitionNotFound"
                .into(),
            evidence(),
            fixes::no_root(NoRoot::Unknown),
        );
        return;
    };
    if is_windows(os) {
        check_windows_container(cx, g);
        if let Some(fs) = nonempty(&g.root_fs) {
            if !fs.eq_ignore_ascii_case("ntfs") {
                cx.fail(
                    Code::RootPartitionNotFound,
                    RuleId::Partitions,
                    format!(
                        "Windows is installed on {}, not NTFS: only NTFS is supported",
                        clip(fs)
                    ),
                    vec![format!("Windows root filesystem: {}", clip(fs))],
                    fixes::no_root(NoRoot::WindowsNotNtfs),
                );
            }
        }
    }
}

/// R-PART, Windows: the system volume (C:, `Windows/System32/config`) must be an NTFS
/// partition of a basic MBR disk — not in LVM, software RAID, Storage Spaces or a
/// dynamic disk, which Windows cannot start from on the instance's single virtio disk.
fn check_windows_container(cx: &mut Cx, g: &GuestFacts) {
    let Some(kind) = g.root_container else {
        return;
    };
    // The dynamic disk itself is R-PART's structural finding already.
    if kind == RootContainer::DynamicDisk && g.dynamic_disk {
        return;
    }
    let what = match kind {
        RootContainer::Lvm => "an LVM logical volume",
        RootContainer::MdRaid => "a Linux md software RAID array",
        RootContainer::StorageSpaces => "a Storage Spaces pool",
        RootContainer::DynamicDisk => "a dynamic disk (LDM) volume",
    };
    let mut evidence = g.root_container_evidence.clone();
    if evidence.is_empty() {
        evidence.push(format!("root volume container: {kind}"));
    }
    cx.fail(
        Code::RootPartitionNotFound,
        RuleId::Partitions,
        format!(
            "Windows is installed in {what}, not on a partition: the system volume must be an \
             NTFS partition of a basic MBR disk — no LVM, dynamic disks, Storage Spaces or \
             software RAID"
        ),
        evidence,
        fixes::no_root(NoRoot::WindowsIn(kind)),
    );
}

/// R-OS. Returns the supported family the detected OS belongs to.
fn check_os(cx: &mut Cx, os: &OsFacts, form: &ImportForm) -> Option<&'static SupportedOs> {
    cx.check(RuleId::Os);
    let shown = os
        .product_name
        .as_deref()
        .or(os.distro.as_deref())
        .map(clip)
        .unwrap_or_else(|| os.os_type.clone());
    let mut evidence = Vec::new();
    if let Some(d) = &os.distro {
        evidence.push(format!("os-release ID: {}", clip(d)));
    }
    if !os.id_like.is_empty() {
        evidence.push(format!("os-release ID_LIKE: {}", list(&os.id_like)));
    }
    if let Some(v) = &os.version {
        evidence.push(format!("version: {}", clip(v)));
    }
    if let Some(p) = &os.product_name {
        evidence.push(format!("product: {}", clip(p)));
    }
    let supported_fix = || {
        vec![format!(
            "Import an image of a supported system: {}",
            all_os_names()
        )]
    };

    let detected = if is_windows(os) {
        match nonempty(&os.product_name) {
            Some(p) => {
                let f = windows_family(p);
                if f.is_none() {
                    cx.fail(
                        Code::InvalidImageOsTypeUnsupported,
                        RuleId::Os,
                        format!(
                            "the image contains {}, which is not {}",
                            clip(p),
                            os_names(OsType::Windows)
                        ),
                        evidence.clone(),
                        supported_fix(),
                    );
                }
                f
            }
            None => {
                cx.warn(
                    RuleId::Os,
                    format!(
                        "a Windows installation was found but its edition was not identified; \
                         it must be {}",
                        os_names(OsType::Windows)
                    ),
                    evidence.clone(),
                    vec![WINDOWS_PRODUCT_CHECK.into()],
                );
                None
            }
        }
    } else if is_linux(os) {
        if nonempty(&os.distro).is_none() && os.id_like.is_empty() {
            cx.warn(
                RuleId::Os,
                format!(
                    "a Linux root was found but its distribution was not identified (no \
                     /etc/os-release or release file); it must be based on {}",
                    os_names(OsType::Linux)
                ),
                evidence.clone(),
                vec![OS_RELEASE_FIX.into()],
            );
            None
        } else {
            let f = linux_family(os.distro.as_deref(), &os.id_like);
            match f {
                None => cx.fail(
                    Code::InvalidImageOsTypeUnsupported,
                    RuleId::Os,
                    format!(
                        "the image contains {shown}, which is not based on {}",
                        os_names(OsType::Linux)
                    ),
                    evidence.clone(),
                    supported_fix(),
                ),
                Some(f) => {
                    if let Some(v) = nonempty(&os.version) {
                        if !version_supported(f, v) {
                            cx.warn(
                                RuleId::Os,
                                format!(
                                    "{} {} is not among the {} versions the import lists ({}); \
                                     the import form accepts only those",
                                    f.name,
                                    clip(v),
                                    f.name,
                                    f.versions.join(", ")
                                ),
                                evidence.clone(),
                                vec![DESCRIBE_FIX.into()],
                            );
                        }
                    }
                }
            }
            f
        }
    } else {
        cx.warn(
            RuleId::Os,
            format!(
                "the operating system type '{}' was not recognised; only Linux and Windows \
                 are supported",
                clip(&os.os_type)
            ),
            evidence.clone(),
            vec![OS_RELEASE_FIX.into()],
        );
        None
    };

    // Declared vs detected.
    if let (Some(t), Some(d)) = (nonempty(&form.os_type), declared(form)) {
        let detected_type = if is_windows(os) {
            Some(OsType::Windows)
        } else if is_linux(os) {
            Some(OsType::Linux)
        } else {
            None
        };
        let type_differs = detected_type.is_some_and(|dt| dt != d.os_type);
        let family_differs = detected.is_some_and(|f| f.name != d.name);
        if type_differs || family_differs {
            cx.warn(
                RuleId::Os,
                format!(
                    "declared OsType '{}' but the image contains {}{}",
                    clip(t),
                    shown,
                    detected
                        .map(|f| format!(" ({})", f.name))
                        .unwrap_or_default()
                ),
                evidence.clone(),
                vec!["Declare the OsType and OsVersion of the system the image contains".into()],
            );
        } else if let (Some(f), Some(dv), Some(v)) =
            (detected, nonempty(&form.os_version), nonempty(&os.version))
        {
            if f.os_type == OsType::Linux
                && !major_version(dv).is_empty()
                && major_version(dv) != major_version(v)
            {
                cx.warn(
                    RuleId::Os,
                    format!(
                        "declared OsVersion '{}' but the image contains {} {}",
                        clip(dv),
                        f.name,
                        clip(v)
                    ),
                    evidence,
                    vec!["Declare the OsVersion of the system the image contains".into()],
                );
            }
        }
    }
    detected
}

/// R-ARCH: the detected architecture (declared one is checked by [`check_form`]).
fn check_arch(cx: &mut Cx, os: &OsFacts, form: &ImportForm) {
    cx.check(RuleId::Arch);
    let declared = nonempty(&form.architecture);
    match nonempty(&os.arch) {
        Some(a) => match normalize_arch(a) {
            None => cx.fail(
                Code::InvalidImageArchitectureUnsupported,
                RuleId::Arch,
                format!(
                    "the image's binaries are {}: only 32-bit and 64-bit x86 (i386, x86_64) are \
                     supported",
                    clip(a)
                ),
                vec![format!(
                    "architecture from ELF headers/registry: {}",
                    clip(a)
                )],
                vec!["Import an x86 (i386 or x86_64) system".into()],
            ),
            Some(n) => {
                if let Some(d) = declared {
                    if normalize_arch(d).is_some_and(|dn| dn != n) {
                        cx.warn(
                            RuleId::Arch,
                            format!(
                                "declared Architecture '{}' but the image's binaries are {}",
                                clip(d),
                                clip(a)
                            ),
                            vec![
                                format!("import form: Architecture={}", clip(d)),
                                format!("detected: {}", clip(a)),
                            ],
                            vec![format!("Declare Architecture={n}")],
                        );
                    }
                }
            }
        },
        None => cx.warn(
            RuleId::Arch,
            match declared {
                Some(d) => format!(
                    "the image's architecture was not detected, so the declared '{}' could \
                     not be confirmed",
                    clip(d)
                ),
                None => {
                    "the image's architecture was not detected; it must be i386 or x86_64".into()
                }
            },
            vec![],
            vec![ARCH_CHECK.into()],
        ),
    }
}

/// R-VIRTIO.
fn check_virtio(cx: &mut Cx, g: &GuestFacts, family: Family, windows: bool, major: Option<&str>) {
    cx.check(RuleId::Virtio);
    match g.virtio {
        Some(true) => {}
        Some(false) => {
            let missing = if g.virtio_missing.is_empty() {
                String::new()
            } else {
                format!(" (missing: {})", list(&g.virtio_missing))
            };
            let message = if windows {
                format!(
                    "the KVM virtio drivers are not installed{missing}; Windows does not ship \
                     them"
                )
            } else {
                format!(
                    "the KVM virtio drivers are not available at boot in the kernel or \
                     initramfs{missing}"
                )
            };
            cx.fail(
                Code::VirtioNotInstall,
                RuleId::Virtio,
                message,
                g.virtio_evidence.clone(),
                fixes::virtio(
                    family,
                    &g.virtio_missing,
                    major,
                    g.initramfs_tool.as_deref(),
                ),
            );
        }
        None => cx.warn(
            RuleId::Virtio,
            "whether the virtio drivers are available at boot could not be established".into(),
            g.virtio_evidence.clone(),
            if windows {
                vec![
                    "Check in the running Windows that the viostor and netkvm services exist"
                        .into(),
                ]
            } else {
                vec![fixes::VIRTIO_CHECK.into()]
            },
        ),
    }
}

/// R-VIRTIO, Linux: mounts by a non-virtio disk name (`/dev/sda5`) do not resolve on
/// the instance's virtio disk (`/dev/vda`): boot waits for them, then stops in
/// emergency mode. A warning: the rule is about the drivers.
fn check_device_names(cx: &mut Cx, g: &GuestFacts) {
    if g.device_name_mounts.is_empty() {
        return;
    }
    cx.warn(
        RuleId::Virtio,
        "filesystems are mounted by disk device name (/dev/sd*, /dev/hd*, /dev/xvd*, \
         /dev/nvme*); on the instance the disk is a virtio disk, /dev/vda, so those names do \
         not exist and the boot may stop"
            .into(),
        g.device_name_mounts.clone(),
        vec![
            "Mount by UUID or LABEL in /etc/fstab (see `blkid` for the values), e.g. \
             `UUID=… / ext4 defaults 0 1` instead of `/dev/sda1 / ext4 defaults 0 1`"
                .into(),
            "Use root=UUID=… on the kernel command line (GRUB_DISABLE_LINUX_UUID unset, then \
             `update-grub` or `grub2-mkconfig -o /boot/grub2/grub.cfg`)"
                .into(),
        ],
    );
}

/// R-CLOUDINIT.
fn check_cloud_init(cx: &mut Cx, g: &GuestFacts, family: Family, windows: bool) {
    cx.check(RuleId::CloudInit);
    let agent = if windows {
        "cloudbase-init"
    } else {
        "cloud-init"
    };
    match g.cloud_init {
        Some(true) => {}
        Some(false) => cx.fail(
            Code::CloudInitNotInstalled,
            RuleId::CloudInit,
            format!(
                "{agent} is not installed, so the instance cannot be initialised at first \
                 boot"
            ),
            g.cloud_init_evidence.clone(),
            fixes::cloud_init(family),
        ),
        None => cx.warn(
            RuleId::CloudInit,
            format!("whether {agent} is installed could not be established"),
            g.cloud_init_evidence.clone(),
            cloud_init_check(windows),
        ),
    }
}

/// R-KERNEL: no kernel at all is `VirtioNotInstall` (the virtio drivers ship with the
/// kernel), which Force does not waive (`RULES`: R-KERNEL's `force_waives` is false); a
/// modified kernel is a warning.
fn check_kernel(cx: &mut Cx, g: &GuestFacts, family: Family) {
    cx.check(RuleId::Kernel);
    if g.kernel_count == Some(0) {
        let mut evidence =
            vec!["kernels found: none (no /boot/vmlinuz-*, no /lib/modules/*)".into()];
        evidence.extend(g.virtio_evidence.iter().cloned());
        cx.fail(
            Code::VirtioNotInstall,
            RuleId::Kernel,
            "no Linux kernel was found in the image (/boot/vmlinuz-*, /lib/modules/*): an \
             instance cannot boot from it, and the virtio drivers, which ship with the kernel, \
             are missing too; was a container or chroot tree imaged? Force does not waive \
             this"
                .into(),
            evidence,
            fixes::no_kernel(family, g.os.as_ref().and_then(|o| o.arch.as_deref())),
        );
    }
    if !g.kernel_hints.is_empty() {
        cx.warn(
            RuleId::Kernel,
            "the kernel looks modified (not the distribution's stock kernel); the import may \
             fail"
                .into(),
            g.kernel_hints.clone(),
            fixes::kernel(family, g.os.as_ref().and_then(|o| o.arch.as_deref())),
        );
    }
}

/// R-NET (warnings only).
fn check_net(cx: &mut Cx, g: &GuestFacts, family: Family, windows: bool) {
    cx.check(RuleId::Net);
    let nics: Vec<_> = g
        .nics
        .iter()
        .filter(|n| !n.name.trim().eq_ignore_ascii_case("lo"))
        .collect();
    let where_ = |n: &crate::facts::NicFacts| match &n.source {
        Some(s) => format!("{} ({})", clip(&n.name), clip(s)),
        None => clip(&n.name),
    };
    let fix = || fixes::network(family);
    if nics.len() > 1 {
        cx.warn(
            RuleId::Net,
            format!(
                "{} network interfaces are configured; the instance gets one NIC, {}",
                nics.len(),
                if windows {
                    "Local Area Connection"
                } else {
                    "eth0"
                }
            ),
            nics.iter().map(|n| where_(n)).collect(),
            fix(),
        );
    }
    let statics: Vec<String> = nics
        .iter()
        .filter(|n| n.static_ip)
        .map(|n| where_(n))
        .collect();
    if !statics.is_empty() {
        cx.warn(
            RuleId::Net,
            "a static IP address is configured; the instance's network configuration comes \
             from DHCP and the metadata service"
                .into(),
            statics,
            fix(),
        );
    }
    if !windows && !g.nic_renames.is_empty() {
        cx.warn(
            RuleId::Net,
            "a rule names network interfaces by MAC address (or gives one a name other than \
             eth0): the instance's NIC has a new MAC address, so it would not come up as eth0 \
             and its configuration would not apply"
                .into(),
            g.nic_renames.clone(),
            vec!["Remove the MAC-bound naming before exporting: delete \
                 /etc/udev/rules.d/70-persistent-net.rules, systemd .link files matching a \
                 MACAddress=, and netplan `match: {macaddress: …}` + `set-name:` entries"
                .into()],
        );
    }
    if !windows {
        let renamed: Vec<String> = nics
            .iter()
            .filter(|n| n.name.trim() != "eth0")
            .map(|n| where_(n))
            .collect();
        if !renamed.is_empty() {
            cx.warn(
                RuleId::Net,
                "a network interface other than eth0 is configured; the instance's NIC is eth0"
                    .into(),
                renamed,
                fix(),
            );
        }
    }
}

const WINDOWS_PRODUCT_CHECK: &str = "Check the edition in the guest: `reg query \
     \"HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\" /v ProductName`";
const OS_RELEASE_FIX: &str = "Make sure the image's root filesystem has /etc/os-release (or \
     the distribution's release file) and declare OsType/OsVersion accordingly";
const DESCRIBE_FIX: &str = "See the supported list with DescribeImportImageOs \
     (`tccli cvm DescribeImportImageOs`); a release outside it may still import but is not \
     supported";
const ARCH_CHECK: &str = "Check it in the guest: `uname -m` or `file -L /bin/sh`";

fn cloud_init_check(windows: bool) -> Vec<String> {
    if windows {
        vec![
            "Check in the guest that the cloudbase-init service exists: \
              `sc query cloudbase-init`"
                .into(),
        ]
    } else {
        vec![
            "Check in the guest: `cloud-init --version`, or `rpm -q cloud-init` / \
              `dpkg -s cloud-init`"
                .into(),
        ]
    }
}

/// R-ACTIVATION (information).
fn activation(cx: &mut Cx) {
    if cx.checked.contains(&RuleId::Activation) {
        return;
    }
    cx.info(
        RuleId::Activation,
        "imported Windows images get no Windows activation service; activate with your own \
         licence"
            .into(),
        vec!["Activate Windows with your own key/KMS after creating the instance".into()],
    );
}

// ---------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------

fn declared(form: &ImportForm) -> Option<&'static SupportedOs> {
    nonempty(&form.os_type).and_then(find_os)
}

pub(crate) fn is_windows(os: &OsFacts) -> bool {
    os.os_type.trim().eq_ignore_ascii_case("windows")
}

pub(crate) fn is_linux(os: &OsFacts) -> bool {
    os.os_type.trim().eq_ignore_ascii_case("linux")
        || (os.os_type.trim().is_empty() && os.distro.is_some())
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
