// Images (R-FLOW-RESULT): the account's imported images in the selected region, from
// DescribeImages — state, live progress (phase, percent, estimated time left) while
// IMPORTING, the error code with its cause and fix when IMPORTFAILED — with rename
// (ModifyImageAttribute) and delete (DeleteImages).

import { MAX_DESCRIPTION, MAX_NAME, findingsList } from "./import.js";
import {
  announce, badge, charCount, confirmDialog, dialog, errorBox, formatBytes, formatDuration, h, hasControl, replace, status, time,
} from "../ui.js";

const POLL_MS = 2000;
/** With nothing importing, the list still refreshes: imports started elsewhere (an SDK,
 * tccli, another tab) appear without pressing Refresh (issue 15 item 8). */
const IDLE_POLL_MS = 5000;
const PAGE = 50;
const PHASES = {
  fetch: "fetching the object",
  format: "reading the format",
  size: "measuring",
  inspect: "inspecting the guest",
  policy: "applying the rules",
  convert: "converting to QCOW2",
  register: "registering",
  boot: "boot test under QEMU",
  notify: "notifying",
};
const STATES = { NORMAL: "ok", IMPORTING: "info", IMPORTFAILED: "error", CREATING: "info" };

function renameDialog(img) {
  return dialog(`Rename ${img.ImageId}`, (close) => {
    const name = h("input", { id: "rename-name", value: img.ImageName, "aria-describedby": "rename-error" });
    const desc = h("textarea", { id: "rename-description", rows: "3", "aria-describedby": "rename-error" });
    desc.value = img.ImageDescription || "";
    const err = h("p", { id: "rename-error", class: "field-error", "aria-live": "polite" });
    const form = h("form", { method: "dialog", novalidate: true },
      h("div", { class: "field" }, h("label", { for: "rename-name" }, `Name (up to ${MAX_NAME} characters)`), name),
      h("div", { class: "field" }, h("label", { for: "rename-description" }, `Description (up to ${MAX_DESCRIPTION} characters)`), desc),
      err,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, "Save"),
        h("button", { type: "button", onclick: () => close(null) }, "Cancel")));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const n = name.value;
      const d = desc.value;
      let problem = "";
      if (!n.trim()) problem = "Enter a name.";
      else if (charCount(n) > MAX_NAME) problem = `The name is ${charCount(n)} characters long; at most ${MAX_NAME} are allowed.`;
      else if (charCount(d) > MAX_DESCRIPTION) problem = `The description is ${charCount(d)} characters long; at most ${MAX_DESCRIPTION} are allowed.`;
      else if (hasControl(n) || hasControl(d)) problem = "Control characters (line breaks, tabs) are not allowed.";
      err.textContent = problem;
      if (problem) {
        name.focus();
        return;
      }
      close({ ImageName: n, ImageDescription: d });
    });
    setTimeout(() => { name.focus(); name.select(); }, 0);
    return form;
  });
}

