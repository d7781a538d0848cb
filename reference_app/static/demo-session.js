// The demo page of one session: wires the status client to the DOM contract of docs/browser-client.md.
// Client options come from the query string (e.g. ?reconnectAttempts=2&pollIntervalMs=300), so tests and
// demos can shorten every timing without a rebuild. Everything shown to the user is plain words: the API's
// JSON bodies are for developers and never reach the page.
import { ConnectionStatus, DEFAULT_OPTIONS, ErrorReason, createStatusClient } from "./sse-status-client.js";

const BOOLEAN_OPTIONS = ["enableSSE", "enablePollingFallback", "withCredentials"];
const INTEGER_OPTIONS = ["reconnectAttempts", "reconnectDelay", "maxReconnectDelayMs", "pollIntervalMs",
  "hiddenGraceMs", "sseProbeIntervalMs"];
/** A session id as the API writes it; pages.py answers 404 for anything else with this same page. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Longest piece of the address echoed back in a message: a long query string must not flood the page. */
const ECHO_MAX = 40;

/** `text` as it may be echoed in a message: quoted, and cut with its length when it is long. */
export function echo(text) {
  return text.length > ECHO_MAX ? `"${text.slice(0, ECHO_MAX)}…" (${text.length} characters)` : `"${text}"`;
}

/** Client options from the query string; an unknown or malformed parameter is an error naming it. */
export function optionsFromQuery(params) {
  const options = {};
  for (const [name, raw] of params) {
    if (BOOLEAN_OPTIONS.includes(name)) {
      if (!["1", "0", "true", "false"].includes(raw)) {
        throw new TypeError(`query parameter ${name} must be true/false/1/0, got ${echo(raw)}`);
      }
      options[name] = raw === "1" || raw === "true";
    } else if (INTEGER_OPTIONS.includes(name)) {
      if (!/^\d{1,9}$/.test(raw)) {
        throw new TypeError(`query parameter ${name} must be a non-negative integer, got ${echo(raw)}`);
      }
      options[name] = Number(raw);
    } else {
      throw new TypeError(`unknown query parameter ${echo(name)}`);
    }
  }
  return options;
}

function knownOptions() {
  return [...BOOLEAN_OPTIONS, ...INTEGER_OPTIONS].map((name) => `${name} (default ${DEFAULT_OPTIONS[name]})`)
    .join(", ");
}

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const els = {
  title: $("session-title"),
  connection: $("connection-status"),
  detail: $("connection-detail"),
  progress: $("progress"),
  fill: document.querySelector(".progress-fill"),
  progressText: $("progress-text"),
  status: $("status"),
  seq: $("seq"),
  message: $("message"),
  error: $("error"),
  errorAction: $("error-action"),
  disconnect: $("disconnect"),
  reconnect: $("reconnect"),
};

/** "2 s", "0.3 s"; a no-break space keeps the number with its unit. */
const seconds = (ms) => `${ms % 1000 === 0 ? ms / 1000 : (ms / 1000).toFixed(1)}\u00a0s`;

/** One sentence under the indicator saying what the state means for the user. */
function detailFor(state, options) {
  switch (state.connectionStatus) {
    case ConnectionStatus.CONNECTING: return "Opening the live stream…";
    case ConnectionStatus.CONNECTED: return "Live: updates arrive as they happen.";
    case ConnectionStatus.RECONNECTING: return "The connection dropped; reconnecting…";
    case ConnectionStatus.POLLING:
      return `The live stream is unavailable: checking for updates every ${seconds(options.pollIntervalMs)} ` +
        "while retrying the stream.";
    case ConnectionStatus.DISCONNECTED:
      return document.visibilityState === "hidden" ? "Paused while the tab is hidden."
        : "Stopped: no updates until you press Reconnect.";
    case ConnectionStatus.FINISHED:
      return state.status?.status === "failed" ? "The job failed; no more updates will come."
        : "The job is done; no more updates will come.";
    default: return "No live updates.";
  }
}

const CAN_DISCONNECT = new Set([ConnectionStatus.CONNECTING, ConnectionStatus.CONNECTED,
  ConnectionStatus.RECONNECTING, ConnectionStatus.POLLING]);
const CAN_RECONNECT = new Set([ConnectionStatus.RECONNECTING, ConnectionStatus.POLLING,
  ConnectionStatus.DISCONNECTED, ConnectionStatus.ERROR]);
