// Buckets and upload (R-FLOW-UPLOAD): list and create buckets (each in a region,
// R-REGION), list a bucket's objects, upload a file in resumable parts with a progress
// bar, copy an object's URL or a presigned GET URL, and go on to check or import it.

import { S3Error, addressableKey } from "../s3.js";
import { Upload, allPending, discard, partSizeFor, pendingFor } from "../upload.js";
import {
  announce, badge, confirmDialog, copy, errorBox, formatBytes, formatDuration, h, replace, status, time,
} from "../ui.js";
import { available as precheckAvailable, precheck, summary as precheckSummary } from "../precheck.js";
import { findingsList } from "./import.js";

/** Bucket names as the store accepts them: 3–63 of [a-z0-9.-], alphanumeric ends. */
export function bucketNameProblem(n) {
  if (n.length < 3 || n.length > 63) return "A bucket name has 3 to 63 characters.";
  if (!/^[a-z0-9.-]+$/.test(n)) return "Use lower-case letters, digits, dots and hyphens only.";
  if (!/^[a-z0-9].*[a-z0-9]$/.test(n)) return "A bucket name starts and ends with a letter or digit.";
  return "";
}

/** Object keys the console can upload: 1–1024 bytes, no "." or ".." path segments. */
export function keyProblem(k) {
  if (!k) return "Enter an object key (a file name).";
  if (new TextEncoder().encode(k).length > 1024) return "An object key is at most 1024 bytes long.";
  if (!addressableKey(k)) return "A key cannot contain \".\" or \"..\" path segments (browsers rewrite such URLs).";
  return "";
}

const EXPIRIES = [
  [900, "15 minutes"], [3600, "1 hour"], [6 * 3600, "6 hours"], [86400, "1 day"], [7 * 86400, "7 days (the longest allowed)"],
];

