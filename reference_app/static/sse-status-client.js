/**
 * sse-status-client.js: the browser half of the SSE status design, as one ES module with no build step.
 *
 * A framework-free equivalent of the React hook `useTranscriptionStatusSSE(sessionId, options)`:
 *
 *   import { createStatusClient } from "/static/sse-status-client.js";
 *   const client = createStatusClient(sessionId, { reconnectAttempts: 5 });
 *   const unsubscribe = client.subscribe((state) => render(state));
 *   // state: { status, connectionStatus, error, errorReason, isConnected, lastEventId }
 *   client.disconnect();   // or client.reconnect()
 *
 * Why it is written this way (docs/browser-client.md has the full story and the state diagram):
 * - The browser's own EventSource retry is used whenever it is running (readyState CONNECTING after an
 *   error): opening another stream then is the classic duplicate-connection bug. The client takes over only
 *   when the browser gave up (readyState CLOSED: a 204/401/404/502/503/524 answer or a wrong content type).
 * - EventSource hides the HTTP status of a failed connection. After a CLOSED error the client asks
 *   `GET .../status` with fetch: 401/403/404 (or 422 for a malformed id) there means the stream failed for
 *   the same reason, so it goes to `error` without a retry loop; a terminal status means the job ended
 *   (the stream's 204). A 200 means the API works and only the stream is refused (a proxy 5xx on the
 *   stream path, 429): the client shows live status by polling at once while it retries the stream on its
 *   backoff. Anything else (5xx, a network error) is transient and is retried with backoff.
 * - Every error of the stream, the browser's own retries included, spends one of `reconnectAttempts`; a
 *   successful open refills them. When they run out the client polls `GET .../status` with If-None-Match,
 *   and re-probes the stream every `sseProbeIntervalMs`.
 * - A job that ended is `finished` (not `disconnected`, which is a stop by the user or a hidden tab).
 * - Renders are batched to one per animation frame (latest state wins); the terminal status is part of the
 *   last flush, so it is never skipped.
 * - A tab hidden for longer than `hiddenGraceMs` gives its connection back; visible again, it resumes at
 *   once from the last event id and the server replays what was missed.
 */

export const ConnectionStatus = Object.freeze({
  CONNECTING: "connecting",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  POLLING: "polling",
  DISCONNECTED: "disconnected",
  FINISHED: "finished",
  ERROR: "error",
});

/** Why the client is in `error`, for a page that words or styles it (`state.errorReason`). */
export const ErrorReason = Object.freeze({
  UNAUTHORIZED: "unauthorized",
  FORBIDDEN: "forbidden",
  NOT_FOUND: "not-found",
  UNAVAILABLE: "unavailable",
});

export const TERMINAL_STATUSES = Object.freeze(["completed", "failed"]);

export const DEFAULT_OPTIONS = Object.freeze({
  /** Use the SSE stream at all (false: poll only). */
  enableSSE: true,
  /** Poll `GET .../status` when the stream cannot be used. */
  enablePollingFallback: true,
  /** Consecutive stream errors tolerated before falling back to polling. */
  reconnectAttempts: 5,
  /** Base delay (ms) of the client's own reconnects; doubled per failure, with jitter. */
  reconnectDelay: 1000,
  /** Upper bound (ms) for one backoff delay. */
  maxReconnectDelayMs: 30000,
  /** Polling period (ms) while in the `polling` state. */
  pollIntervalMs: 2000,
  /** A tab hidden this long (ms) closes its stream; 0 closes it at once. */
  hiddenGraceMs: 30000,
  /** While polling, try the stream again this often (ms). */
  sseProbeIntervalMs: 30000,
  /** Prefix of the API routes. */
  apiBase: "/api/v1",
  /** Send cookies with the stream and the polls (the API authenticates by the access_token cookie). */
  withCredentials: true,
  /** Debug hook: called with `{type, id, data}` for every `status`/`reset` event read from the wire. */
  onEvent: null,
});

const ES_CONNECTING = 0;
const ES_CLOSED = 2;
/** Flush period when no animation frames come (hidden tabs pause requestAnimationFrame). */
const HIDDEN_FLUSH_MS = 100;

