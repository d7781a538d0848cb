"""Starting a transcription job: through Celery in production, in-process for ASGI tests."""

from __future__ import annotations

import asyncio
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from reference_app.bus.protocol import StatusBus
from reference_app.job_runs import run_job
from sse_contract.jobs import JobParams


class JobQueue(Protocol):
    async def enqueue(self, session_id: str, params: JobParams, task_id: str) -> None:
        """Start the job under ``task_id`` (its publish ids derive from it)."""
        ...


class CeleryJobQueue:
    """Sends ``transcribe_audio`` to the broker. ``apply_async`` is blocking I/O, so it runs in a thread."""

    def __init__(self, broker_url: str, visibility_timeout_s: int = 3600) -> None:
        from reference_app.worker.celery_app import make_celery

        self.celery = make_celery(broker_url, visibility_timeout_s)

    async def enqueue(self, session_id: str, params: JobParams, task_id: str) -> None:
        await run_in_threadpool(
            self.celery.send_task,
            "transcribe_audio",
            kwargs={"session_id": session_id, "params": params.model_dump(mode="json")},
            task_id=task_id,
        )


class InlineJobQueue:
    """Runs the simulator as an asyncio task publishing straight to the bus (tests, no Celery)."""

    def __init__(self, bus: StatusBus) -> None:
        self.bus = bus
        self.tasks: set[asyncio.Task[object]] = set()

    async def enqueue(self, session_id: str, params: JobParams, task_id: str) -> None:
        task = asyncio.create_task(run_job(self.bus.publish, session_id, params, task_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
