// The chat page: live stream, optimistic sending, dedupe, retry.
// All user-supplied text goes into the page with textContent, never as HTML.

import { FlychatStream, STATES } from "./flychat-events.js";
import { newProvisionalId, rememberNickname, validateText } from "./common.js";
import { RoomPresence } from "./presence.js";

const body = document.body;
const room = body.dataset.room;
const user = body.dataset.user;
const auth = body.dataset.auth === "on";
const sub = body.dataset.sub || "";
const initialLastId = Number.parseInt(body.dataset.lastId, 10) || 0;
const maxTextLength = Number.parseInt(body.dataset.maxTextLength, 10) || 4000;
const presenceTtl = Number.parseFloat(body.dataset.presenceTtl) || 60;
const apiUrl = `/rooms/${encodeURIComponent(room)}/messages/`;

const log = document.getElementById("log");
const list = document.getElementById("messages");
const jump = document.getElementById("jump");
const notice = document.getElementById("notice");
const statusEl = document.getElementById("status");
const form = document.getElementById("composer");
const input = document.getElementById("text");
const counter = document.getElementById("counter");
const signedOutEl = document.getElementById("signed-out");
const olderButton = document.getElementById("older");

const presence = new RoomPresence({
  room,
  user,
  ttlSeconds: presenceTtl,
  countEl: document.getElementById("presence-count"),
  namesEl: document.getElementById("presence-names"),
  typingEl: document.getElementById("typing"),
});

const POST_TIMEOUT_MS = 15000;
const STALE_PROVISIONAL_MS = 30000;
const NEAR_BOTTOM_PX = 48;

const byId = new Map(); // durable id -> <li>
const byPid = new Map(); // provisionalId -> <li>
const outbox = new Map(); // provisionalId -> { text } for our own unconfirmed messages

// ---- rendering -------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

function setTime(el, iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return;
  const today = new Date().toDateString() === date.toDateString();
  el.dateTime = iso;
  el.textContent = (today ? timeFormat : dayTimeFormat).format(date);
  el.title = fullFormat.format(date);
}

// Well-separated hues, so that two names rarely get similar colours.
const HUES = [215, 355, 145, 275, 22, 185, 320, 245];

function nameHue(name) {
  let hash = 0x811c9dc5; // FNV-1a
  for (const ch of name) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return HUES[hash % HUES.length];
}

function decorate(li) {
  const from = li.querySelector(".msg-from");
  if (from) li.style.setProperty("--hue", String(nameHue(from.textContent)));
  const time = li.querySelector("time");
  if (time) setTime(time, time.getAttribute("datetime"));
}

function isMine(msg) {
  return auth ? msg.user === sub : msg.from === user;
}

function buildMessage(msg) {
  const li = document.createElement("li");
  li.className = "msg";
  if (isMine(msg)) li.classList.add("mine");
  li.dataset.provisionalId = msg.provisionalId;
  const meta = document.createElement("div");
  meta.className = "msg-meta";
  const from = document.createElement("span");
  from.className = "msg-from";
  from.textContent = msg.from;
  const time = document.createElement("time");
  meta.append(from, time);
  const text = document.createElement("p");
  text.className = "msg-text";
  text.textContent = msg.text;
  li.append(meta, text);
  setTime(time, msg.date);
  decorate(li);
  return li;
}

function setStatus(li, status, reason = "", retryable = false) {
  li.dataset.status = status;
  li.querySelector(".msg-state")?.remove();
  li.removeAttribute("aria-busy");
  if (status === "sent") return;
  if (status === "pending") {
    // Shown by the stylesheet next to the time: no extra line, so nothing moves when it is sent.
    li.setAttribute("aria-busy", "true");
    return;
  }
  const state = document.createElement("div");
  state.className = "msg-state";
  const label = document.createElement("span");
  label.textContent = reason || "Not sent.";
  state.append(label);
  state.append(retryable ? actionButton("Retry", "retry") : actionButton("Edit", "edit"));
  state.append(actionButton("Discard", "discard"));
  li.append(state);
}

function actionButton(label, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `msg-action msg-${action}`;
  button.dataset.action = action;
  button.textContent = label;
  return button;
}

function isDurable(li) {
  return li.dataset.id !== undefined && li.dataset.id !== "";
}

/** Put a durable message in id order, before any message that is still pending. */
function placeDurable(li, id) {
  let after = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (node !== li && isDurable(node) && Number(node.dataset.id) < id) {
      after = node;
      break;
    }
  }
  const target = after ? after.nextElementSibling : list.firstElementChild;
  if (target === li) return;
  if (li.isConnected && target && target.previousElementSibling === li) return;
  list.insertBefore(li, target);
}

// ---- scrolling -------------------------------------------------------------

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  log.scrollTop = log.scrollHeight;
  jump.hidden = true;
}

/** Run a DOM change, then keep the view pinned to the bottom if it was there. */
function changeLog(change, { force = false, announce = true } = {}) {
  const pinned = nearBottom();
  change();
  if (pinned || force) scrollToBottom();
  else if (announce) jump.hidden = false;
}

