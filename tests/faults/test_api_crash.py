"""Fault 2: the API process is SIGKILLed (OOM killer, a crashed host) while 1,000 clients follow running
jobs, then started again on the same port. Nothing ends the streams properly: the clients see their
connections die, reconnect like a browser (after the ``retry:`` delay, refused while the port is dead) with
``Last-Event-ID``, and must end at the terminal status with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from conftest import bearer
from loadtests.percentiles import percentile
from reference_app.api_client import login, new_session
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, WorkerProcess
from tests.faults.observe import metrics
from tests.faults.streams import LoopThread, contiguous, open_many, until

pytestmark = pytest.mark.fault

SESSIONS = 50
STEPS = 40
#: step interval by crowd size: the kill must land mid-job, after every client got its first statuses.
#: The test process decodes every event of every client on one core: 5,000 clients x 150 ms steps would
#: leave it seconds behind the server, so the heavy variant spaces the steps out instead.
INTERVAL_MS = {1000: 150, 5000: 1000}


def start_jobs(api: ApiProcess, token: str, sids: list[str], interval_ms: int) -> None:
    with httpx.Client(headers=bearer(token), timeout=10) as http:
        for sid in sids:
            response = http.post(f"{api.url}/api/v1/sessions/{sid}/transcribe",
                                 json={"profile": "steady", "steps": STEPS, "interval_ms": interval_ms})
            assert response.status_code == 202, response.text


@pytest.mark.parametrize("streams", [1000, pytest.param(5000, marks=pytest.mark.heavy)])
def test_api_killed_with_open_streams_clients_resume_without_gap(streams: int, figures: dict[str, Any]) -> None:
    env = {"SSE_MAX_STREAMS_PER_USER": str(streams), "SSE_RETRY_MS": "300", "SSE_HEARTBEAT_S": "2"}
    with EmbeddedRedis() as server, WorkerProcess(server.url, concurrency=SESSIONS), \
            ApiProcess(server.url, env=env) as api:
        token = login(api.url, "survivor")
        sids = [new_session(api.url, token) for _ in range(SESSIONS)]
        timing: dict[str, float] = {}

        with LoopThread() as clients:
            changed = asyncio.Event()
            followers, tasks = clients.run(open_many(
                api.url, [(sid, token) for sid in sids], streams // SESSIONS, reconnect=True,
                deadline=time.monotonic() + 180, changed=changed), 120)
            start_jobs(api, token, sids, INTERVAL_MS[streams])
            clients.run(until(lambda: all(len(f.ids) >= 4 for f in followers), changed), 30)
            timing["killed"] = time.monotonic()
            api.kill()
            api.start()  # same port: the clients' URL is unchanged (main thread: see LoopThread)
            timing["serving"] = time.monotonic()
            clients.run(until(lambda: all(f.received[-1].connection >= 1 for f in followers), changed), 60)
            timing["all_resumed"] = time.monotonic()
            clients.run(asyncio.wait(tasks), 90)

        reconnects = [f.connections - 1 for f in followers]
        # how long each client went without a status: its last before the kill to its first after it
        gaps = [min(r.arrived for r in f.received if r.arrived > timing["killed"])
                - max(r.arrived for r in f.received if r.arrived <= timing["killed"]) for f in followers]
        lost = duplicates = 0
        for follower in followers:
            ids = follower.ids
            duplicates += len(ids) - len(set(ids))
            lost += len(set(range(1, STEPS + 4)) - set(ids))
        figures.update(streams=streams, sessions=SESSIONS, restart_s=round(timing["serving"] - timing["killed"], 2),
                       all_resumed_after_kill_s=round(timing["all_resumed"] - timing["killed"], 2),
                       client_silence_p50_s=round(percentile(gaps, 0.5), 2),
                       client_silence_max_s=round(max(gaps), 2),
                       reconnect_attempts_max=max(reconnects), events_lost=lost, duplicates=duplicates)
        assert (lost, duplicates) == (0, 0)
        for follower in followers:
            assert follower.final_status == "completed" and follower.ids == list(range(1, STEPS + 4))
            assert contiguous(follower.ids) and not follower.others
        assert metrics(api.url)["sse_streams_opened_total"] >= streams  # the new process served them all
