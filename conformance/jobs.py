"""The jobs the checker starts on a contract target: only fields docs/contract.md lists (a target that
rejects unknown fields must not fail the run), and how long each takes."""

from __future__ import annotations

from typing import Any

from conformance.options import CheckOptions
from simulators.profiles import build_steps
from sse_contract.jobs import JobParams

__all__ = ["JOB_SLACK_S", "job_body", "job_duration_s", "job_params", "stall_job"]

#: extra window beyond the job's own duration (queueing, a slow worker)
JOB_SLACK_S = 15.0


def job_params(o: CheckOptions) -> JobParams:
    return JobParams(profile="steady", steps=o.steps, interval_ms=o.interval_ms)


def stall_job(o: CheckOptions) -> JobParams:
    """A job that goes silent for twice --stall-after-s mid-way (the stalled event is due after one)."""
    assert o.stall_after_s is not None
    return JobParams(profile="stall", steps=4, interval_ms=o.interval_ms, stall_s=2 * o.stall_after_s + 1)


def job_body(params: JobParams) -> dict[str, Any]:
    """What POST .../transcribe gets: only the fields set, all of them listed in docs/contract.md."""
    return params.model_dump(mode="json", exclude_unset=True)


def job_duration_s(o: CheckOptions) -> float:
    return sum(step.delay_s for step in build_steps(job_params(o)))
