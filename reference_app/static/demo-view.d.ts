// Types for demo-view.js (plain JavaScript, served with no build step).
import type {
  ConnectionStatusName, ErrorReasonName, StatusClientOptions, StatusClientState,
} from "./sse-status-client.js";

export type QueryOptionName =
  | "enableSSE" | "enablePollingFallback" | "withCredentials"
  | "reconnectAttempts" | "reconnectDelay" | "maxReconnectDelayMs" | "pollIntervalMs"
  | "hiddenGraceMs" | "sseProbeIntervalMs";
/** The client's reasons, plus the page's own for a malformed query parameter. */
export type PageErrorReason = ErrorReasonName | "bad-options";

export declare const BOOLEAN_OPTIONS: readonly QueryOptionName[];
export declare const INTEGER_OPTIONS: readonly QueryOptionName[];
export declare const SESSION_ID: RegExp;

export declare function echo(text: string): string;
/** Throws a TypeError naming the parameter when one is unknown or malformed. */
export declare function optionsFromQuery(
  params: Iterable<[string, string]>,
): Partial<Pick<StatusClientOptions, QueryOptionName>>;
export declare function sessionIdFromPath(pathname: string): string;
export declare function shownSessionId(sessionId: string): string;
export declare function addressProblem(
  sessionId: string, search: string,
): { reason: PageErrorReason; message: string } | null;
export declare function detailFor(
  state: Pick<StatusClientState, "connectionStatus" | "status">,
  options: Pick<StatusClientOptions, "pollIntervalMs">,
  hidden?: boolean,
): string;
export declare function controlsFor(
  connectionStatus: ConnectionStatusName, reason: PageErrorReason | null, hasClient: boolean,
): { disconnect: boolean; reconnect: boolean };
export declare function errorActionFor(reason: PageErrorReason | null, message: string | null): string | null;
export declare function fetchTitle(
  sessionId: string, apiBase?: string, signal?: AbortSignal,
): Promise<{ title: string; untitled: boolean } | null>;
