"""The load summary (what ``sse-harness load --json`` writes), built from plain data. Pure Python.

Inputs are Locust's request statistics flattened to dicts (Locust aggregates those across workers
itself) and the merged stream counters (aggregated by the plugin through worker reports). Keeping this
free of Locust and gevent lets the CLI, the tests and the plugin share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from loadtests.percentiles import summarize_histogram
from loadtests.slo import SLOSpec, evaluate

__all__ = ["DERIVED_NAMES", "SSE_TYPE", "EntryStats", "build_summary", "nothing_measured", "slo_failed"]

#: Locust ``request_type`` of everything the SSE client reports.
SSE_TYPE = "SSE"
#: SSE entries that are measurements of a stream, not attempts that can fail on their own: they stay
#: out of the error-rate denominator (else 10,000 received events would dilute one failed connect).
DERIVED_NAMES = frozenset({"event", "snapshot", "first_event", "reconnect"})


class EntryStats(TypedDict):
    """One Locust statistics entry, flattened. ``histogram`` is Locust's (rounded ms -> count)."""

    type: str
    name: str
    num_requests: int
    num_failures: int
    histogram: Mapping[float, int]
    max: float | None
    avg: float | None


def _entry_quantiles(entry: EntryStats | None) -> dict[str, Any]:
    """p50/p95/p99/max/count of an entry; the figures are None (unknown) without samples."""
    out: dict[str, Any] = summarize_histogram(entry["histogram"] if entry else {})
    if entry and entry["max"] is not None and out["count"]:
        out["max"] = round(float(entry["max"]), 1)  # exact, not rounded into the histogram
    return out


def _histogram(entry: EntryStats | None) -> list[list[float]]:
    """[[ms, count], ...] sorted: the distribution the HTML report plots."""
    if not entry:
        return []
    return [[float(k), int(v)] for k, v in sorted(entry["histogram"].items()) if v > 0]


def nothing_measured(summary: Mapping[str, Any]) -> str | None:
    """Why the run measured nothing (then it must fail whatever the SLOs say), or None."""
    errors = dict(summary.get("errors_by_type") or {})
    err_text = (" (errors: " + ", ".join(f"{k}={v}" for k, v in list(errors.items())[:5]) + ")") if errors else ""
    polling = dict(summary.get("polling") or {})
    by_type = dict(summary.get("events_by_type") or {})
    statuses = int(summary.get("events_received") or 0) + int(by_type.get("poll_status", 0))
    if not summary.get("streams_opened") and not polling.get("polls"):
        return "no stream opened and no poll answered" + err_text
    if not statuses:
        others = ", ".join(f"{k}={v}" for k, v in by_type.items()) or "none"
        return (f"no status event arrived on {summary.get('streams_opened', 0)} stream(s) "
                f"(events by type: {others}){err_text}")
    live = int(summary.get("events_received") or 0) - int(summary.get("snapshots") or 0)
    # polls that only ever saw the first status of each job (a dead worker) measured no change either
    if not live and not by_type.get("poll_change"):
        seen = (f"only the {summary.get('snapshots') or 0} snapshot(s) of fresh connects"
                + (f" and {by_type.get('poll_status', 0)} poll(s) of unchanged statuses" if polling.get("polls")
                   else ""))
        return f"{seen} arrived, no live status event: no job moved{err_text}"
    return None


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
    timeline: Iterable[Mapping[str, Any]] = (),
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
        "events_by_type": dict(sorted(dict(counters.get("events_by_type") or {}).items())),
        "snapshots": counters.get("snapshots", 0),
        "latency_unknown": counters.get("latency_unknown", 0),
        "heartbeats": counters.get("heartbeats", 0),
        "gaps": counters.get("gaps", 0),
        "duplicates": counters.get("duplicates", 0),
        "out_of_order": counters.get("out_of_order", 0),
        "resets": counters.get("resets", 0),
        "reconnects": counters.get("reconnects", 0),
        "errors": errors,
        "errors_by_type": errors_by_type,
        "error_rate": round(errors / attempts, 6) if attempts else (1.0 if errors else 0.0),
        "latency_ms": _entry_quantiles(sse("event")),
        "connect_ms": _entry_quantiles(sse("connect")),
        "first_event_ms": _entry_quantiles(sse("first_event")),
        "reconnect_ms": _entry_quantiles(sse("reconnect")),
        "latency_histogram_ms": _histogram(sse("event")),
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
            "change_ms": _entry_quantiles(table.get(("POLL", "change"))),
        },
        "requests": {
            "total": requests,
            "failures": failures,
            "attempts": attempts,
            "http_per_s": round(sum(e["num_requests"] for e in http) / duration_s, 2) if duration_s else None,
            "entries": [_entry_row(e) for e in table.values()],
        },
        "timeline": [dict(sample) for sample in timeline],
        "server": dict(server) if server else None,
        "generator": dict(generator) if generator else None,
    }
    summary["nothing_measured"] = nothing_measured(summary)
    summary["slo"] = evaluate(slos, summary)
    return summary


def _entry_row(entry: EntryStats) -> dict[str, Any]:
    """Locust's request statistics as its own report shows them (they stay in the HTML report)."""
    return {"type": entry["type"], "name": entry["name"], "requests": entry["num_requests"],
            "failures": entry["num_failures"],
            "avg_ms": None if entry["avg"] is None else round(entry["avg"], 1), **_entry_quantiles(entry)}


def slo_failed(summary: Mapping[str, Any]) -> list[str]:
    """Names of the SLOs that failed."""
    return [name for name, result in dict(summary.get("slo") or {}).items() if not result.get("pass")]
