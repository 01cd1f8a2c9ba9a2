//! `imgport check`: every rule the image breaks, with the import service's error code,
//! the evidence and the fix — before any upload (issue 5; rules in SPEC.md R-*).
//!
//! Exit status: 0 importable, 1 not importable, 2 could not check (I/O, not a file,
//! usage, a directory without image files). With several images (or a directory) the
//! worst status wins and a summary table follows.

use crate::output::{human_bytes, print_json, EXIT_IO, EXIT_REFUSED};
use crate::source;
use imgport_check::{CheckReport, Phase};
use imgport_policy::{Finding, ImportForm, Severity};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Image files, directories (each regular file in them is checked) or http(s) URLs
    /// (checked by range reads only, e.g. S3/COS presigned URLs).
    #[arg(required = true)]
    targets: Vec<String>,
    /// The OsType the import form will declare (default: the detected OS).
    #[arg(long)]
    os_type: Option<String>,
    /// The OsVersion the import form will declare.
    #[arg(long)]
    os_version: Option<String>,
    /// The Architecture the import form will declare (x86_64 or i386).
    #[arg(long)]
    arch: Option<String>,
    /// Force import: waives R-VIRTIO and R-CLOUDINIT (never format, size or partitions).
    #[arg(long)]
    force: bool,
    /// Print JSON: the verdict plus the facts used (an array for several images).
    #[arg(long)]
    json: bool,
    /// Also boot each local image under QEMU (`imgport boot-test`; R-BOOT, issue 17).
    #[arg(long)]
    boot: bool,
    #[command(flatten)]
    boot_args: crate::cmd_boot_test::BootArgs,
}

/// One checked target.
enum Outcome {
    Checked(Box<CheckReport>),
    /// Could not check: the reason.
    Failed(String),
}

impl Outcome {
    fn exit(&self) -> u8 {
        match self {
            Outcome::Checked(r) if r.verdict.importable => 0,
            Outcome::Checked(_) => EXIT_REFUSED,
            Outcome::Failed(_) => EXIT_IO,
        }
    }
}

pub fn run(a: Args) -> ExitCode {
    let form = ImportForm {
        os_type: a.os_type.clone(),
        os_version: a.os_version.clone(),
        architecture: a.arch.clone(),
        force: a.force,
        region: None,
        source_region: None,
    };
    let mut targets = Vec::new();
    for t in &a.targets {
        match expand(t) {
            // Nothing checked is no verdict: never exit 0 for it.
            Ok(v) if v.is_empty() => {
                eprintln!(
                    "imgport: no image files in {t} (its regular, non-hidden files are checked)"
                );
                return ExitCode::from(EXIT_IO);
            }
            Ok(mut v) => targets.append(&mut v),
            Err(e) => {
                eprintln!("imgport: {t}: {e}");
                return ExitCode::from(EXIT_IO);
            }
        }
    }
    let color =
        !a.json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut outcomes = Vec::new();
    for t in &targets {
        let mut o = check_one(t, &form);
        if a.boot {
            if let Outcome::Checked(r) = &mut o {
                let facts = if source::is_url(t) {
                    imgport_policy::BootFacts::not_run("a remote image (URL) is not booted")
                } else {
                    imgport_check::boot::boot_test(Path::new(t), r, &a.boot_args.options())
                };
                imgport_check::boot::apply(r, facts, &form);
            }
        }
        if !a.json {
            match &o {
                Outcome::Checked(r) => print_report(t, r, color),
                Outcome::Failed(e) => println!("{t}: COULD NOT CHECK: {e}\n"),
            }
        }
        outcomes.push((t.clone(), o));
    }
    if a.json {
        let items: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|(t, o)| match o {
                Outcome::Checked(r) => serde_json::to_value(r).unwrap_or_default(),
                Outcome::Failed(e) => imgport_check::could_not_check(t, e),
            })
            .collect();
        if items.len() == 1 && a.targets.len() == 1 && !Path::new(&a.targets[0]).is_dir() {
            print_json(&items[0]);
        } else {
            print_json(&items);
        }
    } else if outcomes.len() > 1 {
        print_summary(&outcomes);
    }
    ExitCode::from(outcomes.iter().map(|(_, o)| o.exit()).max().unwrap_or(0))
}

