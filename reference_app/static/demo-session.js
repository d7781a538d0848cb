// The demo page of one session: wires the status client to the DOM contract of docs/browser-client.md.
// Client options come from the query string (e.g. ?reconnectAttempts=2&pollIntervalMs=300), so tests and
// demos can shorten every timing without a rebuild.
import { ConnectionStatus, DEFAULT_OPTIONS, createStatusClient } from "./sse-status-client.js";

const BOOLEAN_OPTIONS = ["enableSSE", "enablePollingFallback", "withCredentials"];
const INTEGER_OPTIONS = ["reconnectAttempts", "reconnectDelay", "maxReconnectDelayMs", "pollIntervalMs",
  "hiddenGraceMs", "sseProbeIntervalMs"];

/** Client options from the query string; an unknown or malformed parameter is an error naming it. */
export function optionsFromQuery(params) {
  const options = {};
  for (const [name, raw] of params) {
    if (BOOLEAN_OPTIONS.includes(name)) {
      if (!["1", "0", "true", "false"].includes(raw)) {
        throw new TypeError(`query parameter ${name} must be true/false/1/0, got "${raw}"`);
      }
      options[name] = raw === "1" || raw === "true";
    } else if (INTEGER_OPTIONS.includes(name)) {
      if (!/^\d{1,9}$/.test(raw)) {
        throw new TypeError(`query parameter ${name} must be a non-negative integer, got "${raw}"`);
      }
      options[name] = Number(raw);
    } else {
      throw new TypeError(`unknown query parameter ${name} (known: ${[...BOOLEAN_OPTIONS, ...INTEGER_OPTIONS].join(", ")})`);
    }
  }
  return options;
}

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const els = {
  connection: $("connection-status"),
  progress: $("progress"),
  fill: document.querySelector(".progress-fill"),
  progressText: $("progress-text"),
  status: $("status"),
  seq: $("seq"),
  message: $("message"),
  error: $("error"),
};

// Test and debugging hooks: every wire event, and every render with its animation-frame time.
window.__sseEvents = [];
window.__renders = [];

/** What the client asked to render; recorded with the frame time to show renders are batched per frame. */
function onState(state) {
  window.__renders.push({
    frameTime: document.timeline ? document.timeline.currentTime : null,
    seq: state.status ? state.status.seq : null,
    progress: state.status ? state.status.progress : null,
    connectionStatus: state.connectionStatus,
  });
  paint(state);
}

function paint(state) {
  els.connection.textContent = state.connectionStatus;
  els.connection.dataset.state = state.connectionStatus;
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
  els.error.hidden = !state.error;
  els.error.textContent = state.error ?? "";
}

function showFatal(message) {
  els.connection.textContent = ConnectionStatus.ERROR;
  els.connection.dataset.state = ConnectionStatus.ERROR;
  els.error.hidden = false;
  els.error.textContent = message;
}

const sessionId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() ?? "");
$("session-id").textContent = sessionId;

try {
  const options = optionsFromQuery(new URLSearchParams(location.search));
  const client = createStatusClient(sessionId, {
    ...options,
    onEvent: (event) => window.__sseEvents.push(event),
  });
  client.subscribe(onState);
  paint(client.getState());
  window.statusClient = client;
  document.getElementById("disconnect").addEventListener("click", () => client.disconnect());
  document.getElementById("reconnect").addEventListener("click", () => client.reconnect());
} catch (error) {
  showFatal(`Bad page options: ${error.message}. Defaults: ${JSON.stringify({ ...DEFAULT_OPTIONS, onEvent: undefined })}`);
}
