// The original design's connection indicator, on the DOM contract of docs/browser-client.md.
import type { ConnectionStatusName } from "../../../reference_app/static/sse-status-client.js";

export interface ConnectionStatusIndicatorProps {
  status: ConnectionStatusName;
  isConnected: boolean;
}

export function ConnectionStatusIndicator({ status, isConnected }: ConnectionStatusIndicatorProps) {
  return (
    <p className="connection">
      Connection:{" "}
      <span data-testid="connection-status" className="pill" data-state={status} aria-live="polite"
            title={isConnected ? "live updates" : undefined}>
        {status}
      </span>
    </p>
  );
}