/// A directory becomes its regular, non-hidden files (sorted); anything else stays.
fn expand(t: &str) -> std::io::Result<Vec<String>> {
    if source::is_url(t) || !Path::new(t).is_dir() {
        return Ok(vec![t.to_string()]);
    }
    let mut files: Vec<String> = std::fs::read_dir(t)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect();
    files.sort();
    Ok(files)
}

fn check_one(target: &str, form: &ImportForm) -> Outcome {
    let src = match source::open(target) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let tty = std::io::stderr().is_terminal();
    let mut progress = |p: Phase| {
        bar.set_message(format!("{target}: {}", phase_name(p)));
        // Only for checks that take more than a second.
        if tty && started.elapsed() > Duration::from_secs(1) && bar.is_hidden() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    };
    let r = imgport_check::check_with_progress(src, form, &mut progress);
    bar.finish_and_clear();
    match r {
        Ok(r) => Outcome::Checked(Box::new(r)),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Format => "reading the format",
        Phase::Size => "walking the mapping tables",
        Phase::Inspect => "inspecting the guest",
        Phase::Policy => "applying the rules",
    }
}

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// The human report of one image: what it is, its verdict and every finding.
fn print_report(target: &str, r: &CheckReport, color: bool) {
    let st = Style { color };
    // A local source names the file a symbolic link led to.
    let name = if source::is_url(target) {
        target
    } else {
        &r.source
    };
    println!("{}", st.paint("1", &format!("imgport check {name}")));
    print_image_line(r);
    print_guest_line(r);
    if let Some(b) = r.guest.as_ref().and_then(|g| g.boot.as_ref()) {
        crate::cmd_boot_test::print_boot(b);
    }
    println!();
    print_verdict(r, &st);
    print_findings(r, &st);
    if !r.verdict.passed.is_empty() {
        let passed: Vec<&str> = r.verdict.passed.iter().map(|id| id.as_str()).collect();
        println!("\n  passed: {}", passed.join(", "));
    }
    println!(
        "\n  read {} of {} ({:.2} %) in {:.2} s\n",
        human_bytes(r.bytes_read),
        human_bytes(r.image_size),
        100.0 * r.bytes_read as f64 / r.image_size.max(1) as f64,
        r.elapsed_ms as f64 / 1000.0
    );
}

/// `image:` the format, virtual size, size as qcow2 and file size (or what was detected).
fn print_image_line(r: &CheckReport) {
    match &r.info {
        Some(i) => println!(
            "  image: {}, virtual size {}, {} as qcow2, file {}",
            if i.subformat == i.format.name() {
                i.format.to_string()
            } else {
                format!("{} {}", i.format, i.subformat)
            },
            human_bytes(i.virtual_size),
            r.measure
                .map(|m| human_bytes(m.required))
                .unwrap_or_else(|| "?".into()),
            human_bytes(i.file_size)
        ),
        None => println!(
            "  image: {} (not readable as a disk image)",
            r.format
                .detected_format
                .as_deref()
                .unwrap_or("unknown format")
        ),
    }
}

