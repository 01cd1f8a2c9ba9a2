// Pre-flight check and import form (R-FLOW-FORM): the seed's fields — image URL, OS
// type and version (from DescribeImportImageOs), architecture, name, description,
// force import — validated against the same limits the server applies, then sent as
// ImportImage (DryRun=true for "Check image"). The server's verdict and errors are
// shown as it gives them.

import {
  announce, badge, charCount, errorBox, formatBytes, h, hasControl, replace, status,
} from "../ui.js";

/** The server's limits (crates/service/src/api/import_image.rs). */
export const MAX_NAME = 60;
export const MAX_DESCRIPTION = 256;
export const MAX_URL = 4096;
/** The finance regions of R-REGION. */
export const FINANCE_REGIONS = ["ap-shanghai-fsi", "ap-shenzhen-fsi"];
const FORM_KEY = "imgport.importForm";

/** Problems of the form, by field (empty when it can be sent). */
export function validate(f) {
  const p = {};
  if (!f.ImageUrl.trim()) p.ImageUrl = "Enter the image's URL (choose an uploaded object below, or paste a signed or public URL).";
  else if (f.ImageUrl.length > MAX_URL) p.ImageUrl = `The URL is ${f.ImageUrl.length} characters long; at most ${MAX_URL} are accepted.`;
  if (!f.OsType) p.OsType = "Choose the operating system.";
  if (!f.OsVersion) p.OsVersion = "Choose the version.";
  if (!f.Architecture) p.Architecture = "Choose the architecture.";
  const n = charCount(f.ImageName);
  if (!f.ImageName.trim()) p.ImageName = "Enter a name for the image.";
  else if (n > MAX_NAME) p.ImageName = `The name is ${n} characters long; at most ${MAX_NAME} are allowed.`;
  else if (hasControl(f.ImageName)) p.ImageName = "The name cannot contain control characters (such as line breaks or tabs).";
  const d = charCount(f.ImageDescription);
  if (d > MAX_DESCRIPTION) p.ImageDescription = `The description is ${d} characters long; at most ${MAX_DESCRIPTION} are allowed.`;
  else if (hasControl(f.ImageDescription)) p.ImageDescription = "The description cannot contain control characters (such as line breaks or tabs).";
  return p;
}

function regionRule(region) {
  const finance = FINANCE_REGIONS.includes(region);
  return h("div", { class: finance ? "card notice" : "card note", id: "region-rule" },
    h("p", {}, h("strong", {}, `Region ${region}. `),
      "The import reads the image from object storage of its own region: the bucket must be in ",
      h("strong", {}, region), " (R-REGION)."),
    finance ? h("p", { id: "finance-rule" },
      h("strong", {}, "Finance region: "),
      "the finance regions (ap-shanghai-fsi, ap-shenzhen-fsi) cannot import from object storage of any other region. Upload the image to a bucket of ",
      region, " itself.") : null);
}

/** The boot test's evidence (R-BOOT, issue 17): what was seen, then the serial
 * console's last lines in a collapsible block. */
function serialLog(evidence) {
  const [reason, ...lines] = evidence;
  return h("div", {}, h("p", { class: "sub" }, "Evidence"), h("p", {}, reason),
    lines.length ? h("details", { class: "serial-log" },
      h("summary", {}, `Serial console (last ${lines.length} lines)`),
      h("pre", {}, lines.join("\n"))) : null);
}

function findingCard(f) {
  const sev = f.severity || "info";
  return h("li", { class: `finding finding-${sev}` },
    h("p", { class: "finding-head" },
      badge(sev, sev), " ",
      f.code ? h("code", { class: "finding-code" }, f.code) : null, " ",
      h("span", { class: "rule" }, f.rule), f.waived ? [" ", badge("waived by Force", "warning")] : null),
    h("p", { class: "finding-message" }, f.message),
    f.rule === "R-BOOT" && f.evidence && f.evidence.length ? serialLog(f.evidence) :
    f.evidence && f.evidence.length ? h("div", {}, h("p", { class: "sub" }, "Evidence"),
      h("ul", { class: "evidence" }, f.evidence.map((e) => h("li", {}, e)))) : null,
    f.fix && f.fix.length ? h("div", {}, h("p", { class: "sub" }, "Fix"),
      h("ul", { class: "fix" }, f.fix.map((x) => h("li", {}, x)))) : null);
}

