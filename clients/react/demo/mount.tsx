// Mounts the session page of /react-demo/sessions/{id} in <React.StrictMode>, with the query options of
// the plain page, for a given status hook (the real one in main.tsx; the original design's broken one in
// the test-only bundle of test-variants/).
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { optionsFromQuery } from "../../../reference_app/static/demo-options.js";
import { DEFAULT_OPTIONS } from "../../../reference_app/static/sse-status-client.js";
import type { UseTranscriptionStatusOptions } from "../src/useTranscriptionStatusSSE.js";
import { SessionDetailPage, type StatusHook } from "./SessionDetailPage.js";
import { installTestHooks, type ReactDemoControls } from "./testHooks.js";

const ROUTE = "/react-demo/sessions/";

function sessionIdFromLocation(): string {
  return decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() ?? "");
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

/** What the plain page shows for a bad query: the error, and no client at all. */
function BadOptions({ message }: { message: string }) {
  return (
    <main className="card">
      <h1>Transcription <code data-testid="session-id">{sessionIdFromLocation()}</code></h1>
      <p className="connection">
        Connection: <span data-testid="connection-status" className="pill" data-state="error">error</span>
      </p>
      <p data-testid="error" className="error" role="alert">{message}</p>
    </main>
  );
}

export function mountDemo(useStatus: StatusHook): void {
  installTestHooks();
  const container = document.getElementById("root");
  if (container === null) throw new Error("react-demo: the page has no #root element");
  const root = createRoot(container);

  let options: UseTranscriptionStatusOptions;
  try {
    options = optionsFromQuery(new URLSearchParams(location.search));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const defaults = JSON.stringify({ ...DEFAULT_OPTIONS, onEvent: undefined });
    root.render(<StrictMode><BadOptions message={`Bad page options: ${message}. Defaults: ${defaults}`} /></StrictMode>);
    return;
  }

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
