// The original design's connection indicator, on the DOM contract of docs/browser-client.md: the state
// name (also `data-state`) and one sentence saying what it means.
import type { ConnectionStatusName } from "../../../reference_app/static/sse-status-client.js";

export interface ConnectionStatusIndicatorProps {
  status: ConnectionStatusName;
  isConnected: boolean;
  detail: string;
}

export function ConnectionStatusIndicator({ status, isConnected, detail }: ConnectionStatusIndicatorProps) {
  return (
    <p className="connection" data-live={isConnected ? "true" : undefined}>
      Connection:{" "}
      <span data-testid="connection-status" className="pill" data-state={status}>{status}</span>{" "}
      <span data-testid="connection-detail" className="muted detail" aria-live="polite">{detail}</span>
    </p>
  );
}
