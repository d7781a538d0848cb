// Types for sse-status-client.js (the module itself is plain JavaScript, served with no build step).

export type ConnectionStatusName =
  | "connecting" | "connected" | "reconnecting" | "polling" | "disconnected" | "finished" | "error";

export declare const ConnectionStatus: Readonly<{
  CONNECTING: "connecting"; CONNECTED: "connected"; RECONNECTING: "reconnecting";
  POLLING: "polling"; DISCONNECTED: "disconnected"; FINISHED: "finished"; ERROR: "error";
}>;

/** Why the client is in `error`: 401, 403, 404/410/422, or no stream with polling turned off. */
export type ErrorReasonName = "unauthorized" | "forbidden" | "not-found" | "unavailable";

export declare const ErrorReason: Readonly<{
  UNAUTHORIZED: "unauthorized"; FORBIDDEN: "forbidden"; NOT_FOUND: "not-found"; UNAVAILABLE: "unavailable";
}>;

export declare const TERMINAL_STATUSES: readonly ["completed", "failed"];

/** One status of a session, exactly as the API streams and polls it (extra fields allowed). */
export interface StatusUpdate {
  session_id: string;
  seq: number;
  status: "pending" | "processing" | "completed" | "failed";
  progress: number;
  message: string;
  timestamp: string;
  [extra: string]: unknown;
}

export interface WireEvent {
  type: "status" | "reset";
  id: string;
  data: unknown;
}

export interface StatusClientOptions {
  enableSSE: boolean;
  enablePollingFallback: boolean;
  reconnectAttempts: number;
  reconnectDelay: number;
  maxReconnectDelayMs: number;
  pollIntervalMs: number;
  hiddenGraceMs: number;
  sseProbeIntervalMs: number;
  apiBase: string;
  withCredentials: boolean;
  onEvent: ((event: WireEvent) => void) | null;
}

export declare const DEFAULT_OPTIONS: Readonly<StatusClientOptions>;

export interface StatusClientState {
  readonly status: StatusUpdate | null;
  readonly connectionStatus: ConnectionStatusName;
  /** A message for the user (plain words and the HTTP status), set only in `error`. */
  readonly error: string | null;
  /** Why: set exactly when `error` is. */
  readonly errorReason: ErrorReasonName | null;
  readonly isConnected: boolean;
  readonly lastEventId: string | null;
}

export interface StatusClientEnv {
  window?: Window;
  document?: Document;
  EventSource?: typeof EventSource | null;
  fetch?: typeof fetch;
  random?: () => number;
}

export declare class StatusClient {
  constructor(sessionId: string, options?: Partial<StatusClientOptions>, env?: StatusClientEnv);
  readonly options: Readonly<StatusClientOptions>;
  getState(): StatusClientState;
  subscribe(listener: (state: StatusClientState) => void): () => void;
  start(): this;
  reconnect(): void;
  disconnect(): void;
}

export declare function createStatusClient(
  sessionId: string, options?: Partial<StatusClientOptions>, env?: StatusClientEnv,
): StatusClient;