/** The findings of a verdict, errors first. */
export function findingsList(findings) {
  const order = { error: 0, warning: 1, info: 2 };
  const sorted = [...(findings || [])].sort((a, b) => (order[a.severity] ?? 3) - (order[b.severity] ?? 3));
  return h("ul", { class: "findings" }, sorted.map(findingCard));
}

function verdictView(r) {
  const facts = r.Facts || {};
  const fmt = facts.Format || {};
  const guest = facts.Guest || {};
  const os = guest.os || {};
  const rows = [
    ["Format", fmt.detected_format || "–"],
    ["Virtual size", fmt.virtual_size ? formatBytes(fmt.virtual_size) : "–"],
    ["Size as QCOW2", fmt.qcow2_required ? formatBytes(fmt.qcow2_required) : "–"],
    ["Found in the image", [os.product_name || os.distro, os.version && !String(os.product_name || "").includes(os.version) ? os.version : null, os.arch].filter(Boolean).join(", ") || guest.classification || "–"],
    ["Read to check", `${formatBytes(r.BytesRead)} of ${formatBytes(r.ImageSize)} in ${r.ElapsedMs} ms`],
  ];
  const notes = (r.Findings || []).length;
  return h("div", { class: "card", id: "verdict" },
    h("h3", {}, r.Importable
      ? [badge("Importable", "ok"), notes ? ` The image can be imported; read the ${notes} finding${notes === 1 ? "" : "s"} below.` : " The image passes every import rule."]
      : [badge("Not importable", "error"), " ", (r.Codes || []).map((c) => h("code", { class: "verdict-code" }, c)).reduce((a, c) => (a.length ? [...a, ", ", c] : [c]), [])]),
    h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    (r.Findings || []).length
      ? [h("h4", {}, `Findings (${r.Findings.length})`), findingsList(r.Findings)]
      : h("p", {}, "No findings."),
    (r.Passed || []).length ? h("p", { class: "hint" }, `Rules passed: ${r.Passed.join(", ")}.`) : null);
}

