"""The load summary: percentiles from Locust's entries, error rate over attempts only, SLOs attached."""

from __future__ import annotations

import pytest

from loadtests.slo import parse_slos
from loadtests.summary import EntryStats, build_summary, slo_failed

pytestmark = pytest.mark.unit


def entry(kind: str, name: str, n: int, fails: int = 0, p99: float = 10.0) -> EntryStats:
    """``n`` samples: half at 1 ms, up to 95 % at 5 ms, up to 99 % at 7 ms, the rest at ``p99``."""
    histogram = {1.0: n // 2, 5.0: n * 95 // 100 - n // 2, 7.0: n * 99 // 100 - n * 95 // 100}
    histogram[p99] = n - sum(histogram.values())
    return EntryStats(type=kind, name=name, num_requests=n, num_failures=fails, histogram=histogram,
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
    assert summary["latency_ms"] == {"p50": 5.0, "p95": 7.0, "p99": 250.0, "max": 500.0, "count": 1000}
    assert summary["latency_histogram_ms"] == [[1.0, 500], [5.0, 450], [7.0, 40], [250.0, 10]]
    assert {"type": "POST", "name": "dev-login", "requests": 10} .items() <= summary["requests"]["entries"][3].items()
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
    assert summary["nothing_measured"] == "no stream opened and no poll answered"


@pytest.mark.parametrize(
    ("counters", "reason"),
    [
        ({"errors": {"connect_refused": 4}}, "no stream opened and no poll answered (errors: connect_refused=4)"),
        ({"streams_opened": 3, "events_by_type": {"message": 40}},
         "no status event arrived on 3 stream(s) (events by type: message=40)"),
        ({"streams_opened": 3, "events_received": 3, "snapshots": 3, "events_by_type": {"status": 3}},
         "only the 3 snapshot(s) of fresh connects arrived, no live status event: no job moved"),
        ({"polls": 50, "events_by_type": {"poll_status": 50}},
         "only the 0 snapshot(s) of fresh connects and 50 poll(s) of unchanged statuses arrived, no live status "
         "event: no job moved"),
    ],
)
def test_nothing_measured_names_what_is_missing(counters: dict[str, object], reason: str) -> None:
    """A server sending ``event: message`` gave ``events_received: 0, errors: 0`` and exit 0: now the run
    fails, and the events it did get are reported by type."""
    summary = build_summary(meta={}, entries=[], counters=counters, streams_peak=0, duration_s=1.0)
    assert summary["nothing_measured"] == reason


def test_a_run_with_live_events_measured_something() -> None:
    counters = {"streams_opened": 1, "events_received": 5, "snapshots": 1, "events_by_type": {"status": 5}}
    summary = build_summary(meta={}, entries=[], counters=counters, streams_peak=1, duration_s=1.0)
    assert summary["nothing_measured"] is None
    assert summary["events_by_type"] == {"status": 5}


def test_a_clock_ahead_of_ours_is_an_unknown_latency_not_zero() -> None:
    """``max(0, received - published)`` turned a publisher clock 2 s ahead into 0 ms samples that passed any
    latency SLO: beyond the tolerance the latency is unknown."""
    from loadtests.observed import CLOCK_SKEW_TOLERANCE_MS, latency_ms

    assert latency_ms(100.25, 100.0) == 250.0
    assert latency_ms(100.0, None) is None
    assert latency_ms(100.0, 102.0) is None
    assert latency_ms(100.0, 100.0 + CLOCK_SKEW_TOLERANCE_MS / 2000) == 0.0


def test_bench_streams_that_never_received_anything_measured_nothing() -> None:
    from loadtests.bench import CapacityRequest, nothing_measured

    request = CapacityRequest()
    opened = {"connect": {"streams": 100}}
    assert nothing_measured({"connect": {"streams": 0}}, request) == "no stream opened"
    assert nothing_measured({**opened, "burst": {"received": 0}}, request) == "no burst event arrived on any stream"
    assert nothing_measured({**opened, "burst": {"received": 500}, "sustained": {"received": 0}}, request) == (
        "no sustained event arrived on any stream")
    assert nothing_measured({**opened, "burst": {"received": 500}, "finish": {"terminal": 0}}, request) == (
        "no stream received its terminal status")
    assert nothing_measured({**opened, "burst": {"received": 500}, "sustained": {"received": 50},
                             "finish": {"terminal": 100}}, request) is None
