//! The message centre (R-FLOW-ASYNC): what an import's end tells the account's
//! subscribed users — an in-site message whose title and body name the image, and on
//! failure the error code, its cause (the rule's finding and evidence) and the fix —
//! and the webhook deliveries of those messages ([`webhook`]).
//!
//! Messages are written in the same transaction that ends the job
//! (`Db::finish_job`), so each finished import has its messages exactly once.

pub mod webhook;

use crate::db::images::Image;
pub use crate::db::messages::Notice;
use imgport_policy::{BootFacts, BootOutcome, Code, Finding, Severity};

/// Most findings quoted in a message body (the rest are in DescribeImages).
const MAX_FINDINGS_IN_BODY: usize = 5;
/// Longest evidence / fix line quoted.
const MAX_LINE: usize = 400;
/// Serial console lines quoted from a boot test that did not boot (DescribeImages'
/// `BootTest.SerialTail` holds the last 60).
const SERIAL_LINES_IN_BODY: usize = 10;

fn clip(s: &str) -> String {
    imgport_policy::text::clip(s, MAX_LINE)
}

/// The image's source, without the signature of a presigned URL.
fn source(img: &Image) -> String {
    match url::Url::parse(&img.source_url) {
        Ok(mut u) => {
            u.set_query(None);
            u.to_string()
        }
        Err(_) => clip(&img.source_url),
    }
}

/// The boot test's paragraph (R-BOOT, issue 17): its outcome, time and what was seen,
/// and for a boot that did not reach cloud-init the last serial console lines.
fn boot_paragraph(boot: Option<&BootFacts>) -> String {
    let Some(b) = boot else {
        return String::new();
    };
    let accel = b.accel.as_deref().unwrap_or("-");
    let mut p = match b.outcome {
        BootOutcome::NotRun => format!("\n\nBoot test (R-BOOT): not run: {}", clip(&b.reason)),
        o => format!(
            "\n\nBoot test (R-BOOT): {} after {} s under QEMU ({accel}): {}",
            o.as_str(),
            b.elapsed_ms.div_ceil(1000),
            clip(&b.reason)
        ),
    };
    if matches!(b.outcome, BootOutcome::Failed | BootOutcome::NoAgent) {
        let from = b.serial_tail.len().saturating_sub(SERIAL_LINES_IN_BODY);
        p.push_str(&format!(
            "\n  Serial console (last {} lines; DescribeImages' BootTest has {}):",
            b.serial_tail.len() - from,
            b.serial_tail.len()
        ));
        for l in &b.serial_tail[from..] {
            p.push_str(&format!("\n  | {}", clip(l)));
        }
    }
    p
}

/// The notice of a successful import. `findings` are the verdict's (warnings, info);
/// `boot` the boot test's result, when the import ran one.
pub fn success(
    img: &Image,
    virtual_size: u64,
    findings: &[Finding],
    boot: Option<&BootFacts>,
) -> Notice {
    let gb = virtual_size.div_ceil(1 << 30).max(1);
    let mut body = format!(
        "Your custom image \"{}\" ({}) was imported from {} and is ready to use (state NORMAL): {} {} {}, {} GB.",
        img.name,
        img.image_id,
        source(img),
        img.os_type,
        img.os_version,
        img.architecture,
        gb
    );
    let warnings: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .collect();
    if !warnings.is_empty() {
        body.push_str(&format!(
            "\n\nWarnings ({}) — the import succeeded, but check these before creating instances:",
            warnings.len()
        ));
        for f in warnings.iter().take(MAX_FINDINGS_IN_BODY) {
            body.push_str(&format!("\n- [{}] {}", f.rule, clip(&f.message)));
            if let Some(fix) = f.fix.first() {
                body.push_str(&format!("\n  Fix: {}", clip(fix)));
            }
        }
    }
    body.push_str(&boot_paragraph(boot));
    Notice {
        title: format!("Image import succeeded: {} ({})", img.name, img.image_id),
        body,
        code: None,
        state: crate::db::images::NORMAL.into(),
        image_name: img.name.clone(),
    }
}

