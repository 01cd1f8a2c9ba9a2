//! `imgport measure`: the qcow2-converted size (R-SIZE-ACTUAL), as `qemu-img measure -O qcow2`.

use crate::output::{human_size, print_json, report_error};
use imgport_disk::measure::DEFAULT_CLUSTER_SIZE;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Image file.
    path: PathBuf,
    /// qcow2 cluster size of the converted image.
    #[arg(long, default_value_t = DEFAULT_CLUSTER_SIZE, value_parser = parse_cluster_size)]
    cluster_size: u64,
    /// Print JSON (keys as `qemu-img measure --output=json`).
    #[arg(long)]
    json: bool,
}

pub fn parse_cluster_size(s: &str) -> Result<u64, String> {
    let v: u64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_power_of_two() && (512..=2 << 20).contains(&v) {
        Ok(v)
    } else {
        Err("cluster size must be a power of two from 512 to 2097152".into())
    }
}

pub fn run(a: Args) -> ExitCode {
    let disk = match imgport_disk::open_path(&a.path) {
        Ok(d) => d,
        Err(e) => return report_error(&e, a.json),
    };
    let m = match imgport_disk::measure(&*disk, a.cluster_size) {
        Ok(m) => m,
        Err(e) => return report_error(&e, a.json),
    };
    if a.json {
        print_json(&m);
    } else {
        println!("required size: {}", m.required);
        println!("fully allocated size: {}", m.fully_allocated);
        println!(
            "(as qcow2: {} needed, {} fully allocated)",
            human_size(m.required),
            human_size(m.fully_allocated)
        );
    }
    ExitCode::SUCCESS
}