/** Errors that reconnecting cannot fix (an unknown session stays unknown; a sign-in in another tab can fix 401). */
const FINAL_REASONS = new Set([ErrorReason.NOT_FOUND, ErrorReason.FORBIDDEN, "bad-options"]);
const ACTIONS = {
  [ErrorReason.UNAUTHORIZED]: "Sign in on the start page",
  [ErrorReason.NOT_FOUND]: "Start a new transcription",
};

// Test and debugging hooks: every wire event, and every render with its animation-frame time.
window.__sseEvents = [];
window.__renders = [];

/** What the client asked to render; recorded with the frame time to show renders are batched per frame. */
function onState(state, options) {
  window.__renders.push({
    frameTime: document.timeline ? document.timeline.currentTime : null,
    seq: state.status ? state.status.seq : null,
    progress: state.status ? state.status.progress : null,
    connectionStatus: state.connectionStatus,
  });
  paint(state, options);
}

function paintConnection(connectionStatus, detail) {
  els.connection.textContent = connectionStatus;
  els.connection.dataset.state = connectionStatus;
  els.detail.textContent = detail;
}

function paintError(reason, message) {
  els.error.hidden = !message;
  els.error.textContent = message ?? "";
  if (reason) els.error.dataset.reason = reason;
  else delete els.error.dataset.reason;
  const action = message ? ACTIONS[reason] : undefined;
  els.errorAction.hidden = !action;
  els.errorAction.textContent = action ?? "";
}

function paintControls(connectionStatus, reason, hasClient) {
  els.disconnect.disabled = !hasClient || !CAN_DISCONNECT.has(connectionStatus);
  els.reconnect.disabled = !hasClient || !CAN_RECONNECT.has(connectionStatus) || FINAL_REASONS.has(reason);
}

function paint(state, options) {
  paintConnection(state.connectionStatus, detailFor(state, options));
  const status = state.status;
  if (status) {
    const pct = Math.max(0, Math.min(100, status.progress));
    els.progress.setAttribute("aria-valuenow", String(status.progress));
    els.progress.dataset.status = status.status;
    els.fill.style.width = `${pct}%`;
    els.progressText.textContent = `${Math.round(pct)}%`;
    els.status.textContent = status.status;
    els.status.dataset.seq = String(status.seq);
    els.seq.textContent = String(status.seq);
    els.message.textContent = status.message ?? "";
  }
  paintError(state.errorReason, state.error);
  paintControls(state.connectionStatus, state.errorReason, true);
}

/** A problem found before any client exists (bad address): `error`, the message, no controls. */
function showFatal(reason, message) {
  paintConnection(ConnectionStatus.ERROR, "No live updates.");
  paintError(reason, message);
  paintControls(ConnectionStatus.ERROR, reason, false);
}

/** The session's title from `GET /api/v1/sessions/{id}`. A 401/404 here is left to the client, which
 * reports the same answer from its own requests; the heading then stays "Transcription". */
async function loadTitle(sessionId) {
  const response = await fetch(`${DEFAULT_OPTIONS.apiBase}/sessions/${encodeURIComponent(sessionId)}`,
    { credentials: "include", headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) return;
  const session = await response.json();
  const title = typeof session.title === "string" ? session.title.trim() : "";
  els.title.textContent = title || "Untitled session";
  els.title.dataset.loaded = "true";
  if (!title) els.title.dataset.untitled = "true";
  document.title = `${title || "Untitled session"} · Transcription status`;
}

const sessionId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() ?? "");
els.title.textContent = "Transcription";
$("session-id").textContent = sessionId.length > 64 ? `${sessionId.slice(0, 64)}…` : sessionId;

if (!SESSION_ID.test(sessionId)) {
  showFatal(ErrorReason.NOT_FOUND,
    `No such session: ${echo(sessionId)} is not a session id. Check the link, or start a new transcription.`);
} else {
  let client = null;
  try {
    client = createStatusClient(sessionId, {
      ...optionsFromQuery(new URLSearchParams(location.search)),
      onEvent: (event) => window.__sseEvents.push(event),
    });
  } catch (error) {
    showFatal("bad-options", `This page's address has a bad option: ${error.message}. Known options: ` +
      `${knownOptions()}.`);
  }
  if (client !== null) {
    client.subscribe((state) => onState(state, client.options));
    paint(client.getState(), client.options);
    window.statusClient = client;
    els.disconnect.addEventListener("click", () => client.disconnect());
    els.reconnect.addEventListener("click", () => client.reconnect());
    loadTitle(sessionId).catch(() => {});
  }
}
