// The in-browser pre-check's worker (issue 15 item 1): runs crates/wasm (the same
// disk/inspect/policy/check crates as `imgport check`, built by scripts/build-wasm.sh
// into /console/pkg/) on a local File. The image is read by range: each read of the
// check is one FileReaderSync over File.slice (synchronous, which only a worker may
// do), so the file is never loaded whole; the check reads only metadata.
//
// in:  {file: File, form: {os_type, os_version, architecture, force}}
// out: {type: "phase", phase, bytes} while it runs (bytes read so far),
//      {type: "done", report} (the JSON of `imgport check --json`), or
//      {type: "error", message}.
import init, { checkFile } from "../pkg/imgport_wasm.js";

let ready = null;

self.onmessage = async (e) => {
  const { file, form } = e.data;
  try {
    ready = ready || init({ module_or_path: new URL("../pkg/imgport_wasm_bg.wasm", import.meta.url) });
    await ready;
    const reader = new FileReaderSync();
    let bytes = 0;
    let phase = "format";
    let told = 0;
    const read = (offset, length) => {
      const buf = reader.readAsArrayBuffer(file.slice(offset, offset + length));
      bytes += buf.byteLength;
      const now = performance.now();
      if (now - told > 100) {
        told = now;
        self.postMessage({ type: "phase", phase, bytes });
      }
      return new Uint8Array(buf);
    };
    const progress = (p) => {
      phase = p;
      self.postMessage({ type: "phase", phase, bytes });
    };
    const json = checkFile(file.name, file.size, read, progress, JSON.stringify(form || {}));
    self.postMessage({ type: "done", report: JSON.parse(json) });
  } catch (err) {
    self.postMessage({ type: "error", message: String(err && err.message || err) });
  }
};
