// DOM helpers. Elements are built with createElement and text nodes only — never
// innerHTML — so names, messages and keys from the server cannot inject markup.

let idCounter = 0;

/** A unique element id with `prefix`. */
export function uid(prefix = "id") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * h("button", {class: "primary", onclick: fn, "aria-live": "polite"}, "text", child…)
 * Attributes: `class`, `text`, `on*` handlers, boolean true/false, everything else
 * via setAttribute. Children: strings, nodes, arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replace the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** 75 → "1 min 15 s". */
export function formatDuration(secs) {
  if (secs === null || secs === undefined || !Number.isFinite(secs)) return "–";
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** An ISO time as the reader's local date and time. */
export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso || "–";
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** A <time> element for an ISO time. */
export function time(iso) {
  return h("time", { datetime: iso }, formatTime(iso));
}

/**
 * An error box showing a server's error verbatim: Code, Message and RequestId
 * (ApiError / S3Error), or the message of any other error.
 */
export function errorBox(err, context = "") {
  const rows = [];
  if (err && err.code) rows.push(["Code", h("code", { class: "err-code" }, err.code)]);
  rows.push(["Message", h("span", { class: "err-message" }, err && err.message ? err.message : String(err))]);
  if (err && err.requestId) rows.push(["RequestId", h("code", { class: "err-request-id" }, err.requestId)]);
  if (err && err.status) rows.push(["HTTP status", String(err.status)]);
  const box = h("div", { class: "error", role: "alert" },
    h("p", { class: "error-title" }, context || (err && err.action ? `${err.action} failed` : err && err.operation ? `${err.operation} failed` : "Error")),
    h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  if (err && err.clockSkew) {
    box.appendChild(h("p", {}, `Your computer's clock is ${Math.abs(err.clockSkew)} s ${err.clockSkew > 0 ? "ahead of" : "behind"} the server's; signatures are valid for 5 minutes. Correct the clock and retry.`));
  }
  return box;
}

/** A polite status line (screen readers announce changes). */
export function status(text = "") {
  return h("p", { class: "status", role: "status", "aria-live": "polite" }, text);
}

/** Announce `text` through the page-wide live region. */
export function announce(text) {
  const r = document.getElementById("announcer");
  if (!r) return;
  r.textContent = "";
  // A new text node after a tick is announced even when the text repeats.
  setTimeout(() => { r.textContent = text; }, 30);
}

/** Copy `text`; falls back to selecting `input` (clipboard needs a secure context). */
export async function copy(text, input) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection
  }
  if (input) {
    input.focus();
    input.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * A modal dialog (<dialog>, native focus handling and Escape). `build(close)` returns
 * the body; resolves with what close(value) is given (undefined on Escape).
 */
export function dialog(title, build) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const d = h("dialog", { "aria-labelledby": titleId, class: "dialog" });
    let result;
    const close = (v) => { result = v; d.close(); };
    d.append(h("h2", { id: titleId }, title), build(close));
    d.addEventListener("close", () => { d.remove(); resolve(result); });
    document.body.appendChild(d);
    d.showModal();
  });
}

/** Ask a yes/no question; resolves true when confirmed. */
export function confirmDialog(title, text, confirmLabel) {
  return dialog(title, (close) => h("div", {},
    h("p", {}, text),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "danger", onclick: () => close(true) }, confirmLabel),
      h("button", { type: "button", autofocus: true, onclick: () => close(false) }, "Cancel"))));
}

/** Unicode scalar values in a string (what the server's limits count). */
export function charCount(s) {
  return [...s].length;
}

/** Whether a string holds control characters (the server refuses them in names). */
export function hasControl(s) {
  return /\p{Cc}/u.test(s);
}

/** A severity badge. */
export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind}` }, text);
}
