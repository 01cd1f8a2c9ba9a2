// Sign-in: an account's SecretId and SecretKey (as `imgport serve` printed them on
// first start, or `imgport account create` made them) and a region. The key stays in
// this tab's sessionStorage; the console proves it by signing a DescribeImportImageOs
// call, and shows the server's refusal verbatim.

import { Api } from "../api.js";
import { implementation } from "../crypto.js";
import { errorBox, h, replace, status } from "../ui.js";

export async function render(ctx) {
  const out = h("div", { id: "signin-result" });
  const st = status();
  const form = h("form", { class: "card narrow", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "secret-id" }, "SecretId"),
      h("input", { id: "secret-id", name: "secretId", autocomplete: "username", required: true, spellcheck: "false", autocapitalize: "off" })),
    h("div", { class: "field" },
      h("label", { for: "secret-key" }, "SecretKey"),
      h("input", { id: "secret-key", name: "secretKey", type: "password", autocomplete: "current-password", required: true, spellcheck: "false" })),
    h("div", { class: "field" },
      h("label", { for: "signin-region" }, "Region"),
      h("select", { id: "signin-region", name: "region" },
        ctx.config.Regions.map((r) => h("option", { value: r, selected: r === ctx.config.Region }, r)))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
    st, out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(out);
    const secretId = form.secretId.value.trim();
    const secretKey = form.secretKey.value.trim();
    const region = form.region.value;
    if (!secretId || !secretKey) {
      out.append(h("p", { class: "error", role: "alert" }, "Enter both the SecretId and the SecretKey."));
      (secretId ? form.secretKey : form.secretId).focus();
      return;
    }
    st.textContent = "Checking the key…";
    const session = { secretId, secretKey, region };
    try {
      await new Api(session, ctx.config).call("DescribeImportImageOs", {});
    } catch (err) {
      st.textContent = "";
      out.append(errorBox(err, "Sign-in refused"));
      return;
    }
    st.textContent = "Signed in.";
    ctx.signIn(session);
    const next = ctx.params.get("next");
    ctx.navigate(`/console/${/^[a-z]+$/.test(next || "") ? next : "buckets"}`, { replaceState: true });
  });
  ctx.main.append(
    h("h1", {}, "Sign in to the imgport console"),
    h("p", {}, "Use an account's SecretId and SecretKey: the first start of ",
      h("code", {}, "imgport serve"), " prints the admin account's; ",
      h("code", {}, "imgport account create NAME"), " makes more. The key stays in this browser tab and signs every request (TC3-HMAC-SHA256 for the cloud API, SigV4 for object storage); it is never sent."),
    form,
    h("p", { class: "hint" }, `Signatures are computed with ${implementation === "WebCrypto" ? "the browser's WebCrypto" : "the console's built-in SHA-256 (this page is not a secure context, so WebCrypto is unavailable)"}.`),
  );
  return null;
}
