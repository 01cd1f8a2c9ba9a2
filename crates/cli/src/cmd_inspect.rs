//! `imgport inspect`: what is inside the image — partitions, LVM, filesystems, the OS,
//! kernels with their virtio evidence, cloud-init — read without mounting or booting.
//!
//! Exit status: 0 inspected without errors; 1 the image was refused (corrupt,
//! unsupported, unsafe) or inspected with errors — structures that could not be read
//! (listed as `error:` lines, and in the JSON `errors`); 2 the file could not be read
//! at all (I/O, not a file).

use crate::output::{human_bytes, print_json, report_error, EXIT_REFUSED};
use crate::source;
use imgport_disk::ReadAt;
use imgport_inspect::Report;
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Image file or http(s) URL (read by range requests).
    target: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> ExitCode {
    let started = Instant::now();
    let src = match source::open(&a.target) {
        Ok(s) => s,
        Err(e) => return report_error(&e, a.json),
    };
    let disk: Arc<dyn ReadAt> = match imgport_disk::open(src.clone()) {
        Ok(d) => Arc::<dyn imgport_disk::VirtualDisk>::from(d),
        Err(e) => return report_error(&e, a.json),
    };
    let report = imgport_inspect::inspect(disk);
    let total_read = src.bytes_read();
    let elapsed = started.elapsed();
    if a.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["image"] = json!({
            "source": src.describe(),
            "file_size": src.size(),
            "bytes_read": total_read,
            "elapsed_ms": elapsed.as_millis() as u64,
        });
        print_json(&v);
    } else {
        print_human(&src.describe(), &report);
        println!(
            "read {} of {} ({:.2} %) in {:.2} s",
            human_bytes(total_read),
            human_bytes(src.size()),
            100.0 * total_read as f64 / src.size().max(1) as f64,
            elapsed.as_secs_f64()
        );
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "imgport: {}: inspected with {} error(s): parts of the image could not be read",
            src.describe(),
            report.errors.len()
        );
        ExitCode::from(EXIT_REFUSED)
    }
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn print_human(target: &str, r: &Report) {
    println!("image: {target}");
    let hybrid = if r.hybrid_mbr { " (hybrid MBR)" } else { "" };
    println!("partition table: {}{hybrid}", r.partition_table);
    for p in &r.partitions {
        println!(
            "  {:>2}  start {:>12}  size {:>10}  {} {}{}",
            p.number,
            p.start,
            human_bytes(p.size),
            p.type_id,
            p.type_name,
            if p.bootable { "  [boot]" } else { "" }
        );
    }
    if r.dynamic_disk {
        println!("Windows dynamic disk (LDM)");
    }
    for vg in &r.lvm {
        println!("LVM volume group {} ({} LV)", vg.name, vg.lvs.len());
        for lv in &vg.lvs {
            println!(
                "  {} {} {}{}",
                lv.name,
                human_bytes(lv.size),
                lv.segment_types.join(","),
                if lv.readable { "" } else { "  (not readable)" }
            );
        }
    }
    println!("filesystems:");
    for f in &r.filesystems {
        let kind = serde_json::to_value(f.kind).unwrap_or_default();
        println!(
            "  {:<14} {:<10} uuid {} label {}{}",
            f.volume,
            kind.as_str().unwrap_or("?"),
            or_dash(&f.uuid),
            or_dash(&f.label),
            f.error
                .as_deref()
                .map(|e| format!("  (cannot read: {e})"))
                .unwrap_or_default()
        );
    }
    match &r.os {
        Some(os) => println!(
            "os: {} {} {} ({}), {}",
            os.os_type,
            or_dash(&os.distro),
            or_dash(&os.version),
            or_dash(&os.product_name),
            or_dash(&os.arch)
        ),
        None => println!("os: none found"),
    }
    if let Some(root) = &r.root {
        let kind = serde_json::to_value(root.filesystem).unwrap_or_default();
        println!("root: {} ({})", root.volume, kind.as_str().unwrap_or("?"));
        for m in &root.mounts {
            println!("  {} on {}", m.volume, m.mountpoint);
        }
    }
    for k in &r.kernels {
        let boot = match k.virtio_boot {
            Some(true) => "virtio at boot",
            Some(false) => "NO virtio at boot",
            None => "virtio at boot unknown",
        };
        println!(
            "kernel {}{}: {boot} ({})",
            k.version,
            if k.is_default { " [default]" } else { "" },
            k.virtio_boot_reason
        );
    }
    let yn = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    println!("virtio: {}", yn(r.virtio));
    for e in &r.virtio_evidence {
        println!("  {e}");
    }
    println!("cloud-init: {}", yn(r.cloud_init));
    for e in &r.cloud_init_evidence {
        println!("  {e}");
    }
    println!(
        "classification: {} — {}",
        r.classification.kind, r.classification.reason
    );
    for e in &r.errors {
        println!("error: {e}");
    }
}
