// The console shell: configuration, session (SecretId/SecretKey in sessionStorage,
// never sent anywhere — only signatures are), header with region selector and
// navigation, history-API routing between the pages, and the unread-message badge.

import { Api } from "./api.js";
import { S3 } from "./s3.js";
import { announce, h, replace } from "./ui.js";
import * as signin from "./pages/signin.js";
import * as buckets from "./pages/buckets.js";
import * as importPage from "./pages/import.js";
import * as images from "./pages/images.js";
import * as messages from "./pages/messages.js";

const SESSION_KEY = "imgport.session";
const BASE = "/console/";

const PAGES = {
  buckets: { module: buckets, title: "Buckets and upload", nav: "Buckets" },
  import: { module: importPage, title: "Import an image", nav: "Import" },
  images: { module: images, title: "Images", nav: "Images" },
  messages: { module: messages, title: "Message centre", nav: "Messages" },
};

const app = {
  config: null,
  session: null,
  api: null,
  s3: null,
  cleanup: null,
  badgeTimer: null,
  firstRoute: true,
  /** path + query of the page on screen. */
  rendered: "",
};

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (s && typeof s.secretId === "string" && typeof s.secretKey === "string" && typeof s.region === "string") return s;
  } catch {
    // a damaged entry is the same as none
  }
  return null;
}

function saveSession(s) {
  if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION_KEY);
}

function setSession(s) {
  app.session = s;
  saveSession(s);
  app.api = s ? new Api(s, app.config) : null;
  app.s3 = s ? new S3(s, app.config.StorageUrl) : null;
}

/** The page name of a path below /console/. */
function pageOf(pathname) {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : "";
  const name = rest.split("/")[0];
  return name;
}

export function navigate(path, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

function header() {
  const bar = document.getElementById("session-bar");
  replace(bar);
  if (!app.session) return;
  const regionId = "region-select";
  const select = h("select", { id: regionId, onchange: (e) => {
    setSession({ ...app.session, region: e.target.value });
    announce(`Region is now ${e.target.value}`);
    route();
  } }, app.config.Regions.map((r) => h("option", { value: r, selected: r === app.session.region }, r)));
  bar.append(
    h("label", { for: regionId }, "Region"),
    select,
    h("span", { class: "who", title: "The SecretId you signed in with" }, app.session.secretId.slice(0, 8) + "…"),
    h("button", { type: "button", class: "link", onclick: () => {
      setSession(null);
      announce("Signed out");
      navigate(BASE + "signin");
    } }, "Sign out"),
  );
}

function nav(current) {
  const el = document.getElementById("nav");
  replace(el);
  if (!app.session) return;
  const ul = h("ul");
  for (const [name, p] of Object.entries(PAGES)) {
    const a = h("a", { href: BASE + name, "aria-current": name === current ? "page" : null }, p.nav);
    if (name === "messages") a.append(" ", h("span", { id: "unread-badge", class: "count", hidden: true }));
    a.addEventListener("click", (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(BASE + name);
    });
    ul.append(h("li", {}, a));
  }
  el.append(ul);
}

/** Show `n` unread messages on the navigation (and say so to screen readers once). */
export function setUnread(n) {
  const b = document.getElementById("unread-badge");
  if (!b) return;
  b.hidden = !n;
  b.textContent = n ? String(n) : "";
  b.setAttribute("aria-label", `${n} unread`);
}

async function refreshBadge() {
  if (!app.api) return;
  try {
    const r = await app.api.call("DescribeMessages", { UnreadOnly: true, Limit: 1 });
    setUnread(r.UnreadCount || 0);
  } catch {
    // the badge is a convenience; errors show on the message page
  }
}

async function route() {
  if (app.cleanup) {
    try { app.cleanup(); } catch { /* a page's cleanup must not stop navigation */ }
    app.cleanup = null;
  }
  let name = pageOf(location.pathname);
  const main = document.getElementById("main");
  if (!app.session) {
    if (name !== "signin") history.replaceState(null, "", BASE + "signin" + (name && PAGES[name] ? `?next=${name}` : ""));
    name = "signin";
  } else if (!PAGES[name]) {
    name = "buckets";
    history.replaceState(null, "", BASE + name + location.search);
  }
  app.rendered = location.pathname + location.search;
  header();
  nav(name);
  const ctx = {
    main, config: app.config, session: app.session, api: app.api, s3: app.s3,
    params: new URLSearchParams(location.search), navigate, setUnread, refreshBadge,
    signIn: (s) => setSession(s),
    /** Change this page's query without a new history entry or a re-render. */
    replaceQuery: (path) => {
      history.replaceState(null, "", path);
      app.rendered = location.pathname + location.search;
    },
  };
  const page = name === "signin" ? { module: signin, title: "Sign in" } : PAGES[name];
  document.title = `${page.title} · imgport console`;
  replace(main);
  main.dataset.page = name;
  try {
    app.cleanup = (await page.module.render(ctx)) || null;
  } catch (e) {
    main.append(h("p", { class: "error", role: "alert" }, `This page failed to load: ${e.message}`));
  }
  // Move focus to the new page's heading on navigation (not on the first load: there
  // focus stays at the top, where the skip link is).
  const h1 = main.querySelector("h1");
  if (h1 && !app.firstRoute) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: false });
  }
  app.firstRoute = false;
  if (app.session) refreshBadge();
}

async function start() {
  const main = document.getElementById("main");
  try {
    const r = await fetch(BASE + "config.json", { cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    app.config = await r.json();
  } catch (e) {
    replace(main, h("p", { class: "error", role: "alert" }, `The console could not load its configuration (${BASE}config.json): ${e.message}`));
    return;
  }
  const s = loadSession();
  if (s && !app.config.Regions.includes(s.region)) s.region = app.config.Region;
  setSession(s);
  // Back/forward between pages re-renders; a fragment link (the skip link) does not.
  window.addEventListener("popstate", () => {
    if (location.pathname + location.search !== app.rendered) route();
  });
  app.badgeTimer = setInterval(() => { if (document.visibilityState === "visible") refreshBadge(); }, 15000);
  await route();
}

start();
