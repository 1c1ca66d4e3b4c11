// Who is here (heartbeats, a live count and the names) and who is typing.
// Names go into the page with textContent only.

const TYPING_EVERY_MS = 2000; // the server coalesces repeats within 2 s anyway
const TYPING_IDLE_MS = 5000;

export class RoomPresence {
  /**
   * @param {object} options
   * @param {string} options.room
   * @param {string} options.user
   * @param {number} options.ttlSeconds the server's FLYCHAT_PRESENCE_TTL
   * @param {HTMLElement} options.countEl
   * @param {HTMLElement} options.namesEl
   * @param {HTMLElement} options.typingEl
   */
  constructor({ room, user, ttlSeconds, countEl, namesEl, typingEl }) {
    this.user = user;
    this.base = `/rooms/${encodeURIComponent(room)}`;
    this.beatEveryMs = Math.max(1000, (ttlSeconds * 1000) / 2);
    this.countEl = countEl;
    this.namesEl = namesEl;
    this.typingEl = typingEl;
    this.members = new Set();
    this.typists = new Map(); // name -> timer that hides them
    this.beatTimer = null;
    this.typingSentAt = 0;
    this.typingShown = false;
    this.idleTimer = null;
    this.left = false;
  }

  start() {
    this.left = false;
    document.addEventListener("visibilitychange", () => this._visibility());
    this._visibility();
  }

  /** Leave at once (page closing): a beacon survives the page going away. */
  leave() {
    if (this.left) return;
    this.left = true;
    clearInterval(this.beatTimer);
    this.beatTimer = null;
    const body = new URLSearchParams({ from: this.user, leave: "true" });
    if (!navigator.sendBeacon?.(`${this.base}/presence`, body)) {
      fetch(`${this.base}/presence`, { method: "POST", body, keepalive: true }).catch(() => {});
    }
  }

  /** Resume after the page came back from the back/forward cache. */
  resume() {
    this.left = false;
    this._visibility();
  }

  /** The stream's events that concern presence and typing. */
  onEvent(type, data) {
    if (type === "presence" && typeof data.from === "string") {
      if (data.present === true) this.members.add(data.from);
      else if (data.present === false) this.members.delete(data.from);
      this._renderMembers();
    } else if (type === "typing" && typeof data.from === "string" && data.from !== this.user) {
      if (data.typing === true) this._showTypist(data.from, Number(data.seconds) || 6);
      else this._hideTypist(data.from);
    } else if (type === "message" && typeof data.from === "string") {
      this._hideTypist(data.from);
    } else if (type === "stream-open") {
      this.refresh();
    }
  }

  /** Fetch the member list (after a reconnect, events may have been missed). */
  async refresh() {
    try {
      const response = await fetch(`${this.base}/presence`, { headers: { Accept: "application/json" } });
      if (response.ok) this._setMembers(await response.json());
    } catch {
      // the next heartbeat answers the list again
    }
  }

  /** The user typed: tell the room, at most every 2 s; stop after 5 s idle. */
  typing() {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
    const now = Date.now();
    if (this.typingShown && now - this.typingSentAt < TYPING_EVERY_MS) return;
    this.typingSentAt = now;
    this.typingShown = true;
    this._sendTyping(true);
  }

  /** Sent, blurred or idle: tell the room we stopped (only if we said we were typing). */
  stopTyping() {
    clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (!this.typingShown) return;
    this.typingShown = false;
    this.typingSentAt = 0;
    this._sendTyping(false);
  }

  _sendTyping(typing) {
    fetch(`${this.base}/typing`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ from: this.user, typing }),
    }).catch(() => {});
  }

  _visibility() {
    if (this.left) return;
    clearInterval(this.beatTimer);
    this.beatTimer = null;
    if (document.visibilityState !== "visible") return;
    this._beat();
    this.beatTimer = setInterval(() => this._beat(), this.beatEveryMs);
  }

  async _beat() {
    try {
      const response = await fetch(`${this.base}/presence`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ from: this.user }),
      });
      if (response.ok && !this.left) this._setMembers(await response.json());
    } catch {
      // offline: the next heartbeat tries again
    }
  }

  _setMembers(answer) {
    if (!answer || !Array.isArray(answer.members)) return;
    this.members = new Set(answer.members.map((m) => m.from).filter((f) => typeof f === "string"));
    this._renderMembers();
  }

  _renderMembers() {
    const names = [...this.members].sort();
    this.countEl.textContent = String(names.length);
    this.namesEl.textContent = names.join(", ");
    this.namesEl.title = names.join(", ");
  }

  _showTypist(name, seconds) {
    clearTimeout(this.typists.get(name));
    this.typists.set(name, setTimeout(() => this._hideTypist(name), seconds * 1000));
    this._renderTyping();
  }

  _hideTypist(name) {
    if (!this.typists.has(name)) return;
    clearTimeout(this.typists.get(name));
    this.typists.delete(name);
    this._renderTyping();
  }

  _renderTyping() {
    const names = [...this.typists.keys()];
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    this.typingEl.textContent = text;
    this.typingEl.hidden = names.length === 0;
  }
}
