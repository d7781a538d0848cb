// Mounts the session page of /react-demo/sessions/{id} in <React.StrictMode>, with the query options of
// the plain page, for a given status hook (the real one in main.tsx; the original design's broken one in
// the test-only bundle of test-variants/).
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  addressProblem, optionsFromQuery, sessionIdFromPath, shownSessionId, type PageErrorReason,
} from "../../../reference_app/static/demo-view.js";
import type { UseTranscriptionStatusOptions } from "../src/useTranscriptionStatusSSE.js";
import { SessionDetailPage, type StatusHook } from "./SessionDetailPage.js";
import { ConnectionStatusIndicator } from "./ConnectionStatusIndicator.js";
import { Controls, ErrorNotice } from "./SessionParts.js";
import { TranscriptionProgress } from "./TranscriptionProgress.js";
import { installTestHooks, type ReactDemoControls } from "./testHooks.js";

const ROUTE = "/react-demo/sessions/";

function sessionIdFromLocation(): string {
  return sessionIdFromPath(location.pathname);
}

interface DemoAppProps {
  useStatus: StatusHook;
  options: UseTranscriptionStatusOptions;
  controls: ReactDemoControls;
  registerRerender: (rerender: () => void) => void;
}

/** The route component: owns the sessionId (from the URL, updated on popstate as a client-side router
 * would) and can be forced to re-render; the session page below it gets a new options object each time. */
function DemoApp({ useStatus, options, controls, registerRerender }: DemoAppProps) {
  const [sessionId, setSessionId] = useState(sessionIdFromLocation);
  const [, setTick] = useState(0);
  useEffect(() => {
    controls.mountEffects.setups += 1;
    const onPopState = () => setSessionId(sessionIdFromLocation());
    window.addEventListener("popstate", onPopState);
    registerRerender(() => setTick((tick) => tick + 1));
    return () => {
      controls.mountEffects.cleanups += 1;
      window.removeEventListener("popstate", onPopState);
    };
  }, [controls, registerRerender]);
  return <SessionDetailPage sessionId={sessionId} options={{ ...options }} useStatus={useStatus} />;
}

/** What the plain page shows for a bad address (malformed id or query): the error, and no client at all. */
function BadAddress({ reason, message }: { reason: PageErrorReason; message: string }) {
  return (
    <main className="card">
      <p className="crumbs"><a href="/">&larr; New transcription</a></p>
      <h1 data-testid="session-title" className="title" data-loaded="false">Transcription</h1>
      <p className="muted session-ref">Session <code data-testid="session-id">{shownSessionId(sessionIdFromLocation())}</code></p>
      <ConnectionStatusIndicator status="error" isConnected={false} detail="No live updates." />
      <TranscriptionProgress status={null} session={{ finished: false, outcome: null, final: null }} realTime={false} />
      <ErrorNotice error={message} reason={reason} />
      <Controls connectionStatus="error" reason={reason} />
    </main>
  );
}

export function mountDemo(useStatus: StatusHook): void {
  installTestHooks();
  const container = document.getElementById("root");
  if (container === null) throw new Error("react-demo: the page has no #root element");
  const root = createRoot(container);

  const problem = addressProblem(sessionIdFromLocation(), location.search);
  if (problem !== null) {
    root.render(<StrictMode><BadAddress reason={problem.reason} message={problem.message} /></StrictMode>);
    return;
  }
  const options: UseTranscriptionStatusOptions = optionsFromQuery(new URLSearchParams(location.search));

  let rerender: () => void = () => undefined;
  const controls: ReactDemoControls = {
    mountEffects: { setups: 0, cleanups: 0 },
    setSessionId(sessionId) {
      history.pushState(null, "", `${ROUTE}${encodeURIComponent(sessionId)}${location.search}`);
      window.dispatchEvent(new PopStateEvent("popstate"));
    },
    rerenderStorm(count, everyMs) {
      const before = window.__commits;
      return new Promise((resolve) => {
        let done = 0;
        const timer = window.setInterval(() => {
          rerender();
          done += 1;
          if (done >= count) {
            window.clearInterval(timer);
            // One more macrotask so React commits the last update before counting.
            window.setTimeout(() => resolve(window.__commits - before), 50);
          }
        }, everyMs);
      });
    },
    unmount() {
      root.unmount();
      delete window.statusClient;
    },
  };
  window.reactDemo = controls;
  const registerRerender = (fn: () => void) => {
    rerender = fn;
  };
  root.render(
    <StrictMode>
      <DemoApp useStatus={useStatus} options={options} controls={controls} registerRerender={registerRerender} />
    </StrictMode>,
  );
}
