"""The load summary (what ``sse-harness load --json`` writes), built from plain data. Pure Python.

Inputs are Locust's request statistics flattened to dicts (Locust aggregates those across workers
itself) and the merged stream counters (aggregated by the plugin through worker reports). Keeping this
free of Locust and gevent lets the CLI, the tests and the plugin share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from loadtests.slo import SLOSpec, evaluate

__all__ = ["DERIVED_NAMES", "SSE_TYPE", "EntryStats", "build_summary", "slo_failed"]

#: Locust ``request_type`` of everything the SSE client reports.
SSE_TYPE = "SSE"
#: SSE entries that are measurements of a stream, not attempts that can fail on their own: they stay
#: out of the error-rate denominator (else 10,000 received events would dilute one failed connect).
DERIVED_NAMES = frozenset({"event", "snapshot", "first_event", "reconnect"})


class EntryStats(TypedDict):
    type: str
    name: str
    num_requests: int
    num_failures: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    avg: float | None


def _pcts(entry: EntryStats | None, keys: Iterable[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in keys:
        value: Any = entry.get(key) if entry else None
        out[key] = None if value is None or not entry or not entry["num_requests"] else round(float(value), 1)
    out["count"] = entry["num_requests"] if entry else 0
    return out


def build_summary(
    *,
    meta: Mapping[str, Any],
    entries: Iterable[EntryStats],
    counters: Mapping[str, Any],
    streams_peak: int,
    duration_s: float,
    server: Mapping[str, Any] | None = None,
    slos: Iterable[SLOSpec] = (),
    generator: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    table = {(e["type"], e["name"]): e for e in entries}

    def sse(name: str) -> EntryStats | None:
        return table.get((SSE_TYPE, name))

    requests = sum(e["num_requests"] for e in table.values())
    failures = sum(e["num_failures"] for e in table.values())
    attempts = sum(e["num_requests"] for (kind, name), e in table.items()
                   if not (kind == SSE_TYPE and name in DERIVED_NAMES) and kind != "POLL")
    errors_by_type = dict(sorted(dict(counters.get("errors") or {}).items()))
    errors = sum(errors_by_type.values())
    http = [e for (kind, _), e in table.items() if kind not in (SSE_TYPE, "POLL")]
    summary: dict[str, Any] = {
        **meta,
        "duration_s": round(duration_s, 2),
        "streams_peak": streams_peak,
        "streams_opened": counters.get("streams_opened", 0),
        "events_received": counters.get("events_received", 0),
        "heartbeats": counters.get("heartbeats", 0),
        "gaps": counters.get("gaps", 0),
        "duplicates": counters.get("duplicates", 0),
        "out_of_order": counters.get("out_of_order", 0),
        "resets": counters.get("resets", 0),
        "reconnects": counters.get("reconnects", 0),
        "errors": errors,
        "errors_by_type": errors_by_type,
        "error_rate": round(errors / attempts, 6) if attempts else (1.0 if errors else 0.0),
        "latency_ms": _pcts(sse("event"), ("p50", "p95", "p99", "max")),
        "connect_ms": _pcts(sse("connect"), ("p50", "p95", "p99", "max")),
        "first_event_ms": _pcts(sse("first_event"), ("p50", "p95", "p99", "max")),
        "reconnect_ms": _pcts(sse("reconnect"), ("p50", "p95", "p99", "max")),
        "watches": {
            "started": counters.get("watches_started", 0),
            "terminal": counters.get("watches_terminal", 0),
            "abandoned": counters.get("watches_abandoned", 0),
            # still watching when the run stopped, or killed by the stop: never saw the end
            "open_at_stop": counters.get("watches_open", 0) + counters.get("watches_interrupted", 0),
            "by_status": dict(counters.get("terminal") or {}),
        },
        "stream_ends": dict(sorted(dict(counters.get("stream_ends") or {}).items())),
        "polling": {
            "polls": counters.get("polls", 0),
            "not_modified": counters.get("polls_not_modified", 0),
            # publish-to-noticed latency of a status change seen by polling (compare with latency_ms)
            "change_ms": _pcts(table.get(("POLL", "change")), ("p50", "p95", "p99", "max")),
        },
        "requests": {
            "total": requests,
            "failures": failures,
            "attempts": attempts,
            "http_per_s": round(sum(e["num_requests"] for e in http) / duration_s, 2) if duration_s else None,
        },
        "server": dict(server) if server else None,
        "generator": dict(generator) if generator else None,
    }
    summary["slo"] = evaluate(slos, summary)
    return summary


def slo_failed(summary: Mapping[str, Any]) -> list[str]:
    """Names of the SLOs that failed."""
    return [name for name, result in dict(summary.get("slo") or {}).items() if not result.get("pass")]
