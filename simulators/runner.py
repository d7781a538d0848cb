"""Run a profile's steps against a publisher: sync (Celery worker) or async (in-process, simulate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from simulators.profiles import Step, build_steps
from sse_contract.jobs import JobParams


class SyncPublish(Protocol):
    def __call__(
        self, session_id: str, status: str, progress: float, message: str,
        extra: dict[str, Any] | None, publish_id: str | None,
    ) -> object: ...


AsyncPublish = Callable[[str, str, float, str, dict[str, Any] | None, str | None], Awaitable[object]]


def run_sync(session_id: str, params: JobParams, publish: SyncPublish, run_id: str,
             sleep: Callable[[float], None] = time.sleep) -> Step:
    """Publish every step; ``run_id`` + step index is the publish id, so a re-run (a redelivered task)
    re-publishes nothing that already went out."""
    steps = build_steps(params)
    for index, step in enumerate(steps):
        if step.delay_s:
            sleep(step.delay_s)
        publish(session_id, step.status, step.progress, step.message, step.extra or None, f"{run_id}:{index}")
    return steps[-1]


async def run_async(session_id: str, params: JobParams, publish: AsyncPublish, run_id: str) -> Step:
    steps = build_steps(params)
    for index, step in enumerate(steps):
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        await publish(session_id, step.status, step.progress, step.message, step.extra or None,
                      f"{run_id}:{index}")
    return steps[-1]