export async function render(ctx) {
  const { api, s3, session, params } = ctx;
  const out = h("div", { id: "import-result", "aria-live": "polite" });
  const st = status();
  let osData;
  try {
    osData = await api.call("DescribeImportImageOs", {});
  } catch (err) {
    ctx.main.append(h("h1", {}, "Import an image"), errorBox(err, "The supported operating systems could not be loaded"));
    return null;
  }
  const versions = new Map((osData.ImportImageOsVersionSet || []).map((o) => [o.OsName, o]));
  const supported = osData.ImportImageOsListSupported || {};
  let remembered = {};
  try { remembered = JSON.parse(localStorage.getItem(FORM_KEY) || "{}") || {}; } catch { remembered = {}; }

  const errs = {};
  const urlInput = h("input", { id: "image-url", name: "ImageUrl", spellcheck: "false", autocapitalize: "off", inputmode: "url" });
  const osType = h("select", { id: "os-type", name: "OsType" },
    h("option", { value: "" }, "Choose…"),
    Object.entries(supported).map(([platform, names]) => h("optgroup", { label: platform },
      (names || []).map((n) => h("option", { value: n }, n)))));
  const osVersion = h("select", { id: "os-version", name: "OsVersion" });
  const arch = h("select", { id: "architecture", name: "Architecture" });
  const nameInput = h("input", { id: "image-name", name: "ImageName", autocomplete: "off" });
  const nameCount = h("span", { class: "counter", "aria-hidden": "true" });
  const descInput = h("textarea", { id: "image-description", name: "ImageDescription", rows: "3" });
  const descCount = h("span", { class: "counter", "aria-hidden": "true" });
  const force = h("input", { type: "checkbox", id: "force", name: "Force", "aria-describedby": "force-explained" });
  const bootTest = h("input", { type: "checkbox", id: "boot-test", name: "BootTest", "aria-describedby": "boot-test-explained" });
  const regionBox = h("div", {}, regionRule(session.region));
  const pickNote = h("p", { id: "pick-note", class: "hint", "aria-live": "polite" });
  let picked = null; // {bucket, key, region}

  function fillVersions() {
    const o = versions.get(osType.value);
    replace(osVersion, o ? o.OsVersions.map((v) => h("option", { value: v }, v === "-" ? "- (no version: the name says it)" : v)) : h("option", { value: "" }, "Choose the OS first"));
    replace(arch, o ? o.Architecture.map((a) => h("option", { value: a }, a)) : h("option", { value: "" }, "Choose the OS first"));
    osVersion.disabled = !o;
    arch.disabled = !o;
  }
  osType.addEventListener("change", fillVersions);
  if (remembered.OsType && versions.has(remembered.OsType)) osType.value = remembered.OsType;
  fillVersions();
  if (remembered.OsVersion) osVersion.value = remembered.OsVersion;
  if (remembered.Architecture) arch.value = remembered.Architecture;

  const counters = () => {
    nameCount.textContent = `${charCount(nameInput.value)} / ${MAX_NAME}`;
    descCount.textContent = `${charCount(descInput.value)} / ${MAX_DESCRIPTION}`;
    nameCount.classList.toggle("over", charCount(nameInput.value) > MAX_NAME);
    descCount.classList.toggle("over", charCount(descInput.value) > MAX_DESCRIPTION);
  };
  nameInput.addEventListener("input", counters);
  descInput.addEventListener("input", counters);

  // ---- choose an uploaded object -------------------------------------------------------
  const pickBucket = h("select", { id: "pick-bucket" }, h("option", { value: "" }, "Loading…"));
  const pickKey = h("select", { id: "pick-key" }, h("option", { value: "" }, "Choose a bucket first"));
  const pickBtn = h("button", { type: "button", id: "use-signed-url" }, "Use a signed URL for it");
  const pickPublic = h("button", { type: "button", id: "use-plain-url" }, "Use its plain URL (public-read only)");
  let bucketRegions = new Map();

  async function loadKeys(selectKey) {
    replace(pickKey, h("option", { value: "" }, "Loading…"));
    if (!pickBucket.value) {
      replace(pickKey, h("option", { value: "" }, "Choose a bucket first"));
      return;
    }
    try {
      const r = await s3.listObjects(pickBucket.value, { maxKeys: 1000 });
      replace(pickKey, r.objects.length ? r.objects.map((o) => h("option", { value: o.key }, `${o.key} (${formatBytes(o.size)})`)) : h("option", { value: "" }, "No objects"));
      if (selectKey) pickKey.value = selectKey;
    } catch (err) {
      replace(pickKey, h("option", { value: "" }, "Could not list objects"));
      replace(pickNote, errorBox(err, "The objects could not be listed"));
    }
  }
  pickBucket.addEventListener("change", () => loadKeys());

  async function loadBuckets(selectBucket, selectKey) {
    try {
      const r = await s3.listBuckets();
      bucketRegions = new Map(r.buckets.map((b) => [b.name, b.region]));
      replace(pickBucket, h("option", { value: "" }, r.buckets.length ? "Choose…" : "No buckets: create one on the Buckets page"),
        r.buckets.map((b) => h("option", { value: b.name }, `${b.name} (${b.region}${b.region && b.region !== session.region ? " — another region" : ""})`)));
      if (selectBucket) {
        pickBucket.value = selectBucket;
        await loadKeys(selectKey);
      }
    } catch (err) {
      replace(pickBucket, h("option", { value: "" }, "Could not list buckets"));
      replace(pickNote, errorBox(err, "The buckets could not be listed"));
    }
  }

  function regionNote() {
    if (!picked) return "";
    if (picked.region && picked.region !== session.region) {
      return `The bucket ${picked.bucket} is in ${picked.region}, but this import runs in ${session.region}: the service will refuse it (InvalidUrl, R-REGION). Switch the region at the top, or upload to a bucket of ${session.region}.`;
    }
    return "";
  }

  async function pick(signed) {
    if (!pickBucket.value || !pickKey.value) {
      replace(pickNote, "Choose a bucket and an object first.");
      return false;
    }
    const bucket = pickBucket.value;
    const key = pickKey.value;
    urlInput.value = signed ? await s3.presignGet(bucket, key, 3600) : s3.objectUrl(bucket, key);
    picked = { bucket, key, region: bucketRegions.get(bucket) || "", url: urlInput.value };
    const warn = regionNote();
    replace(pickNote, signed
      ? `Signed URL for ${bucket}/${key}, valid 1 hour. It can be used for one import (checks do not use it up).`
      : `Plain URL of ${bucket}/${key}: imports accept it only when the object or its bucket is public-read.`,
    warn ? h("span", { class: "warning-text", role: "alert" }, " ", warn) : null);
    errs.ImageUrl.textContent = "";
    return true;
  }
  pickBtn.addEventListener("click", () => pick(true));
  pickPublic.addEventListener("click", () => pick(false));
  urlInput.addEventListener("input", () => {
    if (picked && urlInput.value !== picked.url) {
      picked = null;
      replace(pickNote);
    }
  });

  // ---- submit --------------------------------------------------------------------------
  const values = () => ({
    ImageUrl: urlInput.value.trim(),
    OsType: osType.value,
    OsVersion: osVersion.disabled ? "" : osVersion.value,
    Architecture: arch.disabled ? "" : arch.value,
    ImageName: nameInput.value,
    ImageDescription: descInput.value,
  });
  const controls = { ImageUrl: urlInput, OsType: osType, OsVersion: osVersion, Architecture: arch, ImageName: nameInput, ImageDescription: descInput };

  function check(only) {
    const v = values();
    const p = validate(v);
    let first = null;
    for (const [k, el] of Object.entries(controls)) {
      const msg = only && !only.includes(k) ? "" : p[k] || "";
      errs[k].textContent = msg;
      el.setAttribute("aria-invalid", msg ? "true" : "false");
      if (msg && !first) first = el;
    }
    return { v, first };
  }

  const checkBtn = h("button", { type: "button", id: "check-image" }, "Check image");
  const importBtn = h("button", { type: "submit", class: "primary", id: "start-import" }, "Start import");

  /** After a check: fill the OS fields the user left empty from what it detected, and
   * say where a declared value differs (issue 15 item 2). */
  function detectedNote(d) {
    if (!d || !d.OsType) return h("p", { class: "hint", id: "detected" }, "The check detected no supported operating system to fill the form with.");
    const shown = (t, ver, a) => [t, ver && ver !== "-" ? ver : "", a].filter(Boolean).join(" ");
    const declared = { OsType: osType.value, OsVersion: osVersion.disabled ? "" : osVersion.value, Architecture: arch.disabled ? "" : arch.value };
    if (!declared.OsType) {
      osType.value = d.OsType;
      fillVersions();
      if (d.OsVersion) osVersion.value = d.OsVersion;
      if (d.Architecture) arch.value = d.Architecture;
      check(["OsType", "OsVersion", "Architecture"]);
      return h("p", { class: "ok", id: "detected", role: "status" }, `Detected ${shown(d.OsType, d.OsVersion, d.Architecture)}: the operating system fields were filled from it.`);
    }
    const differs = ["OsType", "OsVersion", "Architecture"].filter((k) => d[k] && declared[k] && d[k] !== declared[k]);
    if (!differs.length) return h("p", { class: "hint", id: "detected" }, `Detected ${shown(d.OsType, d.OsVersion, d.Architecture)}, as declared.`);
    const use = h("button", { type: "button", id: "use-detected" }, "Use the detected values");
    use.addEventListener("click", () => {
      osType.value = d.OsType;
      fillVersions();
      if (d.OsVersion) osVersion.value = d.OsVersion;
      if (d.Architecture) arch.value = d.Architecture;
      replace(note, h("p", { class: "ok", role: "status" }, `The form now declares ${shown(d.OsType, d.OsVersion, d.Architecture)}.`));
    });
    const note = h("div", { class: "warning-text", id: "detected", role: "alert" },
      h("p", {}, `You declared ${shown(declared.OsType, declared.OsVersion, declared.Architecture)}, but the check detected ${shown(d.OsType, d.OsVersion, d.Architecture)} (R-OS / R-ARCH). The image is registered as what you declare.`),
      h("div", { class: "actions" }, use));
    return note;
  }

  async function send(dryRun) {
    replace(out);
    // A check needs no operating system: it detects it and fills the form.
    const { v, first } = check(dryRun ? ["ImageUrl", "ImageName", "ImageDescription"] : undefined);
    if (first) {
      first.focus();
      st.textContent = "Correct the highlighted fields.";
      return;
    }
    const p = { ImageUrl: v.ImageUrl, ImageName: v.ImageName };
    for (const k of ["OsType", "OsVersion", "Architecture"]) if (v[k]) p[k] = v[k];
    if (!dryRun) localStorage.setItem(FORM_KEY, JSON.stringify({ OsType: v.OsType, OsVersion: v.OsVersion, Architecture: v.Architecture }));
    if (v.ImageDescription) p.ImageDescription = v.ImageDescription;
    if (force.checked) p.Force = true;
    if (bootTest.checked && !dryRun) p.BootTest = true;
    if (dryRun) p.DryRun = true;
    checkBtn.disabled = true;
    importBtn.disabled = true;
    st.textContent = dryRun ? "Checking the image (reads only what the rules need)…" : "Starting the import…";
    try {
      const r = await api.call("ImportImage", p);
      st.textContent = "";
      if (dryRun) {
        replace(out, h("h2", {}, "Pre-flight check"), detectedNote(r.Detected), verdictView(r),
          r.Importable ? null : h("p", { class: "hint" }, "The import would fail with the first code above. Fix the image, upload it again and check it again — or, for R-VIRTIO / R-CLOUDINIT only, consider Force."));
        announce(r.Importable ? "Check finished: the image is importable" : `Check finished: not importable, ${(r.Codes || []).join(", ")}`);
      } else {
        out.append(h("div", { class: "ok", role: "status", id: "import-started" },
          h("p", {}, "Import started: image ", h("code", { id: "new-image-id" }, r.ImageId), ` (${v.ImageName}) is IMPORTING. The result also arrives in the message centre.`),
          h("p", { class: "hint" }, "The signed URL has now been used; make a new one for another import."),
          h("div", { class: "actions" }, h("button", { type: "button", onclick: () => ctx.navigate("/console/images") }, "Follow it on the Images page"))));
        announce(`Import started: ${r.ImageId}`);
      }
    } catch (err) {
      st.textContent = "";
      out.append(errorBox(err, dryRun ? "The check was refused" : "The import was refused"));
      announce(`Refused: ${err.code}`);
    } finally {
      checkBtn.disabled = false;
      importBtn.disabled = false;
    }
  }
  checkBtn.addEventListener("click", () => send(true));

  const form = h("form", { class: "card", id: "import-form", novalidate: true },
    h("fieldset", {},
      h("legend", {}, "Image"),
      h("div", { class: "field" },
        h("label", { for: "image-url" }, "Image URL"),
        urlInput,
        h("p", { id: "ImageUrl-hint", class: "hint" }, "An object of this service's object storage: a signed URL (usable for one import) or the plain URL of a public-read object."),
        errs.ImageUrl = h("p", { id: "ImageUrl-error", class: "field-error", "aria-live": "polite" })),
      h("div", { class: "picker", role: "group", "aria-labelledby": "pick-label" },
        h("p", { id: "pick-label", class: "sub" }, "Or choose an uploaded object"),
        h("div", { class: "row" },
          h("div", { class: "field" }, h("label", { for: "pick-bucket" }, "Bucket"), pickBucket),
          h("div", { class: "field" }, h("label", { for: "pick-key" }, "Object"), pickKey)),
        h("div", { class: "actions" }, pickBtn, pickPublic),
        pickNote)),
    h("fieldset", {},
      h("legend", {}, "Operating system"),
      h("div", { class: "row" },
        h("div", { class: "field" }, h("label", { for: "os-type" }, "OS type"), osType, errs.OsType = h("p", { id: "OsType-error", class: "field-error", "aria-live": "polite" })),
        h("div", { class: "field" }, h("label", { for: "os-version" }, "OS version"), osVersion, errs.OsVersion = h("p", { id: "OsVersion-error", class: "field-error", "aria-live": "polite" })),
        h("div", { class: "field" }, h("label", { for: "architecture" }, "Architecture"), arch, errs.Architecture = h("p", { id: "Architecture-error", class: "field-error", "aria-live": "polite" }))),
      h("p", { class: "hint" }, "The supported list comes from DescribeImportImageOs. Declare what the image contains: a mismatch with what the check finds is reported.")),
    h("fieldset", {},
      h("legend", {}, "Name and description"),
      h("div", { class: "field" },
        h("label", { for: "image-name" }, "Image name ", nameCount),
        nameInput,
        h("p", { id: "ImageName-hint", class: "hint" }, `Up to ${MAX_NAME} characters.`),
        errs.ImageName = h("p", { id: "ImageName-error", class: "field-error", "aria-live": "polite" })),
      h("div", { class: "field" },
        h("label", { for: "image-description" }, "Description (optional) ", descCount),
        descInput,
        h("p", { id: "ImageDescription-hint", class: "hint" }, `Up to ${MAX_DESCRIPTION} characters.`),
        errs.ImageDescription = h("p", { id: "ImageDescription-error", class: "field-error", "aria-live": "polite" }))),
    h("fieldset", {},
      h("legend", {}, "Force import"),
      h("div", { class: "field checkbox" }, force, h("label", { for: "force" }, "Force import")),
      h("p", { id: "force-explained", class: "hint" },
        "Force skips the checks for virtio drivers (R-VIRTIO) and for cloud-init / cloudbase-init (R-CLOUDINIT). Use it only when cloud-init cannot be installed in the image: instances created from it are then not configured at first boot, and you must configure each instance yourself (network, password or SSH key, hostname). Format, size, partitioning and OS rules are never waived.")),
    h("fieldset", {},
      h("legend", {}, "Boot test"),
      h("div", { class: "field checkbox" }, bootTest, h("label", { for: "boot-test" }, "Boot the converted image before it becomes NORMAL")),
      h("p", { id: "boot-test-explained", class: "hint" },
        "The import boots the image under QEMU as the cloud runs it (virtio disk and NIC, serial console, a NoCloud seed) and waits for cloud-init's final stage (R-BOOT). A boot that fails ends the import with its error code and the serial console. It adds minutes to the import; Windows images are not booted. Left unticked, the service's default applies.")),
    regionBox,
    h("div", { class: "actions" }, checkBtn, importBtn),
    st);
  const hints = { ImageUrl: true, ImageName: true, ImageDescription: true };
  for (const [k, el] of Object.entries(controls)) el.setAttribute("aria-describedby", `${hints[k] ? `${k}-hint ` : ""}${k}-error`);
  form.addEventListener("submit", (e) => { e.preventDefault(); send(false); });

  ctx.main.append(
    h("h1", {}, "Import an image"),
    h("p", {}, "Check the uploaded image against every import rule first — nothing is imported — then start the import. It runs in the background; follow it on the Images page and read the result in the message centre (R-FLOW-FORM, R-FLOW-ASYNC)."),
    form, out);
  counters();

  const bucket = params.get("bucket");
  const key = params.get("key");
  await loadBuckets(bucket, key);
  if (bucket && key && pickBucket.value === bucket && pickKey.value === key) {
    await pick(true);
    if (!nameInput.value) {
      nameInput.value = key.replace(/\.[^.]*$/, "").replace(/[^\p{L}\p{N}._-]+/gu, "-").slice(0, MAX_NAME);
      counters();
    }
    if (params.get("check") === "1") {
      const { first } = check(["OsType", "OsVersion", "Architecture"]);
      if (first) {
        first.focus();
        st.textContent = "Choose the operating system, its version and architecture, then press Check image.";
      } else {
        await send(true);
      }
    }
  }
  return null;
}
