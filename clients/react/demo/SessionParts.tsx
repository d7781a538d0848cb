// The rest of the page around the original design's two components: title, error with its link, and the
// controls, on the same DOM contract as the plain page (session.html + demo-session.js), worded and
// enabled by the same rules (demo-view.js).
import { useEffect, useState } from "react";
import type { ConnectionStatusName } from "../../../reference_app/static/sse-status-client.js";
import {
  controlsFor, errorActionFor, fetchTitle, shownSessionId, type PageErrorReason,
} from "../../../reference_app/static/demo-view.js";

const UNTITLED_HEADING = "Transcription";

interface Title {
  title: string;
  untitled: boolean;
}

/** The session's title (and the tab's), loaded once per session id; StrictMode's first, throw-away
 * effect run is cancelled before it sends anything. */
export function SessionHeading({ sessionId, apiBase }: { sessionId: string; apiBase: string }) {
  const [loaded, setLoaded] = useState<{ sessionId: string; title: Title } | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    queueMicrotask(() => {
      if (abort.signal.aborted) return;
      fetchTitle(sessionId, apiBase, abort.signal)
        .then((title) => {
          if (title === null || abort.signal.aborted) return;
          setLoaded({ sessionId, title });
          document.title = `${title.title} · Transcription status`;
        })
        .catch(() => undefined);
    });
    return () => abort.abort();
  }, [sessionId, apiBase]);
  const title = loaded?.sessionId === sessionId ? loaded.title : null;
  return (
    <>
      <h1 data-testid="session-title" className="title" data-loaded={title ? "true" : "false"}
          data-untitled={title?.untitled ? "true" : undefined}>
        {title ? title.title : UNTITLED_HEADING}
      </h1>
      <p className="muted session-ref">Session <code data-testid="session-id">{shownSessionId(sessionId)}</code></p>
    </>
  );
}

export function ErrorNotice({ error, reason }: { error: string | null; reason: PageErrorReason | null }) {
  const action = errorActionFor(reason, error);
  return (
    <>
      <p data-testid="error" className="error" role="alert" hidden={!error}
         data-reason={error && reason ? reason : undefined}>
        {error ?? ""}
      </p>
      <a data-testid="error-action" className="error-action" href="/" hidden={!action}>{action ?? ""}</a>
    </>
  );
}

export interface ControlsProps {
  connectionStatus: ConnectionStatusName;
  reason: PageErrorReason | null;
  onDisconnect?: () => void;
  onReconnect?: () => void;
}

/** Disconnect / Reconnect, enabled only where they do something (no handlers: no client, both disabled). */
export function Controls({ connectionStatus, reason, onDisconnect, onReconnect }: ControlsProps) {
  const enabled = controlsFor(connectionStatus, reason, onDisconnect !== undefined);
  return (
    <p className="actions">
      <button type="button" id="disconnect" data-testid="disconnect" disabled={!enabled.disconnect}
              onClick={onDisconnect}>Disconnect</button>{" "}
      <button type="button" id="reconnect" data-testid="reconnect" disabled={!enabled.reconnect}
              onClick={onReconnect}>Reconnect</button>
    </p>
  );
}