let pinned = true; // the user has not scrolled up
log.addEventListener("scroll", () => {
  pinned = nearBottom();
  if (pinned) jump.hidden = true;
});
jump.addEventListener("click", () => {
  scrollToBottom();
  input.focus();
});
new ResizeObserver(() => {
  if (pinned) scrollToBottom();
}).observe(log);

// ---- notices and connection state -------------------------------------------

let noticeTimer = null;
function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    notice.hidden = true;
  }, 6000);
}

const STATE_LABELS = {
  [STATES.SIGNED_OUT]: "Signed out",
  [STATES.CONNECTING]: "Connecting…",
  [STATES.CONNECTED]: "Connected",
  [STATES.RECONNECTING]: "Reconnecting…",
  [STATES.OFFLINE]: "Offline",
};

/** The token expired or was refused: say so once, and stop sending and streaming. */
function signOut() {
  if (!signedOutEl.hidden) return;
  signedOutEl.hidden = false;
  form.querySelector("button[type=submit]").disabled = true;
  input.disabled = true;
  stream.close();
  presence.leave();
  showState(STATES.SIGNED_OUT);
}

async function probeSignedOut() {
  const response = await fetch(`${apiUrl}?limit=1`, { headers: { Accept: "application/json" } });
  return response.status === 401;
}

function showState(state) {
  statusEl.dataset.state = state;
  statusEl.querySelector(".status-text").textContent = STATE_LABELS[state] || state;
}

// ---- stream events -----------------------------------------------------------

function onDurable(msg) {
  const known = byId.get(msg.id);
  if (known) {
    if (known.dataset.status !== "sent") setStatus(known, "sent");
    return;
  }
  let li = byPid.get(msg.provisionalId);
  const mine = li && outbox.has(msg.provisionalId);
  changeLog(
    () => {
      if (!li) li = buildMessage(msg);
      li.dataset.id = String(msg.id);
      const time = li.querySelector("time");
      if (time) setTime(time, msg.date);
      setStatus(li, "sent");
      placeDurable(li, msg.id);
    },
    { announce: !mine },
  );
  byId.set(msg.id, li);
  byPid.set(msg.provisionalId, li);
  outbox.delete(msg.provisionalId);
}

function onProvisional(msg) {
  if (byPid.has(msg.provisionalId)) return;
  const li = buildMessage(msg);
  setStatus(li, "pending");
  changeLog(() => list.append(li));
  byPid.set(msg.provisionalId, li);
  // A provisional message whose durable event never comes (its sender's
  // process died before storing it) is dropped after a while.
  setTimeout(() => {
    if (byPid.get(msg.provisionalId) === li && !isDurable(li) && !outbox.has(msg.provisionalId)) {
      li.remove();
      byPid.delete(msg.provisionalId);
    }
  }, STALE_PROVISIONAL_MS);
}

function onRetraction(provisionalId) {
  const li = byPid.get(provisionalId);
  if (!li || isDurable(li)) return;
  if (outbox.has(provisionalId)) {
    setStatus(li, "failed", "Not sent: the server could not store it.", true);
    return;
  }
  const from = li.querySelector(".msg-from")?.textContent || "someone";
  li.remove();
  byPid.delete(provisionalId);
  showNotice(`A message from ${from} could not be stored and was withdrawn.`);
}

function onReset() {
  // The server's history no longer matches ours: drop it and re-render from
  // the messages that follow. Our own unconfirmed messages stay at the end.
  for (const li of [...list.children]) {
    if (!outbox.has(li.dataset.provisionalId)) li.remove();
  }
  byId.clear();
  for (const pid of [...byPid.keys()]) {
    if (!outbox.has(pid)) byPid.delete(pid);
  }
  showNotice("The chat history was reset by the server.");
}

function onEvent(type, data) {
  presence.onEvent(type, data);
  if (type === "message") {
    if (data.retracted === true) onRetraction(data.provisionalId);
    else if (Number.isInteger(data.id)) onDurable(data);
    else if (typeof data.provisionalId === "string") onProvisional(data);
  } else if (type === "stream-reset") {
    onReset();
  }
}

// ---- sending -----------------------------------------------------------------

function describeFailure(status, body) {
  const why = body && typeof body.error === "string" ? body.error : "";
  if (status === 503) return "Not sent: the server is unavailable.";
  if (status >= 500) return `Not sent: server error (${status}).`;
  return why ? `Not sent: ${why}` : `Not sent: rejected (${status}).`;
}

async function post(provisionalId) {
  const entry = outbox.get(provisionalId);
  const li = byPid.get(provisionalId);
  if (!entry || !li || isDurable(li)) return;
  setStatus(li, "pending");
  let response;
  try {
    response = await fetch(apiUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(auth ? { text: entry.text, provisionalId } : { from: user, text: entry.text, provisionalId }),
      signal: AbortSignal.timeout(POST_TIMEOUT_MS),
    });
  } catch {
    if (!isDurable(li)) setStatus(li, "failed", "Not sent: network error.", true);
    return;
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok && data && Number.isInteger(data.id)) {
    onDurable(data);
    return;
  }
  if (isDurable(li)) return; // the stream already confirmed it
  if (auth && response.status === 401) {
    setStatus(li, "failed", "Not sent: you are signed out.", true);
    signOut();
    return;
  }
  const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
  setStatus(li, "failed", describeFailure(response.status, data), retryable || response.ok);
}

