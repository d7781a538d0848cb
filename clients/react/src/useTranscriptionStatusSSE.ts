/**
 * useTranscriptionStatusSSE: the React face of `reference_app/static/sse-status-client.js`.
 *
 * Why this hook is so small: every connection decision (the browser's own retries vs. ours, bounded
 * attempts, polling with If-None-Match, the return to the stream, hidden tabs, resume from the last event
 * id, one render per animation frame, stopping after `completed`/`failed`) lives in the client and is
 * tested there. The hook only ties ONE client's lifetime to the component:
 *
 * - one client per (sessionId, options) effect run, created in the effect and released in its cleanup
 *   (stream, timers, fetches, page listeners); a new `sessionId` therefore closes the old stream before
 *   the new client exists;
 * - the client starts one microtask after the effect: React StrictMode's mount-unmount-mount runs the
 *   first cleanup synchronously, so the throw-away first client never opens a request at all;
 * - options are compared by value (the effect depends on primitives only), and `onEvent` is read through
 *   a ref: a parent re-rendering with a fresh options object or callback reopens nothing;
 * - `reconnect`/`disconnect` are stable functions acting on whichever client is current.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  StatusClient,
  TERMINAL_STATUSES,
  type ConnectionStatusName,
  type ErrorReasonName,
  type StatusClientOptions,
  type StatusClientState,
  type StatusUpdate,
  type WireEvent,
} from "../../../reference_app/static/sse-status-client.js";

/** The client's options, all optional (undefined = the client's default, see DEFAULT_OPTIONS). */
export type UseTranscriptionStatusOptions = Partial<Omit<StatusClientOptions, "onEvent">> & {
  /** Debug hook for every wire event; may change identity on every render without reconnecting. */
  onEvent?: ((event: WireEvent) => void) | null;
};

export type FinalStatus = StatusUpdate & { status: (typeof TERMINAL_STATUSES)[number] };

/** The session's final state: set once the job has ended, after which nothing is connected. */
export interface SessionState {
  /** True once a `completed` or `failed` status arrived: the client has stopped for good. */
  readonly finished: boolean;
  /** `completed` or `failed` once finished, else null. */
  readonly outcome: FinalStatus["status"] | null;
  /** The terminal status itself (progress, message, seq, timestamp), else null. */
  readonly final: FinalStatus | null;
}

/** The client's reasons for `error`, plus the hook's own for options the client refused. */
export type HookErrorReason = ErrorReasonName | "invalid-options";

export interface UseTranscriptionStatusResult {
  readonly status: StatusUpdate | null;
  readonly session: SessionState;
  readonly connectionStatus: ConnectionStatusName;
  readonly error: string | null;
  /** Why (`unauthorized`, `forbidden`, `not-found`, `unavailable`, `invalid-options`): set exactly when `error` is. */
  readonly errorReason: HookErrorReason | null;
  readonly isConnected: boolean;
  readonly lastEventId: string | null;
  /** Start over with a full set of attempts (after `error` or `disconnect()`); no-op once finished. */
  readonly reconnect: () => void;
  /** Release the stream and every timer; nothing reconnects until `reconnect()`. */
  readonly disconnect: () => void;
}

/** The client's state, or the hook's own: idle without a session, `invalid-options` before any client. */
type HookState = Omit<StatusClientState, "errorReason"> & { readonly errorReason: HookErrorReason | null };

const IDLE: HookState = Object.freeze({
  status: null,
  connectionStatus: "disconnected",
  error: null,
  errorReason: null,
  isConnected: false,
  lastEventId: null,
});

const STARTING: HookState = Object.freeze({ ...IDLE, connectionStatus: "connecting" });

const RUNNING: SessionState = Object.freeze({ finished: false, outcome: null, final: null });

function isFinal(status: StatusUpdate | null): status is FinalStatus {
  return status !== null && (TERMINAL_STATUSES as readonly string[]).includes(status.status);
}

/** A state together with the session it belongs to, so a new sessionId never shows the old one's. */
interface Snapshot {
  readonly sessionId: string | null;
  readonly state: HookState;
}

export function useTranscriptionStatusSSE(
  sessionId: string | null | undefined,
  options: UseTranscriptionStatusOptions = {},
): UseTranscriptionStatusResult {
  const {
    enableSSE, enablePollingFallback, reconnectAttempts, reconnectDelay, maxReconnectDelayMs,
    pollIntervalMs, hiddenGraceMs, sseProbeIntervalMs, apiBase, withCredentials, onEvent,
  } = options;
  const id = sessionId || null;

  const onEventRef = useRef(onEvent);
  useEffect(() => {
    onEventRef.current = onEvent;
  });

  const [snapshot, setSnapshot] = useState<Snapshot>(() => ({ sessionId: id, state: id ? STARTING : IDLE }));
  const clientRef = useRef<StatusClient | null>(null);

  useEffect(() => {
    if (id === null) {
      setSnapshot({ sessionId: null, state: IDLE });
      return undefined;
    }
    let client: StatusClient;
    try {
      client = new StatusClient(id, {
        enableSSE, enablePollingFallback, reconnectAttempts, reconnectDelay, maxReconnectDelayMs,
        pollIntervalMs, hiddenGraceMs, sseProbeIntervalMs, apiBase, withCredentials,
        onEvent: (event) => onEventRef.current?.(event),
      });
    } catch (error) {
      // Invalid options: shown like any other permanent failure, never a retry loop or a crash.
      const message = error instanceof Error ? error.message : String(error);
      setSnapshot({
        sessionId: id, state: { ...IDLE, connectionStatus: "error", error: message, errorReason: "invalid-options" },
      });
      return undefined;
    }
    clientRef.current = client;
    // The client flushes at most once per animation frame; each flush is one state object.
    const unsubscribe = client.subscribe((state) => setSnapshot({ sessionId: id, state }));
    setSnapshot({ sessionId: id, state: client.getState() });
    let released = false;
    queueMicrotask(() => {
      if (!released) client.start();
    });
    return () => {
      released = true;
      unsubscribe();
      client.disconnect();
      if (clientRef.current === client) clientRef.current = null;
    };
  }, [id, enableSSE, enablePollingFallback, reconnectAttempts, reconnectDelay, maxReconnectDelayMs,
      pollIntervalMs, hiddenGraceMs, sseProbeIntervalMs, apiBase, withCredentials]);

  const reconnect = useCallback(() => clientRef.current?.reconnect(), []);
  const disconnect = useCallback(() => clientRef.current?.disconnect(), []);

  const state = snapshot.sessionId === id ? snapshot.state : id ? STARTING : IDLE;
  const status = state.status;
  const session = useMemo<SessionState>(
    () => (isFinal(status) ? Object.freeze({ finished: true, outcome: status.status, final: status }) : RUNNING),
    [status],
  );
  return {
    status,
    session,
    connectionStatus: state.connectionStatus,
    error: state.error,
    errorReason: state.errorReason,
    isConnected: state.isConnected,
    lastEventId: state.lastEventId,
    reconnect,
    disconnect,
  };
}
