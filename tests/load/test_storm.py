"""The storm phase's pure parts: merging the answers of several client processes, and its verdict rows."""

from __future__ import annotations

import pytest

from loadtests.storm import STORM_TARGETS, merge_answers, storm_rows

pytestmark = pytest.mark.unit


def test_counts_add_up_extremes_take_the_maximum_and_percentiles_are_flagged_upper_bounds() -> None:
    a = {"event": "storm", "viewers": 10, "resumed": 10, "refused": 1, "refused_by": {"http_503": 1},
         "all_live_s": 1.5, "live_ms": {"p50": 100.0, "p99": 900.0}, "cut_s": 0.1, "errors": ["x"]}
    b = {"event": "storm", "viewers": 5, "resumed": 4, "refused": 2, "refused_by": {"http_503": 1, "http_429": 1},
         "all_live_s": None, "live_ms": {"p50": 300.0, "p99": 400.0}, "cut_s": 0.3, "errors": ["y"]}
    merged = merge_answers([a, b])
    assert merged["event"] == "storm"
    assert (merged["viewers"], merged["resumed"], merged["refused"]) == (15, 14, 3)
    assert merged["refused_by"] == {"http_503": 2, "http_429": 1}
    assert merged["all_live_s"] is None  # one client never had all its viewers live: no "all live" time
    assert merged["cut_s"] == 0.3
    assert merged["live_ms"] == {"p50": 300.0, "p99": 900.0} and merged["merged_percentiles"] is True
    assert merged["errors"] == ["x", "y"]
    assert merge_answers([a]) is a


def storm(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"viewers": 100, "resumed": 100, "refused": 0, "refused_by": {}, "all_live_s": 2.0,
                               "live_ms": {"p50": 1.0, "p99": 2.0}, "gaps": 0, "duplicates": 0, "lost": 0,
                               "published_during_phase": 5, "api_cpu_ms_per_reconnect": 0.2, "api_cpu_s": 0.02,
                               "redis_commands_per_reconnect": 0.1, "redis_commands": {}}
    return {**base, **overrides}


@pytest.mark.parametrize(("overrides", "missed_row"), [
    ({}, None),
    ({"resumed": 99}, 0), ({"refused": 1}, 0),
    ({"all_live_s": None}, 1), ({"all_live_s": STORM_TARGETS["all_live_s_max"] + 0.1}, 1),
    ({"gaps": 1}, 2), ({"duplicates": 1}, 2), ({"lost": 1}, 2),
    ({"api_cpu_ms_per_reconnect": STORM_TARGETS["api_cpu_ms_per_reconnect_max"] + 0.01}, 3),
])
def test_each_target_is_judged_on_its_own_figure(overrides: dict[str, object], missed_row: int | None) -> None:
    rows = storm_rows(storm(**overrides))
    verdicts = ["missed" in target for _, _, target in rows[:4]]
    assert verdicts == [i == missed_row for i in range(4)]
