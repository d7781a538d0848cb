"""SLO gates: parsing with clear errors, and evaluation in both directions."""

from __future__ import annotations

import pytest

from loadtests.slo import SLOError, SLOSpec, evaluate, parse_slo, parse_slos

pytestmark = pytest.mark.unit

SUMMARY = {
    "gaps": 0,
    "events_received": 4000,
    "errors": 3,
    "error_rate": 0.002,
    "requests": {"attempts": 1500},
    "streams_peak": 480,
    "latency_ms": {"p50": 4.0, "p95": 120.0, "p99": 510.0, "max": 900.0, "count": 3800},
    "connect_ms": {"p50": 20.0, "p95": 80.0, "p99": None, "count": 0},
    "watches": {"started": 200, "terminal": 200, "open_at_stop": 0},
}


def test_parse_accepts_names_and_numbers() -> None:
    assert parse_slo("p99_latency_ms=500") == SLOSpec("p99_latency_ms", 500.0, "max")
    assert parse_slo("streams_peak=5") == SLOSpec("streams_peak", 5.0, "min")
    assert parse_slo(" error_rate = 0.001 ") == SLOSpec("error_rate", 0.001)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p99_latency_ms", "not NAME=VALUE"),
        ("=5", "not NAME=VALUE"),
        ("p99=500", "unknown SLO 'p99'"),
        ("gaps=none", "'none' is not a number"),
        ("gaps=-1", "finite number >= 0"),
        ("gaps=inf", "finite number >= 0"),
    ],
)
def test_parse_rejects_bad_input_with_a_message_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(SLOError, match=message):
        parse_slo(text)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(SLOError, match=r"p99_latency_ms, .*gaps"):
        parse_slo("latency=1")


def test_parse_slos_splits_commas_and_rejects_a_name_given_twice() -> None:
    assert [s.name for s in parse_slos(["gaps=0,errors=1", "streams_peak=10"])] == [
        "gaps", "errors", "streams_peak"]
    with pytest.raises(SLOError, match="more than once: gaps"):
        parse_slos(["gaps=0", "gaps=1"])


def test_max_limits_pass_at_or_below_and_fail_above() -> None:
    results = evaluate(parse_slos(["gaps=0", "p99_latency_ms=500", "errors=3", "error_rate=0.001"]), SUMMARY)
    assert results["gaps"] == {"limit": 0.0, "value": 0.0, "pass": True, "direction": "max", "samples": 4000,
                               "reason": ""}
    assert results["p99_latency_ms"]["pass"] is False and results["p99_latency_ms"]["value"] == 510.0
    assert results["errors"]["pass"] is True  # equal to the limit passes
    assert results["error_rate"]["pass"] is False


def test_min_limits_are_for_achieved_load() -> None:
    results = evaluate(parse_slos(["streams_peak=500", "watches_terminal=200"]), SUMMARY)
    assert results["streams_peak"]["pass"] is False
    assert results["streams_peak"]["direction"] == "min"
    assert results["watches_terminal"]["pass"] is True


def test_a_metric_without_data_fails() -> None:
    results = evaluate(parse_slos(["p99_connect_ms=1000", "unfinished=0"]), {**SUMMARY, "watches": {}})
    assert results["p99_connect_ms"] == {"limit": 1000.0, "value": None, "pass": False, "direction": "max",
                                         "samples": 0, "reason": "no samples"}
    assert results["unfinished"]["pass"] is False


def test_a_count_over_zero_samples_fails_although_it_is_zero() -> None:
    """The dead-Redis run of issue 11: no status event, no attempt; ``gaps=0`` and ``error_rate=0.001``
    held "0 <= limit" and passed. Zero gaps over zero events says nothing."""
    empty = {**SUMMARY, "events_received": 0, "requests": {"attempts": 0}, "error_rate": 0.0, "errors": 0}
    results = evaluate(parse_slos(["gaps=0", "duplicates=0", "error_rate=0.001", "errors=0"]), empty)
    assert {name: (r["pass"], r["reason"]) for name, r in results.items()} == {
        name: (False, "no samples") for name in ("gaps", "duplicates", "error_rate", "errors")}
