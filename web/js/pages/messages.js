// Message centre (R-FLOW-ASYNC): every import's success or failure arrives as an
// in-site message to the account's users who are subscribed to the image-import
// notices — unsubscribed users get none. Unread count, list (DescribeMessages), read
// (ReadMessage), and the subscription (DescribeSubscription / ModifySubscription),
// per user of the account.

import { announce, badge, errorBox, h, replace, status, time } from "../ui.js";

const PAGE = 20;
const USER_KEY = "imgport.messageUser";

export async function render(ctx) {
  const { api } = ctx;
  let user = sessionStorage.getItem(USER_KEY) || "";
  let offset = 0;
  const userInput = h("input", { id: "message-user", spellcheck: "false", autocapitalize: "off", "aria-describedby": "message-user-hint" });
  const subOut = h("section", { id: "subscription", "aria-labelledby": "sub-h" });
  const listOut = h("section", { id: "messages", "aria-labelledby": "msg-h" });
  const unreadOnly = h("input", { type: "checkbox", id: "unread-only" });
  const msg = h("div", { id: "messages-message", "aria-live": "polite" });

  const params = () => (user ? { UserName: user } : {});

  // Answers to superseded requests (another user chosen meanwhile) are dropped.
  let subGen = 0;
  let listGen = 0;

  async function loadSubscription() {
    const gen = ++subGen;
    let r;
    try {
      r = await api.call("DescribeSubscription", params());
      if (gen !== subGen) return;
    } catch (err) {
      if (gen !== subGen) return;
      replace(subOut, h("h2", { id: "sub-h" }, "Subscription"), errorBox(err, "The subscription could not be read"));
      return;
    }
    const who = r.UserName;
    const box = h("input", { type: "checkbox", id: "subscribed", checked: r.Subscribed });
    const hook = h("input", { id: "webhook-url", value: r.WebhookUrl || "", spellcheck: "false", inputmode: "url", "aria-describedby": "webhook-hint" });
    const out = h("div", { "aria-live": "polite" });
    const statement = r.Subscribed
      ? h("p", { id: "subscription-state", class: "ok" }, `${who} is subscribed to the image-import notices (topic ${r.Topic}): the success or failure of every import of this account arrives here.`)
      : h("p", { id: "subscription-state", class: "notice" }, h("strong", {}, `${who} is not subscribed: ${who} receives no messages`),
        " about imports — none in the message centre and none by webhook (R-FLOW-ASYNC). Subscribe to receive them; past imports are not sent again.");
    const form = h("form", { class: "card", novalidate: true },
      statement,
      h("div", { class: "field checkbox" }, box, h("label", { for: "subscribed" }, `Send ${who} the image-import notices (success and failure of every import)`)),
      h("div", { class: "field" },
        h("label", { for: "webhook-url" }, "Webhook URL (optional)"),
        hook,
        h("p", { id: "webhook-hint", class: "hint" }, "Each message is also POSTed there as JSON. This service accepts only plain-HTTP targets (HOST:PORT) its operator allows — none by default. Leave empty for none.")),
      h("div", { class: "actions" }, h("button", { type: "submit", id: "save-subscription" }, "Save subscription")),
      out);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api.call("ModifySubscription", { ...params(), Subscribed: box.checked, WebhookUrl: hook.value.trim() });
      } catch (err) {
        replace(out, errorBox(err, "The subscription was not changed"));
        return;
      }
      announce(box.checked ? `${who} is subscribed` : `${who} is unsubscribed and receives no messages`);
      await loadSubscription();
      const state = document.getElementById("subscription-state");
      if (state) {
        state.setAttribute("tabindex", "-1");
        state.focus();
      }
    });
    replace(subOut, h("h2", { id: "sub-h" }, `Subscription of ${who}`), form);
  }

  async function read(ids) {
    try {
      await api.call("ReadMessage", { ...params(), MessageIds: ids });
    } catch (err) {
      replace(msg, errorBox(err, "The message was not marked as read"));
      return;
    }
    announce(ids.length === 1 ? "Marked as read" : `${ids.length} messages marked as read`);
    await loadMessages();
  }

  async function loadMessages() {
    const gen = ++listGen;
    let r;
    try {
      r = await api.call("DescribeMessages", { ...params(), UnreadOnly: unreadOnly.checked, Offset: offset, Limit: PAGE });
      if (gen !== listGen) return;
    } catch (err) {
      if (gen !== listGen) return;
      replace(listOut, h("h2", { id: "msg-h" }, "Messages"), errorBox(err, "The messages could not be listed"));
      return;
    }
    // Show the owner's name in an empty field, but never over what the person is typing.
    if (!user && !edited) userInput.value = r.UserName;
    if (!user || user === r.UserName) ctx.setUnread(r.UnreadCount || 0);
    const msgs = r.MessageSet || [];
    const unreadHere = msgs.filter((m) => !m.IsRead).map((m) => m.MessageId);
    const pager = r.TotalCount > PAGE ? h("div", { class: "actions" },
      h("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); loadMessages(); } }, "Newer"),
      h("span", {}, `${offset + 1}–${offset + msgs.length} of ${r.TotalCount}`),
      h("button", { type: "button", disabled: offset + PAGE >= r.TotalCount, onclick: () => { offset += PAGE; loadMessages(); } }, "Older")) : null;
    replace(listOut,
      h("h2", { id: "msg-h" }, `Messages of ${r.UserName}`),
      h("p", { id: "unread-count", role: "status" }, `${r.UnreadCount} unread`, ` · ${r.TotalCount} ${unreadOnly.checked ? "unread " : ""}message${r.TotalCount === 1 ? "" : "s"}`),
      h("div", { class: "toolbar" },
        h("div", { class: "field checkbox" }, unreadOnly, h("label", { for: "unread-only" }, "Unread only")),
        unreadHere.length ? h("button", { type: "button", id: "read-all", onclick: () => read(unreadHere) }, "Mark these as read") : null),
      msgs.length ? h("ol", { class: "messages", id: "message-list" }, msgs.map((m) => h("li", {},
        h("article", { class: m.IsRead ? "message" : "message unread", "data-message-id": m.MessageId, "aria-labelledby": `m-${m.MessageId}` },
          h("h3", { id: `m-${m.MessageId}` }, m.IsRead ? null : [badge("Unread", "info"), " "], m.Title),
          h("p", { class: "meta" }, time(m.CreatedTime),
            m.ImageId ? [" · image ", h("code", {}, m.ImageId)] : null,
            m.ErrorCode ? [" · ", h("code", { class: "error-code" }, m.ErrorCode)] : [" · ", badge("success", "ok")]),
          h("p", { class: "content" }, m.Content),
          m.IsRead ? null : h("button", { type: "button", "aria-label": `Mark as read: ${m.Title}`, onclick: () => read([m.MessageId]) }, "Mark as read")))))
        : h("p", { id: "no-messages" }, unreadOnly.checked ? "No unread messages." : `No messages for ${r.UserName}.`),
      pager);
  }

  const userForm = h("form", { class: "toolbar", novalidate: true },
    h("div", { class: "field inline" }, h("label", { for: "message-user" }, "User"), userInput),
    h("button", { type: "submit", id: "show-user" }, "Show"),
    h("p", { id: "message-user-hint", class: "hint" }, "Each user of the account has their own messages and subscription; the account's owner user is named like the account. ",
      h("code", {}, "imgport account add-user APPID NAME"), " adds users."));
  let edited = false;
  userInput.addEventListener("input", () => { edited = true; });
  userForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    edited = false;
    user = userInput.value.trim();
    if (user) sessionStorage.setItem(USER_KEY, user);
    else sessionStorage.removeItem(USER_KEY);
    offset = 0;
    replace(msg);
    await Promise.all([loadSubscription(), loadMessages()]);
  });
  unreadOnly.addEventListener("change", () => { offset = 0; loadMessages(); });

  userInput.value = user;
  ctx.main.append(
    h("h1", {}, "Message centre"),
    h("p", {}, "The result of every import — success, or failure with the error code, its cause and the fix — arrives here for the users subscribed to the image-import notices. Users who are not subscribed receive no messages (R-FLOW-ASYNC)."),
    userForm, msg, status(), subOut, listOut);
  await Promise.all([loadSubscription(), loadMessages()]);
  const timer = setInterval(() => {
    if (document.visibilityState === "visible" && !listOut.contains(document.activeElement)) loadMessages();
  }, 10000);
  return () => clearInterval(timer);
}
