//! `imgport convert`: any supported image to qcow2 (or raw), in parallel, atomically,
//! optionally verified (issue: qcow2 conversion; R-SIZE-ACTUAL stores imports as qcow2).
//!
//! Links and modes: a source that is a symbolic link is followed and reported as
//! `LINK (symlink to TARGET)`; a destination that is one is refused, also with
//! `--force`. The output is created with mode 0600, or the source's mode where that is
//! stricter, whatever the umask.
//!
//! Exit status: 0 converted (and verified with `--verify`); 1 the source image was
//! refused (corrupt, unsupported, unsafe); 2 could not convert (I/O, not a file, the
//! destination exists or is a link, usage, the output did not verify).

use crate::output::{human_bytes, human_size, print_json, report_error};
use imgport_disk::convert::{convert_to_path, verify, ConvertOptions, OutputFormat};
use imgport_disk::format::qcow2::Compression;
use imgport_disk::{FileSource, ReadAt};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Source image (raw, qcow2, vmdk, vhd).
    src: PathBuf,
    /// Destination file (must not exist unless --force).
    dst: PathBuf,
    /// Output format.
    #[arg(short = 'O', long = "output-format", default_value = "qcow2", value_parser = ["qcow2", "raw"])]
    output_format: String,
    /// Compress clusters (qcow2 only).
    #[arg(short = 'c', long)]
    compress: bool,
    /// Compression algorithm for -c.
    #[arg(long, default_value = "zlib", value_parser = ["zlib", "zstd"])]
    compression: String,
    /// qcow2 cluster size in bytes.
    #[arg(long, default_value_t = 65536, value_parser = crate::cmd_measure::parse_cluster_size)]
    cluster_size: u64,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Replace an existing destination.
    #[arg(long)]
    force: bool,
    /// fsync the output before renaming it into place.
    #[arg(long)]
    sync: bool,
    /// Re-read the output and compare its content with what was read from the source.
    #[arg(long)]
    verify: bool,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> ExitCode {
    let started = Instant::now();
    let file = match FileSource::open(&a.src) {
        Ok(f) => Arc::new(f),
        Err(e) => return report_error(&e, a.json),
    };
    // 0600, or the source's own mode where that is stricter (never wider than the input).
    let mode = match file.mode() {
        Ok(m) => 0o600 & m,
        Err(e) => return report_error(&e, a.json),
    };
    let input = file.describe();
    let src = match imgport_disk::open(file.clone()) {
        Ok(d) => d,
        Err(e) => return report_error(&e, a.json),
    };
    let format = if a.output_format == "raw" {
        OutputFormat::Raw
    } else {
        OutputFormat::Qcow2
    };
    let compression = a.compress.then(|| {
        if a.compression == "zstd" {
            Compression::Zstd
        } else {
            Compression::Zlib
        }
    });
    if compression.is_some() && format == OutputFormat::Raw {
        eprintln!("imgport: -c needs -O qcow2");
        return ExitCode::from(crate::output::EXIT_IO);
    }
    let opts = ConvertOptions {
        format,
        compression,
        cluster_size: a.cluster_size,
        threads: a.threads,
        sync: a.sync,
        mode,
    };
    let bar = progress_bar(src.size());
    let on_progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let stats = match convert_to_path(&*src, &a.dst, &opts, a.force, &on_progress) {
        Ok(s) => s,
        Err(e) => {
            if let Some(b) = &bar {
                b.abandon();
            }
            return report_error(&e, a.json);
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let mut verified = None;
    if a.verify {
        let out = match imgport_disk::open_path(&a.dst) {
            Ok(d) => d,
            Err(e) => return report_error(&e, a.json),
        };
        let cs = if format == OutputFormat::Qcow2 {
            a.cluster_size
        } else {
            a.cluster_size.min(65536)
        };
        match verify(&*out, &stats, cs) {
            Ok(n) => verified = Some(n),
            Err(e) => return report_error(&e, a.json),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let input_size = file.size();
    if a.json {
        let mut v = serde_json::to_value(&stats).unwrap_or_default();
        v["input"] = input.clone().into();
        v["output"] = a.dst.display().to_string().into();
        v["input_size"] = input_size.into();
        v["seconds"] = secs.into();
        v["verified_clusters"] = verified.into();
        print_json(&v);
    } else {
        println!(
            "{} ({}) → {} ({})",
            input,
            src.info().format,
            a.dst.display(),
            a.output_format
        );
        println!("virtual size: {}", human_size(stats.virtual_size));
        println!("input size:   {}", human_size(input_size));
        println!(
            "output size:  {} ({:.1}% of input)",
            human_size(stats.output_size),
            if input_size > 0 {
                stats.output_size as f64 * 100.0 / input_size as f64
            } else {
                0.0
            }
        );
        println!(
            "clusters:     {} written ({} compressed), {} all-zero skipped",
            stats.clusters_written, stats.clusters_compressed, stats.zero_clusters_skipped
        );
        println!(
            "time:         {secs:.2} s ({}/s of source read)",
            human_bytes((stats.source_bytes_read as f64 / secs.max(1e-3)) as u64)
        );
        if let Some(n) = verified {
            println!("verified:     {n} clusters read back identical");
        }
    }
    ExitCode::SUCCESS
}

fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new(total);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(b)
}
