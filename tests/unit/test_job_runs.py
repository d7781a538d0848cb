"""Playing a job: the simulator only produces steps; ``job_runs`` publishes each under ``<run id>:<index>``,
so a rerun under the same run id (a redelivered task) publishes nothing twice — on the in-process bus here,
on Redis in tests/faults/test_worker_crash.py."""

from __future__ import annotations

import pytest

from reference_app.bus.memory import MemoryBus
from reference_app.job_runs import run_job, run_job_sync, step_publish_id
from simulators.profiles import build_steps
from sse_contract.jobs import JobParams
from sse_contract.status import StatusChange, StatusUpdate

pytestmark = pytest.mark.unit

PARAMS = JobParams(profile="steady", steps=3, interval_ms=0, seed=1)


async def test_every_step_is_published_once_in_order_and_a_rerun_publishes_nothing() -> None:
    bus = MemoryBus()
    record = await bus.create_session("alice", "t")
    final = await run_job(bus.publish, record.id, PARAMS, "task-1")
    again = await run_job(bus.publish, record.id, PARAMS, "task-1")  # the redelivered task
    log = await bus.read_after(record.id, 0)
    steps = [s.change for s in build_steps(PARAMS)]
    assert [m.seq for m in log] == list(range(1, len(steps) + 2))  # pending + one per step, no duplicate
    assert [m.status for m in log[1:]] == [c.status for c in steps]
    assert final == again == steps[-1] and final.terminal


def test_the_sync_runner_uses_the_same_publish_ids_and_the_given_clock() -> None:
    calls: list[tuple[str, StatusChange, str | None]] = []
    slept: list[float] = []

    def publish(session_id: str, change: StatusChange, publish_id: str | None = None) -> StatusUpdate:
        calls.append((session_id, change, publish_id))
        return change.to_update(session_id, seq=len(calls))

    params = PARAMS.model_copy(update={"interval_ms": 7})
    run_job_sync(publish, "s", params, "run", sleep=slept.append)
    steps = build_steps(params)
    assert [c[2] for c in calls] == [step_publish_id("run", i) for i in range(len(steps))]
    assert [c[1] for c in calls] == [s.change for s in steps]
    assert slept == [s.delay_s for s in steps if s.delay_s]
