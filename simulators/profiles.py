"""Fake transcription jobs: deterministic sequences of status steps, given a seed.

A profile is a pure function from parameters to a list of ``Step``s (the delay before the step and the
``StatusChange`` it reports). Simulators only produce steps; whoever runs a job (the Celery task, the
in-process job queue of the ASGI tests, ``sse-harness simulate``, the checker, the Locust users) sleeps and
publishes them itself through ``reference_app.job_runs``, so every path publishes exactly the same statuses
and nothing here calls back into a publisher.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sse_contract.jobs import JobParams
from sse_contract.status import StatusChange

__all__ = ["PROFILES", "Step", "build_steps"]


@dataclass(frozen=True, slots=True)
class Step:
    """Wait ``delay_s``, then report ``change``."""

    delay_s: float
    change: StatusChange

    @property
    def terminal(self) -> bool:
        return self.change.terminal


def _step(delay_s: float, status: str, progress: float, message: str, extra: dict[str, Any] | None = None) -> Step:
    return Step(delay_s, StatusChange(status, progress, message, extra or {}))


def _linear(params: JobParams, rng: random.Random) -> list[Step]:
    interval = params.interval_ms / 1000
    out = [_step(0.0, "processing", 0, "Starting audio processing")]
    for i in range(1, params.steps + 1):
        pct = round(100 * i / (params.steps + 1), 2)
        out.append(_step(interval, "processing", pct, f"Transcribing segment {i}/{params.steps}"))
    out.append(_step(interval, "completed", 100, "Transcription completed"))
    return out


def _bursty(params: JobParams, rng: random.Random) -> list[Step]:
    """Hundreds of updates a second in bursts: the client must batch its renders."""
    interval = min(params.interval_ms, 5) / 1000
    out = [_step(0.0, "processing", 0, "Starting audio processing")]
    for i in range(1, params.steps + 1):
        pause = 0.2 if i % 100 == 0 else interval
        pct = round(100 * i / (params.steps + 1), 3)
        out.append(_step(pause, "processing", pct, f"Aligning words {i}/{params.steps}"))
    out.append(_step(interval, "completed", 100, "Transcription completed"))
    return out


def _stall(params: JobParams, rng: random.Random) -> list[Step]:
    """Progress, then ``stall_s`` of silence, then the end: heartbeats must keep the stream alive."""
    steps = _linear(params, rng)
    half = len(steps) // 2
    stalled = steps[half]
    steps[half] = _step(params.stall_s, stalled.change.status, stalled.change.progress, "Resuming after a long pause")
    return steps


def _long(params: JobParams, rng: random.Random) -> list[Step]:
    steps = max(params.steps, 120)
    interval = max(params.interval_ms, 1000)
    return _linear(params.model_copy(update={"steps": steps, "interval_ms": interval}), rng)


def _realistic(params: JobParams, rng: random.Random) -> list[Step]:
    """Phases of a real job, sized by the audio duration, jittered, progress monotone."""
    duration = params.audio_duration_s
    # wall seconds per audio second at speed 1: a 10-minute file takes ~6 s
    scale = 0.01 / params.speed
    phases = [
        ("Uploading audio", 0.05, 3),
        ("Converting to 16 kHz mono", 0.05, 2),
        ("Transcribing", 0.75, max(5, int(duration // 30))),
        ("Identifying speakers", 0.10, 4),
        ("Finalising transcript", 0.05, 2),
    ]
    out = [_step(0.0, "processing", 0, "Queued audio for transcription", {"audio_duration_s": duration})]
    progress = 0.0
    for name, share, count in phases:
        for i in range(count):
            progress = min(99.0, progress + 100 * share / count)
            delay = duration * share * scale / count * rng.uniform(0.6, 1.4)
            out.append(_step(round(delay, 4), "processing", round(progress, 2), f"{name} ({i + 1}/{count})"))
    out.append(_step(0.05, "completed", 100, "Transcription completed", {"audio_duration_s": duration}))
    return out


PROFILES: dict[str, Callable[[JobParams, random.Random], list[Step]]] = {
    "steady": _linear,
    "fail_at": _linear,
    "bursty": _bursty,
    "stall": _stall,
    "long": _long,
    "realistic": _realistic,
}


def build_steps(params: JobParams) -> list[Step]:
    """The full step list; ``fail_at`` cuts any profile at that step with a failure."""
    rng = random.Random(params.seed)
    steps = PROFILES[params.profile](params, rng)
    if params.fail_at is not None:
        cut = min(params.fail_at, len(steps) - 1)
        failed_at = steps[cut]
        steps = [*steps[:cut], _step(failed_at.delay_s, "failed", steps[cut - 1].change.progress,
                                    "Transcription failed: the audio could not be decoded")]
    return steps
