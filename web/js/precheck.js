// The in-browser pre-check (issue 15 item 1): `imgport check` of a local file before
// it is uploaded, in a Web Worker (js/check-worker.js) so the page stays responsive.
// Same verdict, codes, evidence and fixes as the CLI: the same Rust crates, compiled
// to WebAssembly. The console never trusts it for the import itself: the service
// checks the uploaded object again (R-FLOW-ASYNC).

/** The phases of a check, in order (imgport_check::Phase). */
export const PHASES = ["format", "size", "inspect", "policy"];

const PHASE_TEXT = {
  format: "Reading the format",
  size: "Walking the mapping tables",
  inspect: "Inspecting the guest (partitions, filesystems, OS)",
  policy: "Applying the import rules",
};

/** Whether this console was built with the in-browser check (scripts/build-wasm.sh). */
export async function available() {
  try {
    const r = await fetch(new URL("../pkg/imgport_wasm_bg.wasm", import.meta.url), { method: "HEAD", cache: "no-cache" });
    return r.ok;
  } catch {
    return false;
  }
}

/** A running check of `file`; `onProgress({phase, text, step, steps, bytes})`.
 *  `.result` resolves to the report (imgport check --json), `.cancel()` stops it. */
export function precheck(file, form, onProgress) {
  const worker = new Worker(new URL("./check-worker.js", import.meta.url), { type: "module" });
  let cancel;
  const result = new Promise((resolve, reject) => {
    cancel = () => {
      worker.terminate();
      reject(new Error("cancelled"));
    };
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === "phase") {
        const step = PHASES.indexOf(m.phase) + 1;
        onProgress && onProgress({ phase: m.phase, text: PHASE_TEXT[m.phase] || m.phase, step, steps: PHASES.length, bytes: m.bytes });
      } else if (m.type === "done") {
        worker.terminate();
        resolve(m.report);
      } else {
        worker.terminate();
        reject(new Error(m.message || "the check failed"));
      }
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(e.message || "the check's worker failed to start"));
    };
    worker.postMessage({ file, form: form || {} });
  });
  return { result, cancel };
}

/** Counts of a report's findings by severity, and whether it is importable. */
export function summary(report) {
  const v = (report && report.verdict) || {};
  const findings = v.findings || [];
  const errors = findings.filter((f) => f.severity === "error" && !f.waived).length;
  const warnings = findings.filter((f) => f.severity === "warning").length;
  return { importable: !!v.importable, errors, warnings, codes: v.codes || [] };
}
