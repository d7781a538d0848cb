// The status client's options as the demo pages take them from the query string (e.g.
// ?reconnectAttempts=2&pollIntervalMs=300), so tests and demos shorten every timing without a rebuild.
// One parser for both pages that share the DOM contract: the plain page (demo-session.js) and the React
// hook page (/react-demo, built from clients/react), so a query means the same on both.

export const BOOLEAN_OPTIONS = Object.freeze(["enableSSE", "enablePollingFallback", "withCredentials"]);
export const INTEGER_OPTIONS = Object.freeze(["reconnectAttempts", "reconnectDelay", "maxReconnectDelayMs",
  "pollIntervalMs", "hiddenGraceMs", "sseProbeIntervalMs"]);

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
