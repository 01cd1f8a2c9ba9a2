//! `imgport info`: format facts (R-FMT), like `qemu-img info`.

use crate::output::{human_size, print_json, report_error};
use imgport_disk::{FileSource, ReadAt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Image file.
    path: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> ExitCode {
    let src: Arc<dyn ReadAt> = match FileSource::open(&a.path) {
        Ok(s) => Arc::new(s),
        Err(e) => return report_error(&e, a.json),
    };
    let disk = match imgport_disk::open(src.clone()) {
        Ok(d) => d,
        Err(e) => return report_error(&e, a.json),
    };
    // Walk all mapping metadata: a truncated or corrupt table is refused here, not
    // at import time, and the allocation is reported.
    let alloc = match imgport_disk::allocation(&*disk) {
        Ok(a) => a,
        Err(e) => return report_error(&e, a.json),
    };
    let info = disk.info();
    if a.json {
        let mut v = serde_json::to_value(info).unwrap_or_default();
        v["allocation"] = serde_json::to_value(alloc).unwrap_or_default();
        v["bytes_read"] = src.bytes_read().into();
        print_json(&v);
    } else {
        println!("image: {}", src.describe());
        println!("file format: {}", info.format);
        println!("subformat: {}", info.subformat);
        println!("virtual size: {}", human_size(info.virtual_size));
        println!("file size: {}", human_size(info.file_size));
        if let Some(c) = info.cluster_size {
            println!("cluster size: {c}");
        }
        for (k, v) in &info.details {
            println!(
                "{}: {}",
                k.replace('_', " "),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            );
        }
        println!(
            "allocated: {} data, {} zero, {} unallocated",
            human_size(alloc.data),
            human_size(alloc.zero),
            human_size(alloc.unallocated)
        );
        for f in &info.findings {
            println!("note: {f}");
        }
        println!("bytes read: {}", src.bytes_read());
    }
    ExitCode::SUCCESS
}
