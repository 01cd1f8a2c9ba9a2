//! The test suite's range server for scripts (issue 16 items 2 and 5): serves FILE with a
//! per-request delay and optional bandwidth cap, runs one command with `{url}` replaced by
//! the file's URL, and prints what the server saw and the command's wall time as one JSON
//! line on stderr — requests, dependent round trips (waves), most in flight, bytes.
//!
//! ```text
//! cargo run -q --release -p imgport-test-support --example range_server -- \
//!     FILE [--delay-ms N] [--bandwidth BYTES_PER_S] -- CMD ARG… {url} …
//! ```
//! Exit status: the command's (2 on a usage error).

use imgport_test_support::range_server::{RangeServer, ServerOptions};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!(
        "usage: range_server FILE [--delay-ms N] [--bandwidth BYTES_PER_S] -- CMD ARG… {{url}} …"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(split) = args.iter().position(|a| a == "--") else {
        usage()
    };
    let (opts_args, cmd) = (&args[..split], &args[split + 1..]);
    if opts_args.is_empty() || cmd.is_empty() {
        usage()
    }
    let mut opts = ServerOptions::default();
    let mut file = None;
    let mut it = opts_args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--delay-ms" => opts.delay = Duration::from_millis(value()),
            "--bandwidth" => opts.bandwidth = Some(value()),
            f if file.is_none() && !f.starts_with('-') => file = Some(PathBuf::from(f)),
            _ => usage(),
        }
    }
    let server = RangeServer::with_options(file.unwrap_or_else(|| usage()), opts);
    let started = Instant::now();
    let status = Command::new(&cmd[0])
        .args(cmd[1..].iter().map(|a| a.replace("{url}", &server.url)))
        .status()
        .unwrap_or_else(|e| {
            eprintln!("range_server: cannot run {}: {e}", cmd[0]);
            std::process::exit(2)
        });
    let wall = started.elapsed();
    let s = server.stats();
    eprintln!(
        "{{\"delay_ms\":{},\"requests\":{},\"waves\":{},\"max_concurrent\":{},\"bytes\":{},\"wall_s\":{:.3}}}",
        opts.delay.as_millis(),
        s.requests,
        s.waves,
        s.max_concurrent,
        s.bytes,
        wall.as_secs_f64()
    );
    std::process::exit(status.code().unwrap_or(1))
}
