// The original design's session page (ConnectionStatusIndicator + TranscriptionProgress over the hook),
// plus the page-level test hooks the plain page has too: window.statusClient, __sseEvents, __renders.
import { useEffect, useLayoutEffect, useRef } from "react";
import type { WireEvent } from "../../../reference_app/static/sse-status-client.js";
import type {
  UseTranscriptionStatusOptions, UseTranscriptionStatusResult,
} from "../src/useTranscriptionStatusSSE.js";
import { ConnectionStatusIndicator } from "./ConnectionStatusIndicator.js";
import { TranscriptionProgress } from "./TranscriptionProgress.js";
import "./testHooks.js";

export type StatusHook = (
  sessionId: string | null, options: UseTranscriptionStatusOptions,
) => UseTranscriptionStatusResult;

export interface SessionDetailPageProps {
  sessionId: string;
  options: UseTranscriptionStatusOptions;
  useStatus: StatusHook;
}

export function SessionDetailPage({ sessionId, options, useStatus }: SessionDetailPageProps) {
  // A fresh options object and callback on every render, as a real page would write them inline: the
  // hook must not reconnect because of that (the re-render test counts streams on the server).
  const { status, session, connectionStatus, isConnected, error, reconnect, disconnect } = useStatus(sessionId, {
    ...options,
    onEvent: (event: WireEvent) => window.__sseEvents.push(event),
  });

  useLayoutEffect(() => {
    window.__commits += 1;
  });
  useRenderLog(status?.seq ?? null, status?.progress ?? null, connectionStatus, error, status);

  useEffect(() => {
    window.statusClient = { reconnect, disconnect };
  }, [reconnect, disconnect]);

  return (
    <main className="card">
      <p className="crumbs"><a href="/">&larr; New transcription</a></p>
      <h1>Transcription <code data-testid="session-id">{sessionId}</code></h1>
      <ConnectionStatusIndicator status={connectionStatus} isConnected={isConnected} />
      <TranscriptionProgress status={status} session={session} realTime={isConnected} />
      <p data-testid="error" className="error" role="alert" hidden={!error}>{error ?? ""}</p>
      <p className="actions">
        <button type="button" id="disconnect" onClick={disconnect}>Disconnect</button>
        <button type="button" id="reconnect" onClick={reconnect}>Reconnect</button>
      </p>
    </main>
  );
}

/** Records every committed change of what the hook returned, with its animation-frame time (the plain
 * page records each client flush the same way), so "one render per frame" is checked on React's commits.
 * The initial state is not recorded; StrictMode's repeated mount effect records nothing twice. */
function useRenderLog(
  seq: number | null, progress: number | null, connectionStatus: string, error: string | null, status: unknown,
) {
  const last = useRef<readonly unknown[]>([status, connectionStatus, error]);
  useLayoutEffect(() => {
    const current = [status, connectionStatus, error] as const;
    if (current.every((value, i) => Object.is(value, last.current[i]))) return;
    last.current = current;
    window.__renders.push({
      frameTime: document.timeline ? (document.timeline.currentTime as number | null) : null,
      seq, progress, connectionStatus,
    });
  }, [status, connectionStatus, error, seq, progress]);
}
