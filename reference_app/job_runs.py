"""Running a simulated job: wait before each step, then publish the step's status change.

The simulators only produce steps (``simulators.profiles.build_steps``); the caller owns the publisher and
the clock, so nothing below ``reference_app`` calls back into a bus. Every runner of a job — the Celery task,
the in-process job queue, ``sse-harness simulate``, the checker's ``--trigger redis`` and the Locust users —
goes through these two loops, so they publish the same statuses under the same publish ids.

The publish id of a step is ``<run id>:<step index>``: a rerun under the same run id (a task redelivered
after a worker crash) publishes nothing that already went out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from simulators.profiles import build_steps
from sse_contract.jobs import JobParams
from sse_contract.status import StatusChange, StatusUpdate

__all__ = ["AsyncPublish", "SyncPublish", "run_job", "run_job_sync", "step_publish_id"]


class SyncPublish(Protocol):
    """``StatusPublisher.publish``: the one publish signature, blocking flavour."""

    def __call__(self, session_id: str, change: StatusChange, publish_id: str | None = None) -> StatusUpdate: ...


class AsyncPublish(Protocol):
    """``StatusBus.publish``: the one publish signature, asyncio flavour."""

    def __call__(
        self, session_id: str, change: StatusChange, publish_id: str | None = None
    ) -> Awaitable[StatusUpdate]: ...


def step_publish_id(run_id: str, index: int) -> str:
    return f"{run_id}:{index}"


def run_job_sync(publish: SyncPublish, session_id: str, params: JobParams, run_id: str,
                 sleep: Callable[[float], None] = time.sleep) -> StatusChange:
    """Publish every step (``sleep`` is ``gevent.sleep`` under Locust); returns the last change."""
    steps = build_steps(params)
    for index, step in enumerate(steps):
        if step.delay_s:
            sleep(step.delay_s)
        publish(session_id, step.change, step_publish_id(run_id, index))
    return steps[-1].change


async def run_job(publish: AsyncPublish, session_id: str, params: JobParams, run_id: str) -> StatusChange:
    steps = build_steps(params)
    for index, step in enumerate(steps):
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        await publish(session_id, step.change, step_publish_id(run_id, index))
    return steps[-1].change