const INITIAL_STATE = Object.freeze({
  status: null,
  connectionStatus: ConnectionStatus.CONNECTING,
  error: null,
  errorReason: null,
  isConnected: false,
  lastEventId: null,
});

function validateOptions(options) {
  // An option given as undefined means "the default" (what a hook passing its optional props expects).
  const given = Object.fromEntries(Object.entries(options ?? {}).filter(([, value]) => value !== undefined));
  const unknown = Object.keys(given).filter((name) => !(name in DEFAULT_OPTIONS));
  if (unknown.length > 0) {
    throw new TypeError(`unknown option(s): ${unknown.join(", ")}`);
  }
  const merged = { ...DEFAULT_OPTIONS, ...given };
  for (const name of ["enableSSE", "enablePollingFallback", "withCredentials"]) {
    if (typeof merged[name] !== "boolean") {
      throw new TypeError(`${name} must be true or false, got ${JSON.stringify(merged[name])}`);
    }
  }
  const counts = ["reconnectAttempts", "reconnectDelay", "maxReconnectDelayMs", "pollIntervalMs",
    "hiddenGraceMs", "sseProbeIntervalMs"];
  for (const name of counts) {
    const value = merged[name];
    if (!Number.isInteger(value) || value < 0) {
      throw new TypeError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
    }
  }
  if (merged.pollIntervalMs < 50) {
    throw new TypeError(`pollIntervalMs must be at least 50, got ${merged.pollIntervalMs}`);
  }
  if (merged.onEvent !== null && typeof merged.onEvent !== "function") {
    throw new TypeError("onEvent must be a function or null");
  }
  if (typeof merged.apiBase !== "string") {
    throw new TypeError("apiBase must be a string");
  }
  return Object.freeze(merged);
}

function isStatusUpdate(value) {
  return value !== null && typeof value === "object" && Number.isInteger(value.seq) &&
    typeof value.status === "string" && typeof value.progress === "number";
}

/** `{reason, message}` for an answer that retrying cannot fix, or null when retrying may help. The message
 * is for the person looking at the page: plain words and the status code, never the API's JSON body (its
 * `detail` is written for developers: "send Authorization: Bearer <token> or ..."). */
function permanentFailure(code) {
  if (code === 401) {
    return { reason: ErrorReason.UNAUTHORIZED,
      message: "Sign in first: you are not signed in, or your sign-in has expired (HTTP 401)." };
  }
  if (code === 403) {
    return { reason: ErrorReason.FORBIDDEN, message: "You are not allowed to see this session (HTTP 403)." };
  }
  if (code === 404 || code === 410 || code === 422) {
    // 422: the id in the URL is not a session id at all; to a user that is the same "no such session".
    return { reason: ErrorReason.NOT_FOUND,
      message: `No such session: it does not exist, has expired or belongs to someone else (HTTP ${code}).` };
  }
  return null;
}

export class StatusClient {
  #sessionId;
  #opts;
  #env;
  #listeners = new Set();
  #state = INITIAL_STATE;
  #pending = null;
  #flush = null; // {kind: "raf" | "timeout", handle}
  #es = null;
  #esRole = null; // "stream" | "probe"
  #timers = { reconnect: null, poll: null, probe: null, grace: null };
  #abort = null;
  #epoch = 0; // bumped by every transition that must invalidate in-flight async work
  #failures = 0;
  #mode = "sse"; // "sse" | "polling"
  #started = false;
  #stopped = false;
  #finished = false;
  #suspended = false;
  #latestSeq = -1;
  #acceptNext = false; // after `event: reset` the next status is the truth even if its seq went back
  #lastEventId = null;
  #etag = null;
  #onVisibility = () => this.#visibilityChanged();
  #onPageHide = () => this.#suspend();
  #onPageShow = (event) => { if (event.persisted && !this.#isHidden()) this.#resume(); };
  #onOnline = () => this.#probeNow();

