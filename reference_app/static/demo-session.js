// The demo page of one session: wires the status client to the DOM contract of docs/browser-client.md.
// Client options come from the query string (e.g. ?reconnectAttempts=2&pollIntervalMs=300), so tests and
// demos can shorten every timing without a rebuild. What is shown (words, which controls are usable) comes
// from demo-view.js, shared with the React page; this module only writes it into the DOM. Everything shown
// to the user is plain words: the API's JSON bodies are for developers and never reach the page.
import { ConnectionStatus, createStatusClient } from "./sse-status-client.js";
import {
  addressProblem, controlsFor, detailFor, errorActionFor, fetchTitle, optionsFromQuery, sessionIdFromPath,
  shownSessionId,
} from "./demo-view.js";

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
  if (message && reason) els.error.dataset.reason = reason;
  else delete els.error.dataset.reason;
  const action = errorActionFor(reason, message);
  els.errorAction.hidden = action === null;
  els.errorAction.textContent = action ?? "";
}

function paintControls(connectionStatus, reason, hasClient) {
  const usable = controlsFor(connectionStatus, reason, hasClient);
  els.disconnect.disabled = !usable.disconnect;
  els.reconnect.disabled = !usable.reconnect;
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
function showFatal({ reason, message }) {
  paintConnection(ConnectionStatus.ERROR, "No live updates.");
  paintError(reason, message);
  paintControls(ConnectionStatus.ERROR, reason, false);
}

/** The heading: the session's title once the API gives it; "Transcription" until then or when it refuses
 * (the client reports the same 401/404 in words from its own requests). */
async function showTitle(sessionId, apiBase) {
  const found = await fetchTitle(sessionId, apiBase);
  if (found === null) return;
  els.title.textContent = found.title;
  els.title.dataset.loaded = "true";
  if (found.untitled) els.title.dataset.untitled = "true";
  document.title = `${found.title} · Transcription status`;
}

const sessionId = sessionIdFromPath(location.pathname);
els.title.textContent = "Transcription";
$("session-id").textContent = shownSessionId(sessionId);

const problem = addressProblem(sessionId, location.search);
let client = null;
if (problem !== null) {
  showFatal(problem);
} else {
  try {
    client = createStatusClient(sessionId, {
      ...optionsFromQuery(new URLSearchParams(location.search)),
      onEvent: (event) => window.__sseEvents.push(event),
    });
  } catch (error) {
    // The query parsed, but the client refused a value (e.g. pollIntervalMs below its minimum).
    showFatal({ reason: "bad-options", message: `This page's address has a bad option: ${error.message}.` });
  }
}
if (client !== null) {
  client.subscribe((state) => onState(state, client.options));
  paint(client.getState(), client.options);
  window.statusClient = client;
  els.disconnect.addEventListener("click", () => client.disconnect());
  els.reconnect.addEventListener("click", () => client.reconnect());
  showTitle(sessionId, client.options.apiBase).catch(() => {});
}
