//! `imgport`: check, inspect, measure and convert disk images for cloud import.

mod cmd_account;
mod cmd_boot_test;
mod cmd_check;
mod cmd_client;
mod cmd_convert;
mod cmd_info;
mod cmd_inspect;
mod cmd_measure;
mod cmd_serve;
mod output;
mod source;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "imgport",
    version,
    about = "Check, inspect, measure and convert disk images for cloud import"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every import rule the image breaks, with the service's error code, evidence and fix.
    Check(cmd_check::Args),
    /// What is inside: partitions, LVM, filesystems, OS, kernels, virtio, cloud-init.
    Inspect(cmd_inspect::Args),
    /// Format facts of an image: format, subformat, virtual size, cluster size (R-FMT).
    Info(cmd_info::Args),
    /// Convert to qcow2 (or raw): parallel compression, zero-skipping, atomic, verifiable.
    Convert(cmd_convert::Args),
    /// The import service: cloud API, object storage, import jobs, message centre.
    Serve(cmd_serve::Args),
    /// Manage accounts of the import service.
    Account(cmd_account::Args),
    /// Size of the image once converted to qcow2, as `qemu-img measure -O qcow2` (R-SIZE-ACTUAL).
    Measure(cmd_measure::Args),
    /// Boot the image under QEMU as the cloud would (virtio, NoCloud seed): booted, no-agent or failed.
    BootTest(cmd_boot_test::Args),
    /// Call an action of an import service (signed TC3-HMAC-SHA256): `imgport api DescribeImages Limit=5`.
    Api(cmd_client::ApiArgs),
    /// A service's images with their state, and for failures the error code, cause and fix.
    Images(cmd_client::ImagesArgs),
    /// A service's message centre: each import's success or failure message.
    Messages(cmd_client::MessagesArgs),
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    match cli.command {
        Command::Check(a) => cmd_check::run(a),
        Command::Inspect(a) => cmd_inspect::run(a),
        Command::Convert(a) => cmd_convert::run(a),
        Command::Serve(a) => cmd_serve::run(a),
        Command::Account(a) => cmd_account::run(a),
        Command::Info(a) => cmd_info::run(a),
        Command::Measure(a) => cmd_measure::run(a),
        Command::BootTest(a) => cmd_boot_test::run(a),
        Command::Api(a) => cmd_client::run_api(a),
        Command::Images(a) => cmd_client::run_images(a),
        Command::Messages(a) => cmd_client::run_messages(a),
    }
}

/// `imgport check … | head`: a closed stdout ends the program quietly (as SIGPIPE
/// would for a C tool) instead of a panic message; other panics keep the default report.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
