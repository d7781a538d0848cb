from __future__ import annotations

import pytest
from pydantic import ValidationError

from simulators.profiles import PROFILES, build_steps
from sse_contract.jobs import JobParams

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("profile", sorted(set(PROFILES) - {"fail_at"}))
def test_every_profile_is_monotone_and_ends_completed(profile: str) -> None:
    steps = build_steps(JobParams(profile=profile, steps=30, seed=1))  # type: ignore[arg-type]
    progress = [s.change.progress for s in steps]
    assert progress == sorted(progress)
    assert steps[-1].change.status == "completed" and steps[-1].change.progress == 100
    assert all(not s.terminal for s in steps[:-1])
    assert all(s.delay_s >= 0 for s in steps)


def test_profiles_are_deterministic_given_a_seed() -> None:
    params = JobParams(profile="realistic", audio_duration_s=900, seed=42)
    assert build_steps(params) == build_steps(params)
    assert build_steps(params) != build_steps(params.model_copy(update={"seed": 43}))


def test_fail_at_ends_failed_at_that_step() -> None:
    steps = build_steps(JobParams(profile="fail_at", steps=10, fail_at=4))
    assert [s.change.status for s in steps].count("failed") == 1
    assert steps[-1].change.status == "failed" and len(steps) == 5
    assert "failed" in steps[-1].change.message


def test_bursty_is_hundreds_per_second() -> None:
    steps = build_steps(JobParams(profile="bursty", steps=300))
    busy = sum(s.delay_s for s in steps)
    assert len(steps) / busy > 100


def test_stall_has_one_long_silence() -> None:
    steps = build_steps(JobParams(profile="stall", steps=10, interval_ms=10, stall_s=7))
    assert max(s.delay_s for s in steps) == 7


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"profile": "fail_at"}, "needs fail_at"),
        ({"steps": 5, "fail_at": 6}, "must be <= steps"),
        ({"steps": 0}, "greater than or equal to 1"),
        ({"profile": "nope"}, "Input should be"),
        ({"interval_ms": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_parameters_are_rejected_with_a_reason(params: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        JobParams.model_validate(params)