export async function render(ctx) {
  const { s3, session } = ctx;
  let current = ctx.params.get("bucket") || "";
  let upload = null;
  let owner = null;
  let bucketList = [];

  const bucketsOut = h("div", { id: "bucket-list" }, status("Loading buckets…"));
  const objectsSection = h("section", { "aria-labelledby": "objects-h", id: "objects" });
  const uploadSection = h("section", { "aria-labelledby": "upload-h", id: "upload" });
  const urlOut = h("div", { id: "url-output", "aria-live": "polite" });

  // ---- create a bucket -------------------------------------------------------------
  const nameInput = h("input", { id: "bucket-name", name: "bucket", required: true, spellcheck: "false", autocapitalize: "off", "aria-describedby": "bucket-name-hint bucket-name-error" });
  const nameError = h("p", { id: "bucket-name-error", class: "field-error", "aria-live": "polite" });
  const regionSel = h("select", { id: "bucket-region", name: "region" },
    ctx.config.Regions.map((r) => h("option", { value: r, selected: r === session.region }, r)));
  const publicBox = h("input", { type: "checkbox", id: "bucket-public", name: "public" });
  const createOut = h("div", { "aria-live": "polite" });
  const createForm = h("form", { class: "card", novalidate: true, "aria-labelledby": "create-h" },
    h("h3", { id: "create-h" }, "Create a bucket"),
    h("div", { class: "row" },
      h("div", { class: "field" },
        h("label", { for: "bucket-name" }, "Bucket name"),
        nameInput,
        h("p", { id: "bucket-name-hint", class: "hint" }, "3–63 lower-case letters, digits, dots or hyphens. Cloud consoles name them NAME-APPID."),
        nameError),
      h("div", { class: "field" },
        h("label", { for: "bucket-region" }, "Region"),
        regionSel,
        h("p", { class: "hint" }, "Import reads images only from buckets of the import's own region (R-REGION)."))),
    h("div", { class: "field checkbox" },
      publicBox,
      h("label", { for: "bucket-public" }, "Public-read bucket: anyone who has an object's URL can read it (no signature needed). Leave off to use signed URLs.")),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "create-bucket" }, "Create bucket")),
    createOut);
  createForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(createOut);
    const name = nameInput.value.trim();
    const problem = bucketNameProblem(name);
    nameError.textContent = problem;
    nameInput.setAttribute("aria-invalid", problem ? "true" : "false");
    if (problem) {
      nameInput.focus();
      return;
    }
    try {
      await s3.createBucket(name, regionSel.value, publicBox.checked);
    } catch (err) {
      createOut.append(errorBox(err, "The bucket was not created"));
      return;
    }
    createOut.append(h("p", { class: "ok", role: "status" }, `Bucket ${name} created in ${regionSel.value}.`));
    announce(`Bucket ${name} created`);
    current = name;
    ctx.replaceQuery(`/console/buckets?bucket=${encodeURIComponent(name)}`);
    await loadBuckets();
  });

  async function loadBuckets() {
    try {
      const r = await s3.listBuckets();
      owner = r.owner;
      bucketList = r.buckets;
    } catch (err) {
      replace(bucketsOut, errorBox(err, "The buckets could not be listed"));
      return;
    }
    if (owner && !nameInput.value) nameInput.value = `images-${owner.id}`;
    if (!current && bucketList.length) current = bucketList[0].name;
    if (!bucketList.length) {
      replace(bucketsOut, h("p", {}, "No buckets yet: create one below, then upload your image into it."));
    } else {
      replace(bucketsOut, h("table", {},
        h("caption", {}, `${bucketList.length} bucket${bucketList.length === 1 ? "" : "s"}`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Region"), h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
        h("tbody", {}, bucketList.map((b) => h("tr", { "data-bucket": b.name, class: b.name === current ? "selected" : null },
          h("th", { scope: "row" }, b.name),
          h("td", {}, b.region || "–"),
          h("td", {}, time(b.created)),
          h("td", {}, h("button", {
            type: "button", "aria-pressed": b.name === current ? "true" : "false",
            "aria-label": `Open bucket ${b.name}`,
            onclick: () => { current = b.name; ctx.replaceQuery(`/console/buckets?bucket=${encodeURIComponent(b.name)}`); loadBuckets(); },
          }, "Open")))))));
    }
    renderObjects();
    renderUpload();
  }

  // ---- objects -----------------------------------------------------------------------
  const expirySel = h("select", { id: "url-expiry" }, EXPIRIES.map(([s, l]) => h("option", { value: s, selected: s === 3600 }, l)));

  function showUrl(label, url, note) {
    const id = "url-value";
    const input = h("input", { id, readonly: true, value: url, class: "url", spellcheck: "false" });
    const result = h("span", { role: "status" });
    replace(urlOut, h("div", { class: "card" },
      h("label", { for: id }, label),
      h("div", { class: "row nowrap" }, input,
        h("button", { type: "button", onclick: async () => {
          result.textContent = (await copy(url, input)) ? "Copied." : "Select the text and copy it (Ctrl+C).";
        } }, "Copy")),
      note ? h("p", { class: "hint" }, note) : null,
      result));
    input.focus();
    input.select();
  }

  let objectsGen = 0;
  async function renderObjects() {
    const gen = ++objectsGen;
    if (!current) {
      replace(objectsSection);
      return;
    }
    const bucket = bucketList.find((b) => b.name === current);
    replace(objectsSection,
      h("h2", { id: "objects-h" }, `Objects in ${current}`),
      bucket && bucket.region ? h("p", { class: "hint" }, `Region ${bucket.region}.`) : null,
      status("Loading objects…"));
    let objects = [];
    let truncated = false;
    try {
      const r = await s3.listObjects(current, { maxKeys: 1000 });
      if (gen !== objectsGen) return; // another bucket was opened meanwhile
      objects = r.objects;
      truncated = r.truncated;
    } catch (err) {
      if (gen !== objectsGen) return;
      replace(objectsSection, h("h2", { id: "objects-h" }, `Objects in ${current}`), errorBox(err, "The objects could not be listed"));
      return;
    }
    const list = objects.length
      ? h("table", { id: "object-table" },
        h("caption", {}, `${objects.length} object${objects.length === 1 ? "" : "s"}${truncated ? " (the first 1000)" : ""}`),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Size"), h("th", { scope: "col" }, "Uploaded"), h("th", { scope: "col" }, "Actions"))),
        h("tbody", {}, objects.map((o) => {
          const ok = addressableKey(o.key);
          return h("tr", { "data-key": o.key },
            h("th", { scope: "row" }, h("span", { class: "key" }, o.key)),
            h("td", {}, formatBytes(o.size)),
            h("td", {}, time(o.lastModified)),
            h("td", { class: "actions" }, ok ? [
              h("button", { type: "button", "aria-label": `Copy URL of ${o.key}`, onclick: () => showUrl(`URL of ${o.key}`, s3.objectUrl(current, o.key),
                "This plain URL works for imports only when the object or its bucket is public-read; otherwise use a signed URL.") }, "URL"),
              h("button", { type: "button", "aria-label": `Signed URL of ${o.key}`, onclick: async () => {
                const secs = Number(expirySel.value);
                const url = await s3.presignGet(current, o.key, secs);
                showUrl(`Signed URL of ${o.key} (valid ${EXPIRIES.find(([s]) => s === secs)[1]})`, url,
                  "A signed URL can be used for one import (R-ERR InvalidUrl): make a new one for each import. Checks (dry runs) do not use it up.");
              } }, "Signed URL"),
              h("button", { type: "button", "aria-label": `Check image ${o.key}`, onclick: () => ctx.navigate(`/console/import?bucket=${encodeURIComponent(current)}&key=${encodeURIComponent(o.key)}&check=1`) }, "Check image"),
              h("button", { type: "button", "aria-label": `Import ${o.key}`, onclick: () => ctx.navigate(`/console/import?bucket=${encodeURIComponent(current)}&key=${encodeURIComponent(o.key)}`) }, "Import"),
              h("button", { type: "button", class: "danger", "aria-label": `Delete ${o.key}`, onclick: async () => {
                if (!(await confirmDialog("Delete object", `Delete ${o.key} from ${current}? Imports that have not started yet will fail with InvalidUrl.`, "Delete"))) return;
                try {
                  await s3.deleteObject(current, o.key);
                  announce(`${o.key} deleted`);
                } catch (err) {
                  replace(urlOut, errorBox(err, `${o.key} was not deleted`));
                  return;
                }
                renderObjects();
              } }, "Delete"),
            ] : h("span", { class: "hint" }, "Key not addressable from a browser")));
        })))
      : h("p", {}, "This bucket is empty: upload an image below.");
    replace(objectsSection,
      h("h2", { id: "objects-h" }, `Objects in ${current}`),
      bucket && bucket.region ? h("p", { class: "hint" }, `Region ${bucket.region}.`) : null,
      h("div", { class: "field inline" }, h("label", { for: "url-expiry" }, "Signed URLs are valid for"), expirySel),
      list, urlOut);
  }

  // ---- upload ------------------------------------------------------------------------
  const fileInput = h("input", { type: "file", id: "upload-file", "aria-describedby": "upload-hint" });
  const keyInput = h("input", { id: "upload-key", spellcheck: "false", autocapitalize: "off", "aria-describedby": "upload-key-error" });
  const keyError = h("p", { id: "upload-key-error", class: "field-error", "aria-live": "polite" });
  const uploadPublic = h("input", { type: "checkbox", id: "upload-public" });
  const bar = h("progress", { id: "upload-progress", max: "100", value: "0", "aria-label": "Upload progress", hidden: true });
  const barText = h("p", { id: "upload-progress-text", class: "progress-text" });
  const uploadOut = h("div", { id: "upload-result" });
  const offer = h("div", { id: "resume-offer", "aria-live": "polite" });
  const startBtn = h("button", { type: "button", class: "primary", id: "upload-start" }, "Upload");
  const pauseBtn = h("button", { type: "button", id: "upload-pause", hidden: true }, "Pause");
  const abortBtn = h("button", { type: "button", class: "danger", id: "upload-abort", hidden: true }, "Cancel upload");
  const pendingOut = h("div", { id: "pending-uploads" });
  // The in-browser pre-check of the chosen file (issue 15 item 1).
  const checkBar = h("progress", { id: "precheck-progress", max: "4", value: "0", "aria-label": "Check progress", hidden: true });
  const checkText = h("p", { id: "precheck-text", class: "progress-text", "aria-live": "polite" });
  const checkOut = h("div", { id: "precheck" });
  let running = null;
  let lastAnnounced = -1;
  let lastPaint = 0;

  function paint(s) {
    const now = performance.now();
    if (s.phase === "uploading" && now - lastPaint < 100) return;
    lastPaint = now;
    const pct = s.total ? (100 * s.loaded) / s.total : 100;
    bar.hidden = false;
    bar.value = pct;
    bar.setAttribute("aria-valuetext", `${pct.toFixed(0)} percent`);
    const parts = s.partsTotal ? ` · part ${s.partsDone} of ${s.partsTotal}` : "";
    const rate = s.rate ? ` · ${formatBytes(s.rate)}/s` : "";
    const eta = s.phase === "uploading" && s.eta !== null ? ` · ${formatDuration(s.eta)} left` : "";
    const phase = { starting: "Starting", uploading: "Uploading", completing: "Completing", done: "Uploaded", paused: "Paused", failed: "Failed" }[s.phase];
    barText.textContent = `${phase}: ${formatBytes(s.loaded)} of ${formatBytes(s.total)} (${pct.toFixed(1)} %)${parts}${rate}${eta}`;
    const step = Math.floor(pct / 10);
    if (s.phase === "uploading" && step !== lastAnnounced) {
      lastAnnounced = step;
      announce(`Upload ${step * 10} percent`);
    }
  }

  function busy(on) {
    startBtn.disabled = on;
    fileInput.disabled = on;
    keyInput.disabled = on;
    pauseBtn.hidden = !on;
    abortBtn.hidden = !on;
  }

  async function runUpload(record) {
    const file = fileInput.files[0];
    replace(uploadOut);
    replace(offer);
    const bucket = record ? record.bucket : current;
    const key = record ? record.key : keyInput.value.trim();
    upload = new Upload({ s3, secretId: session.secretId, file, bucket, key, publicRead: uploadPublic.checked, onProgress: paint });
    busy(true);
    lastAnnounced = -1;
    if (record) announce(`Resuming the upload of ${file.name}`);
    else announce(`Uploading ${file.name} to ${bucket}`);
    try {
      await upload.run(record);
      if (upload.resumeLost) uploadOut.append(h("p", { class: "hint" }, "The interrupted upload no longer existed on the store; the file was uploaded again from the start."));
      uploadOut.append(h("div", { class: "ok", role: "status" },
        h("p", {}, `Uploaded ${file.name} (${formatBytes(file.size)}) to ${bucket}/${key}.`),
        h("div", { class: "actions" },
          h("button", { type: "button", onclick: () => ctx.navigate(`/console/import?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}&check=1`) }, "Check this image"),
          h("button", { type: "button", onclick: () => ctx.navigate(`/console/import?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}`) }, "Import this image"))));
      announce(`Upload of ${file.name} complete`);
      if (bucket !== current) current = bucket;
      renderObjects();
    } catch (err) {
      if (err && err.name === "AbortError") {
        uploadOut.append(h("p", { role: "status" }, "Upload paused. Choose the same file again (here or after reloading the page) to resume it."));
      } else {
        uploadOut.append(errorBox(err, "The upload failed"), h("p", { class: "hint" }, "Parts already sent are kept: choose the same file again to resume."));
      }
    } finally {
      busy(false);
      upload = null;
      renderPending();
    }
  }

  async function offerResume(file) {
    replace(offer);
    const rec = pendingFor(session.secretId, file);
    if (!rec) return false;
    const count = Math.max(1, Math.ceil(rec.size / rec.partSize));
    let stored = null;
    try {
      const parts = await s3.listParts(rec.bucket, rec.key, rec.uploadId);
      stored = parts.filter((p) => p.partNumber <= count).length;
    } catch (err) {
      if (!(err instanceof S3Error && err.code === "NoSuchUpload")) {
        offer.append(errorBox(err, "The interrupted upload could not be looked up"));
      }
    }
    const resume = h("button", { type: "button", class: "primary", id: "upload-resume", onclick: () => runUpload(rec) }, "Resume upload");
    offer.append(h("div", { class: "card notice" },
      h("p", {}, `An interrupted upload of ${file.name} to ${rec.bucket}/${rec.key} exists: `,
        stored === null ? "it is no longer on the store and will start again." : `${stored} of ${count} parts are already stored.`),
      h("div", { class: "actions" }, resume,
        h("button", { type: "button", onclick: async () => {
          try { await discard(s3, session.secretId, rec); } catch (err) { offer.append(errorBox(err)); return; }
          replace(offer, h("p", { role: "status" }, "The interrupted upload was discarded."));
          renderPending();
        } }, "Discard it and start over"))));
    resume.focus();
    return true;
  }

  /** The upload button says what the check found; the upload is never blocked by it. */
  function labelUpload(text) {
    startBtn.textContent = text;
  }

  /** Check `f` in the browser before it is uploaded: the CLI's verdict in seconds. */
  async function runPrecheck(f) {
    if (running) running.cancel();
    running = null;
    replace(checkOut);
    checkBar.hidden = true;
    checkText.textContent = "";
    labelUpload("Upload");
    if (!(await precheckAvailable())) {
      checkText.textContent = "The in-browser check is not part of this build (scripts/build-wasm.sh builds it); the service checks the image when you import it.";
      return;
    }
    checkBar.hidden = false;
    checkBar.value = 0;
    labelUpload("Upload (checking…)");
    const started = performance.now();
    const job = precheck(f, {}, (p) => {
      checkBar.value = p.step;
      checkBar.setAttribute("aria-valuetext", `${p.text}, step ${p.step} of ${p.steps}`);
      checkText.textContent = `Checking ${f.name} here, before the upload: ${p.text} (step ${p.step} of ${p.steps}, ${formatBytes(p.bytes)} read)`;
    });
    running = job;
    let report;
    try {
      report = await job.result;
    } catch (err) {
      if (running !== job) return; // replaced by a newer check
      running = null;
      checkBar.hidden = true;
      checkText.textContent = "";
      labelUpload("Upload");
      replace(checkOut, errorBox(err, "The in-browser check failed; the service checks the image when you import it"));
      return;
    }
    if (running !== job) return;
    running = null;
    checkBar.value = 4;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    checkText.textContent = `Checked ${f.name} in ${secs} s, reading ${formatBytes(report.bytes_read || 0)} of ${formatBytes(f.size)}.`;
    showPrecheck(report);
  }

  function showPrecheck(report) {
    if (report.error) {
      labelUpload("Upload anyway");
      replace(checkOut, h("div", { class: "card error", id: "precheck-verdict", role: "alert" },
        h("p", {}, `${report.error.code}: ${report.error.message}`)),
        h("pre", { id: "precheck-json", hidden: true }, JSON.stringify(report)));
      return;
    }
    const s = precheckSummary(report);
    const problems = s.errors === 1 ? "1 problem" : `${s.errors} problems`;
    labelUpload(s.importable ? "Upload (check passed)" : `Upload anyway (${problems} found)`);
    const findings = (report.verdict && report.verdict.findings) || [];
    replace(checkOut,
      h("div", { class: "card", id: "precheck-verdict", role: "status" },
        h("h3", {}, s.importable
          ? [badge("Importable", "ok"), findings.length ? ` The import rules pass; read the ${findings.length} finding${findings.length === 1 ? "" : "s"} below.` : " The image passes every import rule."]
          : [badge("Not importable", "error"), " ", s.codes.map((c) => h("code", { class: "verdict-code" }, c)).reduce((a, c) => (a.length ? [...a, ", ", c] : [c]), []),
            ` — fix the image before you upload it, or upload anyway.`]),
        findings.length ? findingsList(findings) : null,
        h("details", {}, h("summary", {}, "The full report (as imgport check --json prints it)"),
          h("pre", { id: "precheck-json" }, JSON.stringify(report, null, 1)))));
    announce(s.importable ? `${report.source}: importable` : `${report.source}: not importable, ${s.codes.join(", ")}`);
  }

  fileInput.addEventListener("change", async () => {
    const f = fileInput.files[0];
    replace(uploadOut);
    if (!f) return;
    keyInput.value = f.name;
    keyError.textContent = "";
    runPrecheck(f);
    await offerResume(f);
  });
  startBtn.addEventListener("click", async () => {
    const f = fileInput.files[0];
    if (!current) {
      replace(uploadOut, h("p", { class: "error", role: "alert" }, "Create or open a bucket first."));
      return;
    }
    if (!f) {
      replace(uploadOut, h("p", { class: "error", role: "alert" }, "Choose a file to upload."));
      fileInput.focus();
      return;
    }
    const problem = keyProblem(keyInput.value.trim());
    keyError.textContent = problem;
    keyInput.setAttribute("aria-invalid", problem ? "true" : "false");
    if (problem) {
      keyInput.focus();
      return;
    }
    if (pendingFor(session.secretId, f)) {
      if (!(await confirmDialog("Start over?", `An interrupted upload of ${f.name} exists. Start a new upload instead of resuming it? The stored parts are discarded.`, "Start over"))) return;
      try { await discard(s3, session.secretId, pendingFor(session.secretId, f)); } catch (err) { replace(uploadOut, errorBox(err)); return; }
    }
    const existing = await s3.headObject(current, keyInput.value.trim()).catch(() => null);
    if (existing && !(await confirmDialog("Replace object?", `${current}/${keyInput.value.trim()} exists (${formatBytes(existing.size)}). Replace it?`, "Replace"))) return;
    runUpload(null);
  });
  pauseBtn.addEventListener("click", () => upload && upload.pause());
  abortBtn.addEventListener("click", async () => {
    if (!upload) return;
    if (!(await confirmDialog("Cancel upload", "Cancel this upload and discard the parts already stored?", "Cancel upload"))) return;
    try { await upload.abort(); } catch (err) { uploadOut.append(errorBox(err)); }
    bar.hidden = true;
    barText.textContent = "Upload cancelled.";
  });

  function renderPending() {
    const pending = allPending(session.secretId);
    replace(pendingOut);
    if (!pending.length) return;
    pendingOut.append(h("h3", {}, "Interrupted uploads"),
      h("p", { class: "hint" }, "Choose the same file again to resume one; the browser cannot reopen a file by itself."),
      h("ul", { class: "plain" }, pending.map((r) => h("li", {},
        `${r.name} (${formatBytes(r.size)}) → ${r.bucket}/${r.key}, started `, time(new Date(r.started).toISOString()), " ",
        h("button", { type: "button", class: "link", "aria-label": `Discard the interrupted upload of ${r.name}`, onclick: async () => {
          try { await discard(s3, session.secretId, r); } catch (err) { pendingOut.append(errorBox(err)); return; }
          renderPending();
        } }, "Discard")))));
  }

  function renderUpload() {
    if (!current) {
      replace(uploadSection);
      return;
    }
    if (uploadSection.childElementCount) return; // keep a running upload's elements
    replace(uploadSection,
      h("h2", { id: "upload-h" }, "Upload an image"),
      h("div", { class: "card" },
        h("div", { class: "row" },
          h("div", { class: "field" },
            h("label", { for: "upload-file" }, "Image file"),
            fileInput,
            h("p", { id: "upload-hint", class: "hint" }, `RAW, QCOW2, VHD or VMDK (R-FMT). Sent in ${formatBytes(partSizeFor(0))} parts, ${4} at a time; an interrupted upload resumes when you choose the same file again.`)),
          h("div", { class: "field" },
            h("label", { for: "upload-key" }, "Object key"),
            keyInput, keyError)),
        h("div", { class: "field checkbox" }, uploadPublic, h("label", { for: "upload-public" }, "Make this object public-read (anyone with its URL can read it)")),
        checkBar, checkText, checkOut,
        offer,
        h("div", { class: "actions" }, startBtn, pauseBtn, abortBtn),
        bar, barText, uploadOut),
      pendingOut);
    renderPending();
  }

  ctx.main.append(
    h("h1", {}, "Buckets and upload"),
    h("p", {}, "Upload the image to a bucket of the region you will import into, then check it and import it with a signed URL (R-FLOW-UPLOAD)."),
    h("section", { "aria-labelledby": "buckets-h" }, h("h2", { id: "buckets-h" }, "Buckets"), bucketsOut, createForm),
    objectsSection,
    uploadSection,
  );
  await loadBuckets();
  const onUnload = (e) => {
    if (upload) {
      e.preventDefault();
      e.returnValue = "";
    }
  };
  window.addEventListener("beforeunload", onUnload);
  return () => {
    window.removeEventListener("beforeunload", onUnload);
    if (upload) upload.pause();
    if (running) running.cancel();
  };
}
