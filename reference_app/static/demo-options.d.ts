// Types for demo-options.js (plain JavaScript, served with no build step).
import type { StatusClientOptions } from "./sse-status-client.js";

export type QueryOptionName =
  | "enableSSE" | "enablePollingFallback" | "withCredentials"
  | "reconnectAttempts" | "reconnectDelay" | "maxReconnectDelayMs" | "pollIntervalMs"
  | "hiddenGraceMs" | "sseProbeIntervalMs";

export declare const BOOLEAN_OPTIONS: readonly QueryOptionName[];
export declare const INTEGER_OPTIONS: readonly QueryOptionName[];

/** Throws a TypeError naming the parameter when one is unknown or malformed. */
export declare function optionsFromQuery(
  params: Iterable<[string, string]>,
): Partial<Pick<StatusClientOptions, QueryOptionName>>;
