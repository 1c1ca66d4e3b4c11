// A small wrapper around EventSource for flychat streams.
//
// - While the browser reconnects by itself (readyState CONNECTING) it sends
//   Last-Event-ID, so the wrapper just reports "reconnecting".
// - When the browser gives up (readyState CLOSED, e.g. a proxy answered 502),
//   the wrapper opens a new EventSource itself, after an exponential backoff,
//   with ?lastEventId= set to the last durable id it has seen.
// - With a signedOut probe (auth on), a stream the browser gave up on is first
//   checked: when the probe says the user is signed out (401), the wrapper stops
//   and reports "signed-out" instead of retrying forever.
// - It reports a connection state: connecting, connected, reconnecting, offline, signed-out.

const EVENT_TYPES = ["stream-open", "message", "stream-reset", "typing", "presence"];

export const STATES = Object.freeze({
  CONNECTING: "connecting",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  OFFLINE: "offline",
  SIGNED_OUT: "signed-out",
});

export class FlychatStream {
  /**
   * @param {string} url the stream URL, without a query string
   * @param {object} options
   * @param {number} options.lastEventId resume position: the last durable id already shown
   * @param {(type: string, data: object, id: string) => void} options.onEvent
   * @param {(state: string) => void} options.onState
   * @param {() => Promise<boolean>} [options.signedOut] resolves true when the user is signed out
   */
  constructor(url, options = {}) {
    this.url = url;
    this.lastEventId = Number.isInteger(options.lastEventId) ? options.lastEventId : null;
    this.onEvent = options.onEvent || (() => {});
    this.onState = options.onState || (() => {});
    this.signedOut = options.signedOut || null;
    this.minDelay = options.minDelay ?? 500;
    this.maxDelay = options.maxDelay ?? 15000;
    this.offlineAfter = options.offlineAfter ?? 4;
    this.failures = 0;
    this.source = null;
    this.timer = null;
    this.state = null;
    this.stopped = false;
    this._onOnline = () => this._online();
    this._onOffline = () => this._setState(STATES.OFFLINE);
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this._onOnline);
    window.addEventListener("offline", this._onOffline);
    this._setState(STATES.CONNECTING);
    this._open();
  }

  close() {
    this.stopped = true;
    window.removeEventListener("online", this._onOnline);
    window.removeEventListener("offline", this._onOffline);
    clearTimeout(this.timer);
    this.timer = null;
    if (this.source) this.source.close();
    this.source = null;
  }

  _open() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.source) this.source.close();
    const query = this.lastEventId === null ? "" : `?lastEventId=${this.lastEventId}`;
    const source = new EventSource(this.url + query);
    this.source = source;
    source.onopen = () => {
      if (source !== this.source) return;
      this.failures = 0;
      this._setState(STATES.CONNECTED);
    };
    source.onerror = () => this._error(source);
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => this._dispatch(source, type, event));
    }
  }

  _dispatch(source, type, event) {
    if (source !== this.source) return;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (type === "message" && Number.isInteger(data.id)) {
      this.lastEventId = data.id;
    } else if (type === "stream-reset") {
      const id = Number.isInteger(data.lastEventId) ? data.lastEventId : Number(event.lastEventId);
      if (Number.isInteger(id)) this.lastEventId = id;
    }
    if (type === "stream-open") {
      this.failures = 0;
      this._setState(STATES.CONNECTED);
    }
    this.onEvent(type, data, event.lastEventId);
  }

  _error(source) {
    if (source !== this.source || this.stopped) return;
    this.failures += 1;
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up: reconnect ourselves, resuming after the last durable id.
      source.close();
      if (this.signedOut) {
        this._setState(this._downState());
        this._checkSignedOut(source);
        return;
      }
      this._retryLater();
    }
    this._setState(this._downState());
  }

  async _checkSignedOut(source) {
    let out = false;
    try {
      out = await this.signedOut();
    } catch {
      out = false;
    }
    if (source !== this.source || this.stopped) return;
    if (out) {
      this.close();
      this._setState(STATES.SIGNED_OUT);
      return;
    }
    this._retryLater();
  }

  _retryLater() {
    const step = Math.min(this.failures - 1, 10);
    const base = Math.min(this.maxDelay, this.minDelay * 2 ** step);
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = setTimeout(() => this._open(), delay);
  }

  _downState() {
    if (navigator.onLine === false || this.failures >= this.offlineAfter) return STATES.OFFLINE;
    return STATES.RECONNECTING;
  }

  _online() {
    if (this.stopped) return;
    if (this.source && this.source.readyState === EventSource.OPEN) {
      this._setState(STATES.CONNECTED);
      return;
    }
    // Back online: try at once rather than waiting for the next scheduled attempt.
    this.failures = 0;
    this._setState(STATES.RECONNECTING);
    this._open();
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }
}