/// The notice of a failed import: the error code and what it means, the phase, the
/// cause (`message`), the error findings with their evidence and fixes, and the boot
/// test's result when the import ran one.
pub fn failure(
    img: &Image,
    code: Code,
    message: &str,
    findings: &[Finding],
    boot: Option<&BootFacts>,
) -> Notice {
    let meaning = code.meaning();
    let mut body = format!(
        "The import of custom image \"{}\" ({}) from {} failed in phase `{}` with error code {code} ({meaning}).\n\nCause: {}",
        img.name,
        img.image_id,
        source(img),
        img.phase,
        clip(message)
    );
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    for f in errors.iter().take(MAX_FINDINGS_IN_BODY) {
        let code = f.code.map(|c| c.as_str()).unwrap_or("-");
        body.push_str(&format!("\n\n[{code}, {}] {}", f.rule, clip(&f.message)));
        for e in f.evidence.iter().take(3) {
            body.push_str(&format!("\n  Evidence: {}", clip(e)));
        }
        for x in f.fix.iter().take(4) {
            body.push_str(&format!("\n  Fix: {}", clip(x)));
        }
    }
    if errors.len() > MAX_FINDINGS_IN_BODY {
        body.push_str(&format!(
            "\n\n…and {} more; DescribeImages lists every finding.",
            errors.len() - MAX_FINDINGS_IN_BODY
        ));
    }
    if errors.is_empty() {
        body.push_str(&format!(
            "\n\nFix: {}",
            match code {
                Code::InvalidUrl => "upload the image again, create a new signed URL (a signed URL imports once) and import again",
                _ => "import the image again; if it fails again, contact support with the image ID",
            }
        ));
    }
    body.push_str(&boot_paragraph(boot));
    Notice {
        title: format!(
            "Image import failed: {} ({}) — {code}",
            img.name, img.image_id
        ),
        body,
        code: Some(code.to_string()),
        state: crate::db::images::IMPORTFAILED.into(),
        image_name: img.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image {
        Image {
            image_id: "img-abcdefgh".into(),
            app_id: 1,
            name: "web-01".into(),
            description: String::new(),
            os_type: "CentOS".into(),
            os_version: "7".into(),
            architecture: "x86_64".into(),
            force: false,
            region: "ap-guangzhou".into(),
            source_url: "http://127.0.0.1:9001/b/disk.qcow2?X-Amz-Signature=secret".into(),
            source_blob: "b".into(),
            state: "IMPORTING".into(),
            phase: "policy".into(),
            progress: 20,
            bytes_done: 0,
            bytes_total: 0,
            size_bytes: 0,
            virtual_size: 0,
            error_code: None,
            error_message: None,
            findings: "[]".into(),
            tags: "[]".into(),
            attempts: 1,
            request_id: String::new(),
            boot_test: false,
            boot_result: None,
            created_at: 0,
            updated_at: 0,
            finished_at: None,
        }
    }

    #[test]
    fn a_failure_names_image_code_cause_and_fix_without_the_signature() {
        let f = Finding {
            severity: Severity::Error,
            code: Some(Code::CloudInitNotInstalled),
            rule: imgport_policy::rules::RuleId::CloudInit,
            message: "cloud-init is not installed".into(),
            evidence: vec!["no /usr/bin/cloud-init".into()],
            fix: vec!["yum install -y cloud-init".into()],
            waived: false,
        };
        let n = failure(
            &image(),
            Code::CloudInitNotInstalled,
            "cloud-init is not installed",
            &[f],
            None,
        );
        assert!(n.title.contains("web-01") && n.title.contains("CloudInitNotInstalled"));
        for want in [
            "img-abcdefgh",
            "phase `policy`",
            "cloud-init not installed",
            "Evidence: no /usr/bin/cloud-init",
            "Fix: yum install -y cloud-init",
            "http://127.0.0.1:9001/b/disk.qcow2",
        ] {
            assert!(n.body.contains(want), "{want} missing from {}", n.body);
        }
        assert!(!n.body.contains("secret"));
        assert_eq!(n.code.as_deref(), Some("CloudInitNotInstalled"));
    }

    #[test]
    fn a_success_lists_warnings() {
        let w = Finding {
            severity: Severity::Warning,
            code: None,
            rule: imgport_policy::rules::RuleId::Net,
            message: "static IP on eth0".into(),
            evidence: vec![],
            fix: vec!["use DHCP".into()],
            waived: false,
        };
        let n = success(&image(), 3 << 30, &[w], None);
        assert!(n.body.contains("NORMAL") && n.body.contains("3 GB"));
        assert!(n.body.contains("[R-NET] static IP on eth0") && n.body.contains("Fix: use DHCP"));
        assert_eq!(n.code, None);
    }

    #[test]
    fn the_boot_test_is_in_the_message_with_the_console_of_a_failed_boot() {
        let booted = BootFacts {
            outcome: BootOutcome::Booted,
            reason: "the marker was seen".into(),
            serial_tail: vec!["login:".into()],
            elapsed_ms: 41_200,
            accel: Some("tcg".into()),
            ..BootFacts::default()
        };
        let n = success(&image(), 1 << 30, &[], Some(&booted));
        assert!(
            n.body.contains(
                "Boot test (R-BOOT): booted after 42 s under QEMU (tcg): the marker was seen"
            ),
            "{}",
            n.body
        );
        assert!(!n.body.contains("Serial console"), "{}", n.body);
        let failed = BootFacts {
            outcome: BootOutcome::Failed,
            reason: "root not found".into(),
            serial_tail: (0..60).map(|i| format!("line {i}")).collect(),
            ..booted
        };
        let n = failure(
            &image(),
            Code::VirtioNotInstall,
            "no virtio",
            &[],
            Some(&failed),
        );
        assert!(n.body.contains("Boot test (R-BOOT): failed"), "{}", n.body);
        assert!(n
            .body
            .contains("last 10 lines; DescribeImages' BootTest has 60"));
        assert!(n.body.contains("| line 59") && n.body.contains("| line 50"));
        assert!(!n.body.contains("| line 49"), "{}", n.body);
        assert!(!success(&image(), 1, &[], None).body.contains("Boot test"));
    }
}
