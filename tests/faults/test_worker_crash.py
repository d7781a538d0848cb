"""Fault 3: the Celery worker is SIGKILLed mid-task (OOM killer, a node lost).

While no worker runs the job, the session must not look stuck in ``processing``: after
``STATUS_STALL_AFTER_S`` of silence every stream gets ``event: stalled`` and the snapshot says
``"stalled": true``. ``acks_late`` + ``reject_on_worker_lost`` leave the task unacknowledged, so once
``CELERY_VISIBILITY_TIMEOUT_S`` has passed the broker hands it to the next worker. The rerun has the same task
id, hence the same publish ids: steps that already went out are no-ops, so the clients see the job carry on
from where it stopped — no duplicate seq, no gap — and end ``completed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
import pytest

from conftest import bearer
from reference_app.api_client import login, new_session
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, WorkerProcess
from tests.faults.streams import LoopThread, open_many, until
from tests.faults.test_redis_restart import logged_seqs, start_jobs

pytestmark = pytest.mark.fault

SESSIONS, CLIENTS_PER_SESSION = 4, 10
STEPS = 30  # the redis-restart module's job: 30 steps of 150 ms
STALL_AFTER_S = 1.0
VISIBILITY_S = 3
#: kombu checks for unacked messages older than the visibility timeout every 10 s (its default
#: ``unacked_restore_interval``), so redelivery comes 3-13 s after the kill
REDELIVERY_BOUND_S = VISIBILITY_S + 10 + 5


class Replacement(WorkerProcess):
    """The worker a supervisor starts after the crash: started by hand, stopped like the others."""

    def close(self) -> None:
        self.stop()


def test_worker_killed_mid_task_stream_says_stalled_then_the_redelivered_job_completes(
    figures: dict[str, Any],
) -> None:
    env = {"CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S)}
    api_env = {**env, "STATUS_STALL_AFTER_S": str(STALL_AFTER_S), "SSE_HEARTBEAT_S": "0.25",
               "SSE_RETRY_MS": "200", "SSE_MAX_STREAMS_PER_USER": "100"}
    with EmbeddedRedis() as server, ApiProcess(server.url, env=api_env) as api, \
            WorkerProcess(server.url, concurrency=SESSIONS, env=env) as first_worker, \
            contextlib.closing(Replacement(server.url, concurrency=SESSIONS, env=env)) as second_worker, \
            LoopThread() as clients:
        token = login(api.url, "patient")
        sids = [new_session(api.url, token) for _ in range(SESSIONS)]
        changed = asyncio.Event()
        followers, tasks = clients.run(open_many(
            api.url, [(sid, token) for sid in sids], CLIENTS_PER_SESSION, reconnect=True,
            deadline=time.monotonic() + 60, changed=changed), 30)
        start_jobs(api, token, sids)
        clients.run(until(lambda: all(len(f.ids) >= 6 for f in followers), changed), 30)
        killed = time.monotonic()
        first_worker.kill()
        # nobody runs the jobs now: the streams must say so, and so must the snapshot
        clients.run(until(lambda: all(any(e.event == "stalled" for _, _, e in f.others) for f in followers),
                          changed), 10 * STALL_AFTER_S)
        stalled_after = max(at for f in followers for _, at, e in f.others if e.event == "stalled") - killed
        snapshot = httpx.get(f"{api.url}/api/v1/sessions/{sids[0]}/status", headers=bearer(token), timeout=5)
        assert snapshot.json()["stalled"] is True and snapshot.json()["status"] == "processing"
        assert snapshot.headers["etag"] == f'"{snapshot.json()["seq"]}-stalled"'

        second_worker.start()  # main thread: see LoopThread
        clients.run(asyncio.wait(tasks), REDELIVERY_BOUND_S + 10)
        # a status after the stalled event can only come from the redelivered task
        stalled_at = {id(f): next(at for _, at, e in f.others if e.event == "stalled") for f in followers}
        resumed_after = min(r.arrived for f in followers for r in f.received if r.arrived > stalled_at[id(f)]) - killed
        done_after = max(f.received[-1].arrived for f in followers) - killed

        figures.update(clients=len(followers), stall_after_s=STALL_AFTER_S, visibility_timeout_s=VISIBILITY_S,
                       stalled_signalled_after_kill_s=round(stalled_after, 2),
                       redelivered_job_resumed_after_kill_s=round(resumed_after, 2),
                       all_completed_after_kill_s=round(done_after, 2))
        expected = list(range(1, STEPS + 4))
        for follower in followers:
            assert follower.final_status == "completed"
            assert follower.ids == expected, "the redelivered job must add no duplicate and leave no gap"
            stalled = [e for _, _, e in follower.others if e.event == "stalled"]
            assert len(stalled) == 1 and json.loads(stalled[0].data)["reason"] == "no status from the worker"
        for sid in sids:
            assert logged_seqs(server.url, sid) == expected, "the redelivered task re-published a step"
        assert stalled_after < STALL_AFTER_S + 1.0
        assert resumed_after < REDELIVERY_BOUND_S
        after = httpx.get(f"{api.url}/api/v1/sessions/{sids[0]}/status", headers=bearer(token), timeout=5).json()
        assert after["status"] == "completed" and "stalled" not in after
