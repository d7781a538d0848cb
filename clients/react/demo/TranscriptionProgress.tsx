// The original design's progress display, on the same DOM contract as the plain page (session.html +
// demo-session.js): the same test ids, aria-valuenow carrying the raw progress, data-seq on the status.
import type { StatusUpdate } from "../../../reference_app/static/sse-status-client.js";
import type { SessionState } from "../src/useTranscriptionStatusSSE.js";

export interface TranscriptionProgressProps {
  status: StatusUpdate | null;
  session: SessionState;
  realTime: boolean;
}

export function TranscriptionProgress({ status, session, realTime }: TranscriptionProgressProps) {
  const pct = status ? Math.max(0, Math.min(100, status.progress)) : 0;
  return (
    <>
      <div data-testid="progress" className="progress" role="progressbar" aria-label="Transcription progress"
           aria-valuemin={0} aria-valuemax={100} aria-valuenow={status ? status.progress : 0}
           data-status={status?.status} data-live={realTime ? "true" : undefined}
           data-finished={session.finished ? "true" : undefined}>
        <div className="progress-fill" style={status ? { width: `${pct}%` } : undefined} />
      </div>
      <p className="figures">
        <span data-testid="progress-text">{`${Math.round(pct)}%`}</span>
        {" "}&middot; status <strong data-testid="status" data-seq={status ? String(status.seq) : undefined}>
          {status?.status ?? ""}
        </strong>
        {" "}&middot; event <span data-testid="seq">{status ? String(status.seq) : ""}</span>
      </p>
      <p data-testid="message" className="message">{status?.message ?? ""}</p>
    </>
  );
}