/// `guest:` the operating system, root volume, partition table and kind of disk.
fn print_guest_line(r: &CheckReport) {
    if let Some(ins) = &r.inspection {
        let os = ins
            .os
            .as_ref()
            .map(|o| {
                format!(
                    "{}{}",
                    o.product_name
                        .clone()
                        .or(o.distro.clone())
                        .unwrap_or_else(|| o.os_type.clone()),
                    o.arch
                        .as_deref()
                        .map(|a| format!(", {a}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "no operating system found".into());
        let root = ins
            .root
            .as_ref()
            .map(|r| format!(", root on {}", r.volume))
            .unwrap_or_default();
        // The policy's classification (it also names files that are no disks).
        let kind = r
            .guest
            .as_ref()
            .and_then(|g| g.classification)
            .map_or(ins.classification.kind.name(), |c| c.name());
        println!(
            "  guest: {os}{root}; partition table {}; {kind}",
            ins.partition_table
        );
    }
}

/// IMPORTABLE, or NOT IMPORTABLE with the error codes in the order the import meets them.
fn print_verdict(r: &CheckReport, st: &Style) {
    if r.verdict.importable {
        println!("  {}", st.paint("1;32", "IMPORTABLE"));
    } else {
        let codes: Vec<&str> = r.verdict.codes.iter().map(|c| c.as_str()).collect();
        println!(
            "  {} — the import would fail with {}",
            st.paint("1;31", "NOT IMPORTABLE"),
            st.paint("1", codes.first().copied().unwrap_or("?"))
        );
        if codes.len() > 1 {
            println!("  (and, once that is fixed: {})", codes[1..].join(", "));
        }
    }
}

/// The findings grouped by severity, each with its code, rule, evidence and fixes.
fn print_findings(r: &CheckReport, st: &Style) {
    for (sev, title, mark, paint) in [
        (Severity::Error, "Errors", "✗", "31"),
        (Severity::Warning, "Warnings", "!", "33"),
        (Severity::Info, "Notes", "i", "36"),
    ] {
        let fs: Vec<&Finding> = r
            .verdict
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .collect();
        if fs.is_empty() {
            continue;
        }
        println!("\n  {}", st.paint("1", title));
        for f in fs {
            let code = f
                .code
                .map(|c| format!("{} ", c.as_str()))
                .unwrap_or_default();
            let waived = if f.waived { " (waived by --force)" } else { "" };
            println!(
                "  {} {}[{}] {}{waived}",
                st.paint(paint, mark),
                st.paint("1", &code),
                f.rule,
                f.message
            );
            for e in &f.evidence {
                println!("      evidence: {e}");
            }
            for x in &f.fix {
                println!("      {} {x}", st.paint("32", "fix:"));
            }
        }
    }
}

/// The summary table: one line per image, named relative to the directory they share.
fn print_summary(outcomes: &[(String, Outcome)]) {
    let common = common_dir(outcomes.iter().map(|(t, _)| t.as_str()));
    if !common.is_empty() {
        println!("in {common}");
    }
    let names: Vec<String> = outcomes
        .iter()
        .map(|(t, _)| {
            let t = t.strip_prefix(common.as_str()).unwrap_or(t);
            let n = t.chars().count();
            if n > 50 {
                format!("…{}", t.chars().skip(n - 49).collect::<String>())
            } else {
                t.to_string()
            }
        })
        .collect();
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    println!("{:<w$} {:<16} {:>9}  CODES", "IMAGE", "RESULT", "TIME");
    for ((_, o), name) in outcomes.iter().zip(&names) {
        match o {
            Outcome::Checked(r) => {
                let codes: Vec<&str> = r.verdict.codes.iter().map(|c| c.as_str()).collect();
                println!(
                    "{:<w$} {:<16} {:>7.2} s  {}",
                    name,
                    if r.verdict.importable {
                        "importable"
                    } else {
                        "NOT importable"
                    },
                    r.elapsed_ms as f64 / 1000.0,
                    if codes.is_empty() {
                        "-".to_string()
                    } else {
                        codes.join(",")
                    },
                );
            }
            Outcome::Failed(e) => {
                println!("{:<w$} {:<16} {:>9}  {}", name, "could not check", "", e)
            }
        }
    }
}

/// The longest directory prefix (ending in `/`) that every local path shares; empty
/// when there is none or a URL is among them.
fn common_dir<'a>(mut paths: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = paths.next() else {
        return String::new();
    };
    let mut prefix = first.rfind('/').map_or("", |i| &first[..=i]);
    for p in paths {
        if source::is_url(p) {
            return String::new();
        }
        while !p.starts_with(prefix) {
            prefix = prefix[..prefix.len() - 1]
                .rfind('/')
                .map_or("", |i| &prefix[..=i]);
        }
    }
    if source::is_url(first) {
        return String::new();
    }
    prefix.to_string()
}
