// The original design's session page (ConnectionStatusIndicator + TranscriptionProgress over the hook),
// plus the page-level test hooks the plain page has too: window.statusClient, __sseEvents, __renders.
import { useEffect, useLayoutEffect, useRef } from "react";
import { DEFAULT_OPTIONS, type WireEvent } from "../../../reference_app/static/sse-status-client.js";
import { detailFor, type PageErrorReason } from "../../../reference_app/static/demo-view.js";
import type {
  UseTranscriptionStatusOptions, UseTranscriptionStatusResult,
} from "../src/useTranscriptionStatusSSE.js";
import { ConnectionStatusIndicator } from "./ConnectionStatusIndicator.js";
import { Controls, ErrorNotice, SessionHeading } from "./SessionParts.js";
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
  const {
    status, session, connectionStatus, isConnected, error, errorReason, reconnect, disconnect,
  } = useStatus(sessionId, {
    ...options,
    onEvent: (event: WireEvent) => window.__sseEvents.push(event),
  });
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_OPTIONS.pollIntervalMs;
  // The hook's own "invalid-options" reads as the page's "bad-options" (it cannot happen from the query,
  // which is checked before the page renders).
  const reason: PageErrorReason | null = errorReason === "invalid-options" ? "bad-options" : errorReason;

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
      <SessionHeading sessionId={sessionId} apiBase={options.apiBase ?? DEFAULT_OPTIONS.apiBase} />
      <ConnectionStatusIndicator status={connectionStatus} isConnected={isConnected}
                                 detail={detailFor({ connectionStatus, status }, { pollIntervalMs })} />
      <TranscriptionProgress status={status} session={session} realTime={isConnected} />
      <ErrorNotice error={error} reason={reason} />
      <Controls connectionStatus={connectionStatus} reason={reason} onDisconnect={disconnect} onReconnect={reconnect} />
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