function send(text) {
  const provisionalId = newProvisionalId();
  const li = buildMessage({ provisionalId, from: user, user: sub, text, date: new Date().toISOString() });
  li.classList.add("mine");
  setStatus(li, "pending");
  outbox.set(provisionalId, { text });
  byPid.set(provisionalId, li);
  changeLog(() => list.append(li), { force: true });
  post(provisionalId);
}

list.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const li = button.closest("li.msg");
  const provisionalId = li?.dataset.provisionalId;
  if (!provisionalId || isDurable(li)) return;
  if (button.dataset.action === "retry") {
    post(provisionalId); // same provisionalId: the server stores it at most once
  } else {
    // Edit puts the text back into the composer (the server refused it as it was).
    if (button.dataset.action === "edit" && !input.value.trim()) {
      input.value = outbox.get(provisionalId)?.text ?? "";
      resizeInput();
      updateCounter();
    }
    outbox.delete(provisionalId);
    byPid.delete(provisionalId);
    li.remove();
    input.focus();
  }
});

// ---- composer ------------------------------------------------------------------

function resizeInput() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

function updateCounter() {
  const length = [...input.value].length;
  const remaining = maxTextLength - length;
  counter.hidden = remaining > Math.min(200, maxTextLength / 5);
  counter.textContent = remaining >= 0 ? `${remaining} left` : `${-remaining} too many`;
  counter.classList.toggle("over", remaining < 0);
}

function submit() {
  const text = input.value;
  const problem = validateText(text, maxTextLength);
  if (problem) {
    if (text.trim()) showNotice(problem);
    input.focus();
    return;
  }
  presence.stopTyping();
  send(text);
  input.value = "";
  resizeInput();
  updateCounter();
  input.focus();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    submit();
  }
});
input.addEventListener("input", () => {
  resizeInput();
  updateCounter();
  if (input.value.trim()) presence.typing();
  else presence.stopTyping();
});
input.addEventListener("blur", () => presence.stopTyping());

// ---- older messages ----------------------------------------------------------------

let loadingOlder = false;

function oldestShownId() {
  for (const li of list.children) {
    if (isDurable(li)) return Number(li.dataset.id);
  }
  return null;
}

function updateOlderButton() {
  const oldest = oldestShownId();
  olderButton.hidden = oldest === null || oldest <= 1;
}

/** Page back with before=, keeping what the user looks at where it is. */
async function loadOlder() {
  const oldest = oldestShownId();
  if (loadingOlder || oldest === null || oldest <= 1) return;
  loadingOlder = true;
  olderButton.disabled = true;
  try {
    const response = await fetch(`${apiUrl}?before=${oldest}&limit=50`, {
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(String(response.status));
    const page = await response.json();
    const fromBottom = log.scrollHeight - log.scrollTop;
    const first = list.firstElementChild;
    let added = 0;
    for (const msg of page.messages) {
      if (!Number.isInteger(msg.id) || byId.has(msg.id) || byPid.has(msg.provisionalId)) continue;
      const li = buildMessage(msg);
      li.dataset.id = String(msg.id);
      setStatus(li, "sent");
      list.insertBefore(li, first);
      byId.set(msg.id, li);
      byPid.set(msg.provisionalId, li);
      added += 1;
    }
    log.scrollTop = log.scrollHeight - fromBottom;
    if (added === 0) olderButton.hidden = true;
    else updateOlderButton();
  } catch {
    showNotice("Could not load older messages.");
  } finally {
    loadingOlder = false;
    olderButton.disabled = false;
  }
}

olderButton.addEventListener("click", loadOlder);
log.addEventListener("scroll", () => {
  if (log.scrollTop < 40 && !olderButton.hidden) loadOlder();
});

// ---- start -----------------------------------------------------------------------

for (const li of list.querySelectorAll("li.msg")) {
  decorate(li);
  byId.set(Number(li.dataset.id), li);
  byPid.set(li.dataset.provisionalId, li);
}
for (const el of document.querySelectorAll(".me")) {
  el.style.setProperty("--hue", String(nameHue(el.textContent)));
}
if (!auth) rememberNickname(user);
scrollToBottom();
updateCounter();
updateOlderButton();
presence.start();

const stream = new FlychatStream(apiUrl, {
  lastEventId: initialLastId,
  onEvent,
  onState: (state) => {
    showState(state);
    if (state === STATES.SIGNED_OUT) signOut();
  },
  signedOut: auth ? probeSignedOut : null,
});
stream.start();
window.addEventListener("pagehide", () => {
  presence.leave();
  stream.close();
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted) {
    stream.start();
    presence.resume();
  }
});
