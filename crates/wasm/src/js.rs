//! The JavaScript side: a [`ReadAt`] over the worker's read callback, and the one
//! exported function.

use imgport_disk::{Error, ReadAt, Result};
use js_sys::{Function, Uint8Array};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

thread_local! {
    /// The read callback of the check in progress: `read(offset, length)` returns a
    /// `Uint8Array` of exactly `length` bytes (`FileReaderSync` over `File.slice`).
    /// JavaScript values stay on this thread, which is the only one (wasm32 has none
    /// other), so the source itself holds none and stays `Send + Sync`.
    static READ: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// The user's local file, read through [`READ`].
struct JsFile {
    name: String,
    size: u64,
    read: AtomicU64,
}

fn io(what: &str, msg: String) -> Error {
    Error::Io {
        what: what.to_string(),
        source: std::io::Error::other(msg),
    }
}

impl ReadAt for JsFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        imgport_disk::source::check_bounds(&|| self.describe(), offset, buf.len(), self.size)?;
        let got = READ.with(|r| {
            let r = r.borrow();
            let f = r
                .as_ref()
                .ok_or_else(|| io(&self.name, "no read callback".into()))?;
            f.call2(
                &JsValue::NULL,
                &JsValue::from_f64(offset as f64),
                &JsValue::from_f64(buf.len() as f64),
            )
            .map_err(|e| io(&self.name, format!("reading the file: {e:?}")))
        })?;
        let bytes = Uint8Array::new(&got);
        if bytes.length() as usize != buf.len() {
            return Err(io(
                &self.name,
                format!(
                    "read {} bytes at offset {offset}, wanted {}",
                    bytes.length(),
                    buf.len()
                ),
            ));
        }
        bytes.copy_to(buf);
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// Check the local file `name` of `size` bytes, read by `read(offset, length)`;
/// `progress(phase)` is called as each phase starts. `form_json` as
/// [`crate::check_json`] takes it. Returns the JSON of `imgport check --json`.
#[wasm_bindgen(js_name = checkFile)]
pub fn check_file(
    name: String,
    size: f64,
    read: Function,
    progress: Function,
    form_json: String,
) -> String {
    READ.with(|r| *r.borrow_mut() = Some(read));
    let src: Arc<dyn ReadAt> = Arc::new(JsFile {
        name,
        size: size.max(0.0) as u64,
        read: AtomicU64::new(0),
    });
    let out = crate::check_json(src, &form_json, &mut |phase| {
        let _ = progress.call1(&JsValue::NULL, &JsValue::from_str(phase));
    });
    READ.with(|r| *r.borrow_mut() = None);
    out
}
