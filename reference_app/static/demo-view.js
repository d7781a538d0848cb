// What the demo pages show, as pure functions of the client's state: one declaration for both pages that
// share the DOM contract of docs/browser-client.md, the plain page (demo-session.js) and the React page
// (/react-demo, built from clients/react). No DOM access at import time, no client: only words and rules.
import { ConnectionStatus, DEFAULT_OPTIONS, ErrorReason } from "./sse-status-client.js";

export const BOOLEAN_OPTIONS = Object.freeze(["enableSSE", "enablePollingFallback", "withCredentials"]);
export const INTEGER_OPTIONS = Object.freeze(["reconnectAttempts", "reconnectDelay", "maxReconnectDelayMs",
  "pollIntervalMs", "hiddenGraceMs", "sseProbeIntervalMs"]);
/** A session id as the API writes it; pages.py answers 404 for anything else with the same page. */
export const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Longest piece of the address echoed back in a message: a long query string must not flood the page. */
const ECHO_MAX = 40;
/** `session-id` shows at most this many characters. */
const SHOWN_ID_MAX = 64;

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

/** The session id from the page's address (its last path segment). */
export function sessionIdFromPath(pathname) {
  return decodeURIComponent(pathname.split("/").filter(Boolean).pop() ?? "");
}

/** The id as `session-id` shows it. */
export function shownSessionId(sessionId) {
  return sessionId.length > SHOWN_ID_MAX ? `${sessionId.slice(0, SHOWN_ID_MAX)}…` : sessionId;
}

/** A problem found before any client exists: `{reason, message}` for a bad address, else null. */
export function addressProblem(sessionId, search) {
  if (!SESSION_ID.test(sessionId)) {
    return { reason: ErrorReason.NOT_FOUND,
      message: `No such session: ${echo(sessionId)} is not a session id. Check the link, or start a new transcription.` };
  }
  try {
    optionsFromQuery(new URLSearchParams(search));
  } catch (error) {
    return { reason: "bad-options",
      message: `This page's address has a bad option: ${error.message}. Known options: ${knownOptions()}.` };
  }
  return null;
}

const seconds = (ms) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`);

/** One sentence under the indicator saying what the state means for the user. */
export function detailFor(state, options, hidden = document.visibilityState === "hidden") {
  switch (state.connectionStatus) {
    case ConnectionStatus.CONNECTING: return "Opening the live stream…";
    case ConnectionStatus.CONNECTED: return "Live: updates arrive as they happen.";
    case ConnectionStatus.RECONNECTING: return "The connection dropped; reconnecting…";
    case ConnectionStatus.POLLING:
      return `The live stream is unavailable: checking for updates every ${seconds(options.pollIntervalMs)} ` +
        "while retrying the stream.";
    case ConnectionStatus.DISCONNECTED:
      return hidden ? "Paused while the tab is hidden." : "Stopped: no updates until you press Reconnect.";
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

/** Which controls are usable: `{disconnect, reconnect}` (true = enabled). */
export function controlsFor(connectionStatus, reason, hasClient) {
  return {
    disconnect: hasClient && CAN_DISCONNECT.has(connectionStatus),
    reconnect: hasClient && CAN_RECONNECT.has(connectionStatus) && !FINAL_REASONS.has(reason),
  };
}

/** The link under an error ("Sign in on the start page", ...), or null. */
export function errorActionFor(reason, message) {
  return (message && ACTIONS[reason]) || null;
}

/** The session's title from `GET /api/v1/sessions/{id}`: `{title, untitled}`, or null when the API refuses
 * (a 401/404 here is left to the client, which reports the same answer from its own requests). */
export async function fetchTitle(sessionId, apiBase = DEFAULT_OPTIONS.apiBase, signal = undefined) {
  const response = await fetch(`${apiBase}/sessions/${encodeURIComponent(sessionId)}`,
    { credentials: "include", headers: { Accept: "application/json" }, cache: "no-store", signal });
  if (!response.ok) return null;
  const session = await response.json();
  const title = typeof session.title === "string" ? session.title.trim() : "";
  return { title: title || "Untitled session", untitled: !title };
}
