//! Shared output helpers: JSON printing, error reports, sizes for people.

use imgport_disk::Error;
use serde_json::json;
use std::process::ExitCode;

/// Exit status for a refused or unreadable image (a verdict on the image: corrupt,
/// unsupported, unsafe), or an image inspected with errors.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status when the command could not do its work at all: the file could not be
/// read (I/O, not a file, nothing to check), usage, or the conversion itself failed.
pub const EXIT_IO: u8 = 2;

/// Print `v` as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("imgport: cannot encode JSON: {e}"),
    }
}

/// Report a disk-core error: `{"error":{code,message,detected_format}}` with `--json`,
/// a readable line on stderr otherwise. Returns the exit status: [`EXIT_IO`] when the
/// command could not do its work (I/O, not a file, the conversion failed), else
/// [`EXIT_REFUSED`] (a verdict on the image).
pub fn report_error(e: &Error, json_out: bool) -> ExitCode {
    let could_not = e.is_io() || matches!(e, Error::Convert { .. });
    if json_out {
        print_json(&json!({
            "error": {
                "code": e.code().to_string(),
                "message": e.to_string(),
                "detected_format": e.detected_format(),
            }
        }));
    } else if could_not {
        eprintln!("imgport: {e}");
    } else {
        eprintln!("imgport: {}: {e}", e.code());
    }
    ExitCode::from(if could_not { EXIT_IO } else { EXIT_REFUSED })
}

/// `12.3 GiB (13207024435 bytes)`.
pub fn human_size(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        format!("{} ({n} bytes)", human_bytes(n))
    }
}

/// `12.3 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
