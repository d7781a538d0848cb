"""Shared assertions for the conformance tests."""

from __future__ import annotations

#: judged on wall-clock timings: a heavily loaded CI box may push them to a warning, never to a failure
#: (their thresholds are pinned by the unit tests in test_checks_unit.py)
TIMING_CHECKS = {"timing.headers", "timing.first-event", "stream.not-buffered"}


#: checks that run only when their option is given (each costs a target's own setting in time, or needs
#: the operator's hook); a default run skips them, saying so
OPT_IN_CHECKS = {"stream.stalled", "stream.lifetime", "stream.slow-reader"}


def pop_opt_in(outcomes: dict[str, str]) -> None:
    """Remove the opt-in checks, asserting that a default run skipped each of them."""
    for check_id in OPT_IN_CHECKS:
        assert outcomes.pop(check_id) == "skip", check_id


def assert_all_pass(outcomes: dict[str, str]) -> None:
    """Every check passed, except that a timing check may have warned."""
    not_pass = {k: v for k, v in outcomes.items() if v != "pass"}
    assert all(k in TIMING_CHECKS and v == "warn" for k, v in not_pass.items()), not_pass
