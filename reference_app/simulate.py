"""``sse-harness simulate``: publish fake jobs for many sessions straight to Redis (no Celery, no API).

For load tests that need higher event rates than the API's job hooks give, or for deployments whose
worker should not be touched. Sessions are created for ``owner`` so that user's token can watch them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from reference_app.bus.redis_bus import RedisBus
from reference_app.job_runs import run_job
from sse_contract.jobs import JobParams
from sse_contract.status import StatusChange, StatusUpdate


@dataclass
class SimulationResult:
    session_ids: list[str]
    completed: int
    failed: int
    events: int


async def simulate(
    redis_url: str,
    params: JobParams,
    *,
    sessions: int = 1,
    owner: str = "loadtest",
    session_ids: list[str] | None = None,
    start_delay_s: float = 0.0,
    on_created: Callable[[list[str]], None] | None = None,
    concurrency: int = 1000,
) -> SimulationResult:
    """Create ``sessions`` sessions (or drive ``session_ids``), wait ``start_delay_s`` (time for
    clients to connect), then run the profile on all of them at once."""
    bus = RedisBus(redis_url, max_connections=32)
    try:
        if session_ids is None:
            records = [await bus.create_session(owner, f"simulated {i}") for i in range(sessions)]
            session_ids = [r.id for r in records]
        if on_created is not None:
            on_created(session_ids)
        if start_delay_s:
            await asyncio.sleep(start_delay_s)
        gate = asyncio.Semaphore(concurrency)
        run_id = uuid.uuid4().hex
        events = 0

        async def publish(session_id: str, change: StatusChange, publish_id: str | None = None) -> StatusUpdate:
            nonlocal events
            events += 1
            return await bus.publish(session_id, change, publish_id)

        async def one(session_id: str) -> str:
            async with gate:
                final = await run_job(publish, session_id, params, f"{run_id}:{session_id}")
                return final.status

        results = await asyncio.gather(*(one(s) for s in session_ids))
        return SimulationResult(
            session_ids=session_ids,
            completed=sum(r == "completed" for r in results),
            failed=sum(r == "failed" for r in results),
            events=events,
        )
    finally:
        await bus.stop()
