"""The load summary: percentiles from Locust's entries, error rate over attempts only, SLOs attached."""

from __future__ import annotations

import pytest

from loadtests.slo import parse_slos
from loadtests.summary import EntryStats, build_summary, slo_failed

pytestmark = pytest.mark.unit


def entry(kind: str, name: str, n: int, fails: int = 0, p99: float = 10.0) -> EntryStats:
    return EntryStats(type=kind, name=name, num_requests=n, num_failures=fails, p50=1.0, p95=5.0, p99=p99,
                      max=p99 * 2, avg=2.0)


COUNTERS = {
    "streams_opened": 12, "events_received": 1000, "gaps": 0, "duplicates": 1, "reconnects": 2,
    "watches_started": 10, "watches_terminal": 7, "watches_open": 2, "watches_interrupted": 1,
    "errors": {"connect_refused": 2, "http_429": 1}, "terminal": {"completed": 7},
}


def test_summary_fields_and_error_rate_over_attempts_not_events() -> None:
    entries = [
        entry("SSE", "connect", 12, fails=3), entry("SSE", "event", 1000, p99=250.0),
        entry("SSE", "first_event", 10), entry("POST", "dev-login", 10), entry("POST", "create-session", 10),
        entry("POLL", "change", 50, p99=900.0),
    ]
    summary = build_summary(meta={"scenario": "steady"}, entries=entries, counters=COUNTERS, streams_peak=9,
                            duration_s=10.0, slos=parse_slos(["p99_latency_ms=200", "gaps=0"]))
    assert summary["scenario"] == "steady"
    assert summary["streams_peak"] == 9
    assert summary["events_received"] == 1000
    assert summary["latency_ms"] == {"p50": 1.0, "p95": 5.0, "p99": 250.0, "max": 500.0, "count": 1000}
    assert summary["connect_ms"]["count"] == 12
    assert summary["errors"] == 3 and summary["errors_by_type"] == {"connect_refused": 2, "http_429": 1}
    # 3 errors over 32 attempts (connects + HTTP hooks); the 1,010 event measurements are not attempts.
    assert summary["requests"]["attempts"] == 32
    assert summary["error_rate"] == round(3 / 32, 6)
    assert summary["watches"]["open_at_stop"] == 3  # still open + killed by the stop
    assert summary["requests"]["http_per_s"] == 2.0
    assert summary["polling"]["change_ms"]["p99"] == 900.0
    assert slo_failed(summary) == ["p99_latency_ms"]


def test_no_data_gives_none_percentiles_and_zero_rates() -> None:
    summary = build_summary(meta={}, entries=[], counters={}, streams_peak=0, duration_s=0.0)
    assert summary["latency_ms"] == {"p50": None, "p95": None, "p99": None, "max": None, "count": 0}
    assert summary["error_rate"] == 0.0
    assert summary["slo"] == {}