  /**
   * @param {string} sessionId
   * @param {Partial<typeof DEFAULT_OPTIONS>} [options]
   * @param {object} [env] injection points for tests: EventSource, fetch, document, window, random
   */
  constructor(sessionId, options = {}, env = {}) {
    if (typeof sessionId !== "string" || sessionId === "") {
      throw new TypeError("sessionId must be a non-empty string");
    }
    this.#sessionId = sessionId;
    this.#opts = validateOptions(options);
    const win = env.window ?? globalThis;
    this.#env = {
      window: win,
      document: env.document ?? win.document,
      EventSource: env.EventSource === undefined ? win.EventSource : env.EventSource,
      fetch: env.fetch ?? win.fetch.bind(win),
      random: env.random ?? Math.random,
    };
  }

  get options() {
    return this.#opts;
  }

  /** The last rendered state (an immutable object, replaced on every flush). */
  getState() {
    return this.#state;
  }

  /** Call `listener(state)` after every flush; returns the unsubscribe function. */
  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Begin streaming (or polling). Idempotent: a stopped client restarts only through `reconnect()`. */
  start() {
    if (this.#started) return this;
    this.#started = true;
    this.#attachPageListeners();
    this.#begin(ConnectionStatus.CONNECTING);
    if (this.#isHidden()) this.#visibilityChanged();
    return this;
  }

  /** Start over now with a full set of attempts (after `error` or `disconnect()`); no-op once finished. */
  reconnect() {
    if (this.#finished) return;
    this.#teardown();
    this.#stopped = false;
    this.#suspended = false;
    this.#started = true;
    this.#failures = 0;
    this.#mode = "sse";
    this.#attachPageListeners();
    this.#set({ error: null, errorReason: null });
    this.#begin(ConnectionStatus.CONNECTING);
  }

  /** Release the stream, every timer and listener. Nothing reconnects afterwards (until `reconnect()`). */
  disconnect() {
    this.#stopped = true;
    this.#teardown();
    this.#set({ connectionStatus: ConnectionStatus.DISCONNECTED });
    this.#flushNow();
  }

  // ---- connection lifecycle ------------------------------------------------------------------------

  #sseUsable() {
    return this.#opts.enableSSE && typeof this.#env.EventSource === "function";
  }

  #begin(connectionStatus) {
    if (this.#mode === "sse" && this.#sseUsable()) {
      this.#openStream("stream", connectionStatus);
    } else {
      this.#fallBack(this.#sseUsable() ? "the stream is unavailable" : "SSE is disabled or unsupported");
    }
  }

  #streamUrl() {
    const base = `${this.#opts.apiBase}/sessions/${encodeURIComponent(this.#sessionId)}/status/stream`;
    // A new EventSource cannot send Last-Event-ID, so the resume point travels in the query. The browser's
    // own retries add the header with the newer id, which the server prefers.
    return this.#lastEventId === null ? base : `${base}?lastEventId=${encodeURIComponent(this.#lastEventId)}`;
  }

  #statusUrl() {
    return `${this.#opts.apiBase}/sessions/${encodeURIComponent(this.#sessionId)}/status`;
  }

  #openStream(role, connectionStatus) {
    this.#closeEventSource();
    const es = new this.#env.EventSource(this.#streamUrl(), { withCredentials: this.#opts.withCredentials });
    this.#es = es;
    this.#esRole = role;
    es.addEventListener("open", () => this.#streamOpened(es));
    es.addEventListener("status", (event) => this.#statusEvent(es, event));
    es.addEventListener("reset", (event) => this.#resetEvent(es, event));
    es.addEventListener("error", () => this.#streamError(es));
    if (role === "stream") this.#set({ connectionStatus });
  }

  #closeEventSource() {
    if (this.#es !== null) {
      this.#es.close();
      this.#es = null;
      this.#esRole = null;
    }
  }

  #streamOpened(es) {
    if (es !== this.#es) return;
    this.#failures = 0;
    if (this.#esRole === "probe") {
      // The stream works again: stop polling, the stream carries on from the polled seq.
      this.#esRole = "stream";
      this.#mode = "sse";
      this.#clearTimer("poll");
      this.#clearTimer("probe");
      this.#abortFetch();
    }
    this.#set({ connectionStatus: ConnectionStatus.CONNECTED, error: null, errorReason: null });
  }

  #streamError(es) {
    if (es !== this.#es) return;
    if (this.#esRole === "probe") {
      // The probe failed: keep polling, try again later. Never leave a probe retrying on its own. While the
      // attempts last, a failed probe spends one (the retries of a refused stream are probes, see #bridge).
      this.#closeEventSource();
      if (this.#retryingStream()) this.#failures += 1;
      this.#scheduleProbe();
      return;
    }
    this.#failures += 1;
    const spent = this.#failures > this.#opts.reconnectAttempts;
    if (es.readyState === ES_CONNECTING) {
      // The browser is already retrying (with Last-Event-ID): never open a second stream beside it.
      if (!spent) {
        this.#set({ connectionStatus: ConnectionStatus.RECONNECTING });
        return;
      }
      this.#closeEventSource();
      this.#fallBack(`the stream failed ${this.#failures} times in a row`);
      return;
    }
    // CLOSED: the browser gave up for good; find out why before retrying.
    this.#closeEventSource();
    this.#set({ connectionStatus: ConnectionStatus.RECONNECTING });
    this.#diagnose(spent);
  }

  async #diagnose(spent) {
    const epoch = this.#epoch;
    const answer = await this.#fetchStatus(null);
    if (epoch !== this.#epoch) return;
    if (answer.kind === "permanent") {
      this.#fail(answer.failure);
      return;
    }
    if (answer.kind === "ok") {
      // Shown, but not used as the resume point: the stream resumes from the last event it delivered,
      // so the replay has no gap.
      this.#apply(answer.data);
      if (this.#finished) return;
      if (!spent && this.#opts.enablePollingFallback) {
        this.#etag = answer.etag;
        this.#bridge();
        return;
      }
    }
    if (spent) this.#fallBack(`the stream failed ${this.#failures} times in a row`);
    else this.#scheduleReconnect();
  }

  /** The API answers but the stream was refused: poll now (the user sees live status within one poll
   * period, not after the whole backoff series) and keep retrying the stream on the backoff schedule as
   * probes; the first probe that opens ends polling. The diagnostic GET just made was the first poll. */
  #bridge() {
    this.#mode = "polling";
    this.#set({ connectionStatus: ConnectionStatus.POLLING });
    this.#setTimer("poll", this.#opts.pollIntervalMs, () => this.#poll());
    this.#scheduleProbe();
  }

  /** True while the stream's own attempts last: a refused stream is then retried on the backoff schedule
   * (as probes while polling), and polls leave the resume point at the last streamed event. */
  #retryingStream() {
    return this.#sseUsable() && this.#failures <= this.#opts.reconnectAttempts;
  }

  #backoffMs() {
    const exp = this.#opts.reconnectDelay * 2 ** Math.max(0, this.#failures - 1);
    const capped = Math.min(this.#opts.maxReconnectDelayMs, exp);
    // "Equal jitter": at least half the delay, so a crowd of clients spreads out but none retries at once.
    return Math.round(capped / 2 + (this.#env.random() * capped) / 2);
  }

  #scheduleReconnect() {
    this.#setTimer("reconnect", this.#backoffMs(), () => {
      this.#openStream("stream", ConnectionStatus.RECONNECTING);
    });
  }

  #fallBack(reason) {
    if (!this.#opts.enablePollingFallback) {
      this.#fail({ reason: ErrorReason.UNAVAILABLE,
        message: `Live updates are unavailable (${reason}) and polling is turned off.` });
      return;
    }
    this.#mode = "polling";
    this.#set({ connectionStatus: ConnectionStatus.POLLING });
    this.#poll();
    this.#scheduleProbe();
  }

  #scheduleProbe() {
    if (!this.#sseUsable() || this.#mode !== "polling") return;
    const delay = this.#retryingStream() ? this.#backoffMs() : this.#opts.sseProbeIntervalMs;
    this.#setTimer("probe", delay, () => this.#probeNow());
  }

  /** While polling, try the stream once (polling goes on until it opens). Also run when the browser
   * reports it is back online, so a restored network does not wait for the next probe period. */
  #probeNow() {
    if (this.#stopped || this.#suspended || this.#mode !== "polling" || this.#es !== null) return;
    if (this.#sseUsable()) this.#openStream("probe");
  }

  async #poll() {
    this.#clearTimer("poll");
    const epoch = this.#epoch;
    const answer = await this.#fetchStatus(this.#etag);
    if (epoch !== this.#epoch || this.#mode !== "polling") return;
    if (answer.kind === "permanent") {
      this.#fail(answer.failure);
      return;
    }
    if (answer.kind === "ok") {
      this.#etag = answer.etag;
      // While the stream is still being retried its resume point stays at the last streamed event, so a
      // short outage costs no event on the wire; after that the polled seq is where the stream resumes.
      if (!this.#retryingStream()) this.#advanceResumePoint(answer.data.seq);
      this.#apply(answer.data);
      if (this.#finished) return;
    }
    // "not-modified" and transient failures alike: try again next period.
    this.#setTimer("poll", this.#opts.pollIntervalMs, () => this.#poll());
  }

  /** `GET .../status`: {kind: "ok", data, etag} | {kind: "not-modified"}
   * | {kind: "permanent", failure: {reason, message}} | {kind: "transient"}. */
  async #fetchStatus(etag) {
    this.#abortFetch();
    const controller = new AbortController();
    this.#abort = controller;
    const headers = { Accept: "application/json" };
    if (etag) headers["If-None-Match"] = etag;
    try {
      const response = await this.#env.fetch(this.#statusUrl(), {
        headers,
        cache: "no-store",
        credentials: this.#opts.withCredentials ? "include" : "same-origin",
        signal: controller.signal,
      });
      if (response.status === 304) return { kind: "not-modified" };
      const failure = permanentFailure(response.status);
      if (failure !== null) return { kind: "permanent", failure };
      if (!response.ok) return { kind: "transient" };
      const data = await response.json();
      if (!isStatusUpdate(data)) return { kind: "transient" };
      return { kind: "ok", data, etag: response.headers.get("ETag") };
    } catch {
      return { kind: "transient" };
    } finally {
      if (this.#abort === controller) this.#abort = null;
    }
  }

  #abortFetch() {
    if (this.#abort !== null) {
      this.#abort.abort();
      this.#abort = null;
    }
  }

  #fail({ reason, message }) {
    this.#stopped = true;
    this.#teardown();
    this.#set({ connectionStatus: ConnectionStatus.ERROR, error: message, errorReason: reason });
  }

  #finish() {
    this.#finished = true;
    this.#stopped = true;
    this.#teardown();
    this.#set({ connectionStatus: ConnectionStatus.FINISHED });
  }

  /** Close the stream, clear every timer, abort fetches, drop page listeners; pending renders still land. */
  #teardown() {
    this.#epoch += 1;
    this.#closeEventSource();
    for (const name of Object.keys(this.#timers)) this.#clearTimer(name);
    this.#abortFetch();
    this.#detachPageListeners();
  }

  // ---- events ----------------------------------------------------------------------------------------

  #statusEvent(es, event) {
    if (es !== this.#es) return;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // a malformed frame is skipped; the next status is a full snapshot anyway
    }
    this.#report({ type: "status", id: event.lastEventId, data });
    if (!isStatusUpdate(data)) return;
    if (event.lastEventId !== "") this.#advanceResumePoint(Number(event.lastEventId));
    this.#apply(data);
  }

  #resetEvent(es, event) {
    if (es !== this.#es) return;
    let data = null;
    try {
      data = JSON.parse(event.data);
    } catch {
      // the reason is informative only
    }
    this.#report({ type: "reset", id: event.lastEventId, data });
    // The server no longer holds the events after our id; the snapshot that follows is the truth.
    this.#acceptNext = true;
    this.#lastEventId = null;
  }

  #report(event) {
    if (this.#opts.onEvent === null) return;
    try {
      this.#opts.onEvent(event);
    } catch (error) {
      console.error("sse-status-client: onEvent threw", error);
    }
  }

  #advanceResumePoint(seq) {
    if (!Number.isInteger(seq)) return;
    if (this.#lastEventId === null || this.#acceptNext || seq > Number(this.#lastEventId)) {
      this.#lastEventId = String(seq);
    }
  }

  #apply(update) {
    if (this.#finished) return;
    if (update.seq <= this.#latestSeq && !this.#acceptNext) return; // older than what is shown: skip
    this.#acceptNext = false;
    this.#latestSeq = update.seq;
    this.#set({ status: update, lastEventId: this.#lastEventId });
    if (TERMINAL_STATUSES.includes(update.status)) this.#finish();
  }

  // ---- tab visibility ----------------------------------------------------------------------------------

  #isHidden() {
    return this.#env.document?.visibilityState === "hidden";
  }

  #attachPageListeners() {
    const doc = this.#env.document;
    const win = this.#env.window;
    doc?.addEventListener?.("visibilitychange", this.#onVisibility);
    win?.addEventListener?.("pagehide", this.#onPageHide);
    win?.addEventListener?.("pageshow", this.#onPageShow);
    win?.addEventListener?.("online", this.#onOnline);
  }

  #detachPageListeners() {
    const doc = this.#env.document;
    const win = this.#env.window;
    doc?.removeEventListener?.("visibilitychange", this.#onVisibility);
    win?.removeEventListener?.("pagehide", this.#onPageHide);
    win?.removeEventListener?.("pageshow", this.#onPageShow);
    win?.removeEventListener?.("online", this.#onOnline);
  }

  #visibilityChanged() {
    if (this.#stopped) return;
    // Pending renders move between animation frames (visible) and a timer (hidden: frames are paused).
    if (this.#flush !== null && (this.#flush.kind === "raf") === this.#isHidden()) this.#rescheduleFlush();
    if (this.#isHidden()) {
      if (!this.#suspended && this.#timers.grace === null) {
        this.#setTimer("grace", this.#opts.hiddenGraceMs, () => this.#suspend());
      }
    } else {
      this.#clearTimer("grace");
      if (this.#suspended) this.#resume();
    }
  }

  /** Give the connection back while nobody looks: no stream, no timers, no polls. */
  #suspend() {
    if (this.#stopped || this.#suspended) return;
    this.#suspended = true;
    this.#epoch += 1;
    this.#closeEventSource();
    for (const name of ["reconnect", "poll", "probe", "grace"]) this.#clearTimer(name);
    this.#abortFetch();
    this.#set({ connectionStatus: ConnectionStatus.DISCONNECTED });
  }

  /** Back in view: resume at once from the last event id (the server replays what was missed). */
  #resume() {
    if (this.#stopped || !this.#suspended) return;
    this.#suspended = false;
    this.#failures = 0;
    this.#begin(ConnectionStatus.RECONNECTING);
  }

  // ---- timers ------------------------------------------------------------------------------------------

  #setTimer(name, ms, fn) {
    this.#clearTimer(name);
    this.#timers[name] = this.#env.window.setTimeout(() => {
      this.#timers[name] = null;
      if (!this.#stopped && (name === "grace" || !this.#suspended)) fn();
    }, ms);
  }

  #clearTimer(name) {
    if (this.#timers[name] !== null) {
      this.#env.window.clearTimeout(this.#timers[name]);
      this.#timers[name] = null;
    }
  }

  // ---- batched rendering ---------------------------------------------------------------------------------

  #set(patch) {
    this.#pending = { ...(this.#pending ?? {}), ...patch };
    this.#scheduleFlush();
  }

  #scheduleFlush() {
    if (this.#flush !== null) return;
    const win = this.#env.window;
    if (!this.#isHidden() && typeof win.requestAnimationFrame === "function") {
      this.#flush = { kind: "raf", handle: win.requestAnimationFrame(() => this.#flushNow()) };
    } else {
      this.#flush = { kind: "timeout", handle: win.setTimeout(() => this.#flushNow(), HIDDEN_FLUSH_MS) };
    }
  }

  #rescheduleFlush() {
    this.#cancelFlush();
    if (this.#pending !== null) this.#scheduleFlush();
  }

  #cancelFlush() {
    if (this.#flush === null) return;
    const win = this.#env.window;
    if (this.#flush.kind === "raf") win.cancelAnimationFrame(this.#flush.handle);
    else win.clearTimeout(this.#flush.handle);
    this.#flush = null;
  }

  #flushNow() {
    this.#cancelFlush();
    const patch = this.#pending;
    if (patch === null) return;
    this.#pending = null;
    const next = { ...this.#state, ...patch };
    next.isConnected = next.connectionStatus === ConnectionStatus.CONNECTED;
    this.#state = Object.freeze(next);
    for (const listener of [...this.#listeners]) {
      try {
        listener(this.#state);
      } catch (error) {
        console.error("sse-status-client: listener threw", error);
      }
    }
  }
}

/** Create a client and start it: the usual entry point. */
export function createStatusClient(sessionId, options = {}, env = {}) {
  return new StatusClient(sessionId, options, env).start();
}