export async function render(ctx) {
  const { api, session } = ctx;
  const list = h("div", { id: "image-list" }, status("Loading images…"));
  const msg = h("div", { id: "images-message", "aria-live": "polite" });
  const stateSel = h("select", { id: "state-filter" },
    h("option", { value: "" }, "All states"),
    ["IMPORTING", "NORMAL", "IMPORTFAILED"].map((s) => h("option", { value: s }, s)));
  const live = h("p", { class: "hint", id: "poll-status", role: "status" });
  let offset = 0;
  let timer = null;
  let stopped = false;
  const seen = new Map(); // ImageId → {state, first: {t, p}}
  const openDetails = new Set();

  function eta(img) {
    const now = Date.now();
    const p = Number(img.ImportProgress) || 0;
    const s = seen.get(img.ImageId);
    if (!s || !s.first) return null;
    const dt = (now - s.first.t) / 1000;
    const dp = p - s.first.p;
    if (dt < 2 || dp <= 0) return null;
    return ((100 - p) * dt) / dp;
  }

  function progressCell(img) {
    if (img.ImageState !== "IMPORTING") return h("td", {}, img.ImageState === "NORMAL" ? "100 %" : "–");
    const p = Math.max(0, Math.min(100, Number(img.ImportProgress) || 0));
    const phase = img.ImportPhase || "queued";
    const left = eta(img);
    const bytes = img.ImportBytesTotal ? ` · ${formatBytes(img.ImportBytesDone)} of ${formatBytes(img.ImportBytesTotal)}` : "";
    return h("td", { class: "progress-cell" },
      h("progress", { max: "100", value: String(p), "aria-label": `Import progress of ${img.ImageName}`, "aria-valuetext": `${p} percent, ${phase}` }),
      h("span", { class: "progress-text" },
        `${p} % · `, h("span", { class: "phase" }, phase), PHASES[phase] ? ` (${PHASES[phase]})` : "", bytes,
        ` · ${left === null ? "estimating time left…" : `about ${formatDuration(left)} left`}`));
  }

  /** The fix to try first: the reported code's finding's, else the generic one. */
  function firstFix(img, errors) {
    const f = errors.find((x) => x.code === img.ErrorCode && x.fix && x.fix.length) || errors.find((x) => x.fix && x.fix.length);
    if (f) return f.fix[0];
    return img.ErrorCode === "InvalidUrl"
      ? "Upload the image again if it was deleted, make a new signed URL (a signed URL imports once) in a bucket of this region, and import again."
      : "See the cause; if it persists, contact support with the image ID.";
  }

  function failure(img) {
    const errors = (img.Findings || []).filter((f) => f.severity === "error");
    const id = `why-${img.ImageId}`;
    const d = h("details", { class: "why", id, open: openDetails.has(id) || !openDetails.has(`closed-${id}`) },
      h("summary", {}, "Why it failed: ", h("code", { class: "error-code" }, img.ErrorCode || "InternalError")),
      h("dl", { class: "kv" },
        h("dt", {}, "Error code"), h("dd", {}, h("code", {}, img.ErrorCode || "–")),
        h("dt", {}, "Failed in phase"), h("dd", {}, img.ImportPhase || "–"),
        h("dt", {}, "Cause"), h("dd", { class: "cause" }, img.ErrorMessage || "–"),
        h("dt", {}, "Fix"), h("dd", { class: "first-fix" }, firstFix(img, errors))),
      errors.length ? findingsList(errors) : h("p", { class: "hint" }, img.ErrorCode === "InvalidUrl"
        ? "Fix: upload the image again if it was deleted, make a new signed URL (a signed URL imports once) in a bucket of this region, and import again."
        : "Fix: see the cause above; if it persists, contact support with the image ID."));
    d.addEventListener("toggle", () => {
      if (d.open) { openDetails.add(id); openDetails.delete(`closed-${id}`); } else { openDetails.delete(id); openDetails.add(`closed-${id}`); }
    });
    return d;
  }

  /** The boot test (R-BOOT): outcome, what was seen and the serial console's last lines. */
  function bootTestOf(img) {
    const b = img.BootTest;
    if (!b) return null;
    const id = `boot-${img.ImageId}`;
    const secs = b.ElapsedMs ? ` after ${Math.ceil(b.ElapsedMs / 1000)} s${b.Accelerator ? ` (${b.Accelerator})` : ""}` : "";
    const lines = b.SerialTail || [];
    const d = h("details", { class: "why boot-test", id, open: openDetails.has(id) },
      h("summary", {}, "Boot test: ", h("code", { class: "boot-outcome" }, b.Outcome), secs),
      h("p", {}, b.Failure ? `${b.Failure}: ` : "", b.Reason || ""),
      lines.length ? h("details", { class: "serial-log" },
        h("summary", {}, `Serial console (last ${lines.length} lines)`),
        h("pre", {}, lines.join("\n"))) : null);
    d.addEventListener("toggle", () => (d.open ? openDetails.add(id) : openDetails.delete(id)));
    return d;
  }

  function findingsOf(img) {
    const f = (img.Findings || []).filter((x) => x.severity !== "error");
    if (!f.length) return null;
    const id = `notes-${img.ImageId}`;
    const d = h("details", { class: "why", id, open: openDetails.has(id) },
      h("summary", {}, `${f.length} warning${f.length === 1 ? "" : "s"} and notes from the check`), findingsList(f));
    d.addEventListener("toggle", () => (d.open ? openDetails.add(id) : openDetails.delete(id)));
    return d;
  }

  async function rename(img) {
    const v = await renameDialog(img);
    if (!v) return;
    const p = { ImageId: img.ImageId, ImageName: v.ImageName, ImageDescription: v.ImageDescription };
    try {
      await api.call("ModifyImageAttribute", p);
      replace(msg, h("p", { class: "ok", role: "status" }, `${img.ImageId} renamed to ${v.ImageName}.`));
      announce(`Renamed to ${v.ImageName}`);
    } catch (err) {
      replace(msg, errorBox(err, `${img.ImageId} was not renamed`));
    }
    load();
  }

  async function remove(img) {
    if (!(await confirmDialog("Delete image", `Delete ${img.ImageName} (${img.ImageId})? Its stored disk is removed; this cannot be undone.`, "Delete image"))) return;
    try {
      await api.call("DeleteImages", { ImageIds: [img.ImageId] });
      replace(msg, h("p", { class: "ok", role: "status" }, `${img.ImageId} deleted.`));
      announce(`${img.ImageId} deleted`);
    } catch (err) {
      replace(msg, errorBox(err, `${img.ImageId} was not deleted`));
    }
    load();
  }

  let gen = 0;
  async function load() {
    if (timer) clearTimeout(timer);
    timer = null;
    const mine = ++gen;
    const p = { Offset: offset, Limit: PAGE };
    if (stateSel.value) p.Filters = [{ Name: "image-state", Values: [stateSel.value] }];
    let r;
    try {
      r = await api.call("DescribeImages", p);
    } catch (err) {
      if (mine === gen && !stopped) replace(list, errorBox(err, "The images could not be listed"));
      return;
    }
    if (stopped || mine !== gen) return; // a newer load is under way
    const imgs = r.ImageSet || [];
    const now = Date.now();
    for (const img of imgs) {
      const prev = seen.get(img.ImageId);
      if (prev && prev.state === "IMPORTING" && img.ImageState !== "IMPORTING") {
        announce(`${img.ImageName} is now ${img.ImageState}${img.ErrorCode ? `: ${img.ErrorCode}` : ""}`);
        ctx.refreshBadge();
      }
      const p0 = { t: now, p: Number(img.ImportProgress) || 0 };
      seen.set(img.ImageId, { state: img.ImageState, first: prev && prev.first && img.ImageState === "IMPORTING" ? prev.first : p0 });
    }
    const importing = imgs.some((i) => i.ImageState === "IMPORTING");
    const pager = r.TotalCount > PAGE ? h("div", { class: "actions" },
      h("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "Previous"),
      h("span", {}, `${offset + 1}–${offset + imgs.length} of ${r.TotalCount}`),
      h("button", { type: "button", disabled: offset + PAGE >= r.TotalCount, onclick: () => { offset += PAGE; load(); } }, "Next")) : null;
    // Keep keyboard focus on the same control across a refresh.
    const active = list.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = active && (active.getAttribute("aria-label") || (active.closest("details") && active.closest("details").id));
    replace(list, imgs.length ? [h("table", { id: "image-table" },
      h("caption", {}, `${r.TotalCount} image${r.TotalCount === 1 ? "" : "s"} in ${session.region}`),
      h("thead", {}, h("tr", {},
        ["Image", "State", "Progress", "OS", "Size", "Created", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, imgs.map((img) => {
        const row = h("tr", { "data-image-id": img.ImageId, "data-state": img.ImageState },
          h("th", { scope: "row" }, h("span", { class: "image-name" }, img.ImageName), h("br"), h("code", { class: "image-id" }, img.ImageId),
            img.ImageDescription ? [h("br"), h("span", { class: "hint" }, img.ImageDescription)] : null),
          h("td", {}, badge(img.ImageState, STATES[img.ImageState] || "info"), img.ErrorCode ? [h("br"), h("code", { class: "error-code" }, img.ErrorCode)] : null),
          progressCell(img),
          h("td", {}, img.OsName, h("br"), h("span", { class: "hint" }, img.Architecture)),
          h("td", {}, img.ImageSize ? `${img.ImageSize} GB` : "–", img.StoredSize ? [h("br"), h("span", { class: "hint" }, `${formatBytes(img.StoredSize)} stored`)] : null),
          h("td", {}, time(img.CreatedTime)),
          h("td", { class: "actions" },
            h("button", { type: "button", "aria-label": `Rename ${img.ImageName}`, onclick: () => rename(img) }, "Rename"),
            h("button", {
              type: "button", class: "danger", "aria-label": `Delete ${img.ImageName}`,
              disabled: img.ImageState === "IMPORTING",
              title: img.ImageState === "IMPORTING" ? "An image can be deleted once it is NORMAL or IMPORTFAILED" : null,
              onclick: () => remove(img),
            }, "Delete")));
        const verdict = img.ImageState === "IMPORTFAILED" ? failure(img) : img.ImageState === "NORMAL" ? findingsOf(img) : null;
        const boot = img.ImageState === "IMPORTING" ? null : bootTestOf(img);
        const extra = verdict || boot ? [verdict, boot] : null;
        return extra ? [row, h("tr", { class: "detail-row", "data-detail-of": img.ImageId }, h("td", { colspan: "7" }, extra))] : row;
      }))), pager] : h("p", {}, stateSel.value ? `No ${stateSel.value} images in ${session.region}.` : `No images in ${session.region} yet: upload an image and import it.`));
    if (focusKey) {
      const again = [...list.querySelectorAll("button, details")].find((el) => el.getAttribute("aria-label") === focusKey || el.id === focusKey);
      if (again) (again.tagName === "DETAILS" ? again.querySelector("summary") : again).focus();
    }
    live.textContent = importing ? `Updating every ${POLL_MS / 1000} s while images import.` : "";
    const every = importing ? POLL_MS : IDLE_POLL_MS;
    if (!stopped) timer = setTimeout(() => (document.visibilityState === "visible" ? load() : (timer = setTimeout(load, every))), every);
  }

  stateSel.addEventListener("change", () => { offset = 0; load(); });
  ctx.main.append(
    h("h1", {}, "Images"),
    h("p", {}, `Your custom images in ${session.region}. An import is IMPORTING until it is NORMAL (usable to create or reinstall instances) or IMPORTFAILED (with the error code, its cause and the fix).`),
    h("div", { class: "toolbar" },
      h("div", { class: "field inline" }, h("label", { for: "state-filter" }, "Show"), stateSel),
      h("button", { type: "button", id: "refresh-images", onclick: () => load() }, "Refresh"),
      h("button", { type: "button", onclick: () => ctx.navigate("/console/import") }, "Import an image")),
    live, msg, list);
  await load();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
