// What the page exposes on window for the Playwright suite, the same names as the plain page's
// (demo-session.js) plus `reactDemo`, the controls only a React page has: change the sessionId as a
// client-side route change would, re-render the parent in a storm, unmount the whole tree.
import type { WireEvent } from "../../../reference_app/static/sse-status-client.js";

export interface RenderRecord {
  frameTime: number | null;
  seq: number | null;
  progress: number | null;
  connectionStatus: string;
}

export interface ReactDemoControls {
  /** Navigate to another session client-side (history.pushState + popstate, like a Next.js route change). */
  setSessionId(sessionId: string): void;
  /** Re-render the page's parent `count` times, one every `everyMs`; resolves with the commits seen. */
  rerenderStorm(count: number, everyMs: number): Promise<number>;
  /** Unmount the React tree (what leaving a route does). */
  unmount(): void;
  /** StrictMode evidence: how often the page's mount effect ran and was cleaned up. */
  mountEffects: { setups: number; cleanups: number };
}

declare global {
  interface Window {
    __sseEvents: WireEvent[];
    __renders: RenderRecord[];
    __commits: number;
    statusClient?: { reconnect(): void; disconnect(): void };
    reactDemo?: ReactDemoControls;
  }
}

export function installTestHooks(): void {
  window.__sseEvents = [];
  window.__renders = [];
  window.__commits = 0;
}
