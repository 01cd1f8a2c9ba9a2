//! The in-browser pre-check (issue 15 item 1): the same `imgport-check` the CLI and
//! the service run, built for `wasm32-unknown-unknown` with the core crates' `pure`
//! codecs, reading the user's local file through a read callback (`File.slice` in a
//! Web Worker, `web/check-worker.js`) — never the whole file at once.
//!
//! The answer is the JSON of `imgport check --json` for the same file and form.

use imgport_disk::ReadAt;
use imgport_policy::ImportForm;
use std::sync::Arc;

#[cfg(target_family = "wasm")]
mod js;

/// Check the image `src` under the import form `form_json` (ImportForm's JSON: OsType,
/// OsVersion, Architecture, Force as `imgport check` takes them; empty means none),
/// calling `progress` with each phase's name as it starts. Returns the report's JSON,
/// or a `CouldNotCheck` object as the CLI prints one.
pub fn check_json(src: Arc<dyn ReadAt>, form_json: &str, progress: &mut dyn FnMut(&str)) -> String {
    let form: ImportForm = if form_json.trim().is_empty() {
        ImportForm::default()
    } else {
        match serde_json::from_str(form_json) {
            Ok(f) => f,
            Err(e) => {
                return imgport_check::could_not_check(&src.describe(), &format!("the form: {e}"))
                    .to_string()
            }
        }
    };
    let mut on_phase = |p: imgport_check::Phase| {
        let name = serde_json::to_value(p)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        progress(&name);
    };
    match imgport_check::check_with_progress(src.clone(), &form, &mut on_phase) {
        Ok(r) => serde_json::to_string(&r).unwrap_or_default(),
        Err(e) => imgport_check::could_not_check(&src.describe(), &e.to_string()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_image_of_zeros_is_refused_with_the_report_json() {
        let src: Arc<dyn ReadAt> = Arc::new(imgport_disk::MemSource::new(vec![0u8; 4 << 20]));
        let mut phases = Vec::new();
        let out = check_json(src, "", &mut |p| phases.push(p.to_string()));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["verdict"]["importable"], false, "{out}");
        assert_eq!(v["image_size"], 4 << 20);
        assert_eq!(phases.first().map(String::as_str), Some("format"));
        assert_eq!(phases.last().map(String::as_str), Some("policy"));
        let bad = check_json(
            Arc::new(imgport_disk::MemSource::new(vec![0u8; 512])),
            "{not json",
            &mut |_| {},
        );
        assert!(bad.contains("CouldNotCheck"), "{bad}");
    }
}
