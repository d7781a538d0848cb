/**
 * TEST-ONLY. A deliberately broken hook: the original design's `useTranscriptionStatusSSE`
 * (../shared/original-design.md) with its known bugs kept, so the suite can prove it catches them.
 * Never ship or copy this; it exists only in the test bundle `dist-test/original-design-demo.js`.
 *
 * Kept as in the design:
 * - `onerror` closes nothing and schedules `connectSSE()` after `reconnectDelay`, with no bound
 *   (`reconnectAttempts` is only compared with 0, never counted down) and no cleanup: the timer survives
 *   an unmount, a `disconnect()` and a StrictMode remount, and opens a stream nobody owns;
 * - a new EventSource replaces the ref while the browser is still retrying the old one: two streams;
 * - one `setStatus` per event (no batching), `connectionStatus` "error" while retrying;
 * - polling only when `reconnectAttempts` is 0.
 * Adapted only so that it talks to this API at all: it listens to `event: status` (the design's
 * `onmessage` sees only unnamed events), reports wire events to `onEvent`, and returns the same shape.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type {
  ConnectionStatusName, StatusUpdate, WireEvent,
} from "../../../reference_app/static/sse-status-client.js";
import type {
  SessionState, UseTranscriptionStatusOptions, UseTranscriptionStatusResult,
} from "../src/useTranscriptionStatusSSE.js";

const RUNNING: SessionState = { finished: false, outcome: null, final: null };

/** The design's polling fallback (`useTranscriptionStatus(..., { enablePolling: false })` + startPolling);
 * its code is not in the design, so it is written plainly, with its interval cleared on unmount. */
function usePollingFallback(sessionId: string | null, apiBase: string, pollIntervalMs: number) {
  const [status, setStatus] = useState<StatusUpdate | null>(null);
  const [error, setError] = useState<string | null>(null);
  const timer = useRef<number | null>(null);
  const startPolling = useCallback(() => {
    if (!sessionId || timer.current !== null) return;
    const poll = async () => {
      try {
        const response = await fetch(`${apiBase}/sessions/${sessionId}/status`, { credentials: "include" });
        if (response.ok) setStatus((await response.json()) as StatusUpdate);
        else setError(`HTTP ${response.status}`);
      } catch (err) {
        setError(String(err));
      }
    };
    void poll();
    timer.current = window.setInterval(() => void poll(), pollIntervalMs);
  }, [sessionId, apiBase, pollIntervalMs]);
  useEffect(() => () => {
    if (timer.current !== null) window.clearInterval(timer.current);
    timer.current = null;
  }, []);
  return { status, error, startPolling };
}

export function useOriginalDesignHook(
  sessionId: string | null,
  options: UseTranscriptionStatusOptions = {},
): UseTranscriptionStatusResult {
  const {
    enableSSE = true,
    enablePollingFallback = true,
    reconnectAttempts = 3,
    reconnectDelay = 1000,
    apiBase = "/api/v1",
    pollIntervalMs = 2000,
    onEvent,
  } = options;

  const [status, setStatus] = useState<StatusUpdate | null>(null);
  const [connectionStatus, setConnectionStatus] = useState<ConnectionStatusName>("disconnected");
  const [error, setError] = useState<string | null>(null);

  const eventSourceRef = useRef<EventSource | null>(null);
  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;
  const fallbackHook = usePollingFallback(sessionId, apiBase, pollIntervalMs);

  const connectSSE = useCallback(() => {
    if (!sessionId || !enableSSE) return;
    try {
      setConnectionStatus("connecting");
      const eventSource = new EventSource(`${apiBase}/sessions/${sessionId}/status/stream`, { withCredentials: true });
      eventSource.onopen = () => {
        setConnectionStatus("connected");
        setError(null);
      };
      eventSource.addEventListener("status", (event: MessageEvent<string>) => {
        try {
          const statusData = JSON.parse(event.data) as StatusUpdate;
          onEventRef.current?.({ type: "status", id: event.lastEventId, data: statusData } satisfies WireEvent);
          setStatus(statusData);
          if (statusData.status === "completed" || statusData.status === "failed") {
            eventSource.close();
            setConnectionStatus("disconnected");
          }
        } catch {
          // as in the design: a bad frame is logged and skipped
        }
      });
      eventSource.onerror = () => {
        setConnectionStatus("error");
        setError("Connection lost. Retrying...");
        if (reconnectAttempts > 0) {
          setTimeout(() => {
            connectSSE();
          }, reconnectDelay);
        } else if (enablePollingFallback) {
          fallbackHook.startPolling();
        }
      };
      eventSourceRef.current = eventSource;
    } catch {
      setConnectionStatus("error");
      if (enablePollingFallback) fallbackHook.startPolling();
    }
    // The design's dependency list, as written (fallbackHook and enablePollingFallback missing).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sessionId, enableSSE, reconnectAttempts, reconnectDelay]);

  const disconnect = useCallback(() => {
    if (eventSourceRef.current) {
      eventSourceRef.current.close();
      eventSourceRef.current = null;
      setConnectionStatus("disconnected");
    }
  }, []);

  useEffect(() => {
    connectSSE();
    return disconnect;
  }, [connectSSE, disconnect]);

  const shown = status || fallbackHook.status;
  const finished = shown !== null && (shown.status === "completed" || shown.status === "failed");
  return {
    status: shown,
    session: finished ? { finished: true, outcome: shown.status as "completed" | "failed", final: shown as never } : RUNNING,
    connectionStatus,
    error: error || fallbackHook.error,
    errorReason: null,
    isConnected: connectionStatus === "connected",
    lastEventId: null,
    reconnect: connectSSE,
    disconnect,
  };
}
