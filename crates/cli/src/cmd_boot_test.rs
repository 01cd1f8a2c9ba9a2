//! `imgport boot-test IMAGE`: boot the image under QEMU the way the cloud runs it and say
//! whether it boots (issue 17): `booted` (cloud-init's final stage printed our marker),
//! `no-agent` (userspace up, no marker), `failed` (with the cause and, through the policy's
//! R-BOOT rule, the import error code), or `not-run` (Windows, no OS, no QEMU), each with
//! the last serial console lines and the time taken.
//!
//! The image is checked first (the same check as `imgport check`: it refuses unsafe
//! images, e.g. qcow2 with backing files, before QEMU opens anything). Exit status: 0
//! booted, 1 no-agent or failed, 2 not run or could not check.

use crate::output::{print_json, EXIT_IO, EXIT_REFUSED};
use crate::source;
use imgport_check::boot::{self, BootOptions};
use imgport_policy::{BootFacts, BootOutcome, ImportForm};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The boot options shared by `boot-test` and `check --boot`.
#[derive(clap::Args, Clone)]
pub struct BootArgs {
    /// Wall time allowed for one boot, in seconds (QEMU is killed after it).
    #[arg(long = "timeout", value_name = "S", default_value_t = boot::DEFAULT_TIMEOUT.as_secs())]
    pub timeout: u64,
    /// The QEMU binary (or a wrapper such as tests/fixtures/qemu-chroot.sh installs).
    #[arg(long, value_name = "PATH", default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
    /// Accelerator: `kvm`, `tcg`, or `auto` (KVM when /dev/kvm works, else TCG).
    #[arg(long, value_name = "ACCEL", default_value = "auto", value_parser = ["auto", "kvm", "tcg"])]
    pub accel: String,
}

impl BootArgs {
    pub fn options(&self) -> BootOptions {
        BootOptions {
            qemu: self.qemu.clone(),
            timeout: Duration::from_secs(self.timeout.max(1)),
            kvm: match self.accel.as_str() {
                "kvm" => Some(true),
                "tcg" => Some(false),
                _ => None,
            },
            ..BootOptions::default()
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The image file (local: QEMU opens it).
    image: String,
    #[command(flatten)]
    boot: BootArgs,
    /// Print JSON: the boot result, the error codes and the R-BOOT findings.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> ExitCode {
    if source::is_url(&a.image) {
        eprintln!("imgport: boot-test needs a local image file, not a URL");
        return ExitCode::from(EXIT_IO);
    }
    let form = ImportForm::default();
    let mut report = match source::open(&a.image)
        .map_err(|e| e.to_string())
        .and_then(|src| imgport_check::check(src, &form).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("imgport: {}: {e}", a.image);
            return ExitCode::from(EXIT_IO);
        }
    };
    let facts = boot::boot_test(Path::new(&a.image), &report, &a.boot.options());
    boot::apply(&mut report, facts.clone(), &form);
    let boot_findings: Vec<_> = report
        .verdict
        .findings
        .iter()
        .filter(|f| f.rule == imgport_policy::rules::RuleId::Boot)
        .collect();
    let codes: Vec<&str> = boot_findings
        .iter()
        .filter_map(|f| f.code.filter(|_| !f.waived))
        .map(|c| c.as_str())
        .collect();
    if a.json {
        print_json(&json!({
            "source": a.image,
            "result": facts.outcome.as_str(),
            "boot": facts,
            "codes": codes,
            "findings": boot_findings,
        }));
    } else {
        println!("imgport boot-test {}", a.image);
        print_boot(&facts);
        for f in &boot_findings {
            let code = f
                .code
                .map(|c| format!("{} ", c.as_str()))
                .unwrap_or_default();
            println!("  {code}[{}] {}", f.rule, f.message);
            for x in &f.fix {
                println!("      fix: {x}");
            }
        }
    }
    ExitCode::from(match facts.outcome {
        BootOutcome::Booted => 0,
        BootOutcome::NoAgent | BootOutcome::Failed => EXIT_REFUSED,
        BootOutcome::NotRun => EXIT_IO,
    })
}

/// The human form of a boot result (also used by `check --boot`).
pub fn print_boot(b: &BootFacts) {
    let how = match (&b.accel, b.outcome) {
        (_, BootOutcome::NotRun) => String::new(),
        (a, _) => format!(
            " ({}, {:.1} s of {} s allowed)",
            a.as_deref().unwrap_or("qemu"),
            b.elapsed_ms as f64 / 1000.0,
            b.timeout_secs
        ),
    };
    let failure = b
        .failure
        .map(|f| format!(": {}", f.as_str()))
        .unwrap_or_default();
    println!("  boot test: {}{failure}{how}", b.outcome.as_str());
    println!("  {}", b.reason);
    if !b.serial_tail.is_empty() {
        println!("  serial console (last {} lines):", b.serial_tail.len());
        for l in &b.serial_tail {
            println!("    | {l}");
        }
    }
}
