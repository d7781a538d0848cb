"""Fault 1: Redis is SIGKILLed while jobs run on a real Celery worker and many clients watch, then restarted.

With AOF (``appendfsync always``, what production should run): the API stays up and says ``degraded`` on
``/healthz`` while Redis is away, the shared subscriber reconnects and resubscribes, the worker's publishes
retry (publish ids make a retry that did land a no-op), and every client ends at the terminal status having
seen every seq exactly once, in order.

Without persistence Redis comes back empty: the sessions, their logs and seq counters are gone. What the
clients then see is pinned here and documented in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from conftest import bearer
from reference_app.api_client import login, new_session
from reference_app.bus import keys
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, WorkerProcess, wait_until
from tests.faults.observe import metrics
from tests.faults.streams import Follower, contiguous, open_many, until

pytestmark = pytest.mark.fault

#: (sessions, clients per session, step interval): 200 clients in `make test`, 2,000 under -m heavy. The
#: test process decodes every client's events on one core and lags behind 2,000 clients: slower steps
#: keep the crash in the middle of every job.
SCALES = [(20, 10, 150), pytest.param((100, 20, 500), marks=pytest.mark.heavy, id="2000-clients")]
MAX_SESSIONS = 100
STEPS = 30  # 30 steps of 150 ms: a ~5 s job, the crash lands in the middle of it
#: How long Redis stays dead. The worker's publisher retries for ~20 s (12 tries, backoff capped at 2 s),
#: the subscriber reconnects with backoff up to 5 s: 1.5 s spans several attempts of both.
OUTAGE_S = 1.5
STACK_ENV = {"SSE_HEARTBEAT_S": "0.5", "SSE_RETRY_MS": "200", "SSE_MAX_STREAMS_PER_USER": "5000"}


@dataclass
class Stack:
    redis: EmbeddedRedis
    api: ApiProcess
    worker: WorkerProcess


def healthz(api: ApiProcess) -> int:
    try:
        return httpx.get(f"{api.url}/healthz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def logged_seqs(redis_url: str, sid: str) -> list[int]:
    client = redis.Redis.from_url(redis_url)
    try:
        entries: list[tuple[bytes, Any]] = client.xrange(keys.log_key(sid))  # type: ignore[assignment]
        return [int(entry_id.split(b"-")[0]) for entry_id, _ in entries]
    finally:
        client.close()


def start_jobs(api: ApiProcess, token: str, sids: list[str], interval_ms: int = 150) -> None:
    with httpx.Client(headers=bearer(token), timeout=10) as http:
        for sid in sids:
            response = http.post(f"{api.url}/api/v1/sessions/{sid}/transcribe",
                                 json={"profile": "steady", "steps": STEPS, "interval_ms": interval_ms})
            assert response.status_code == 202, response.text


def crash_mid_job(stack: Stack, token: str, sids: list[str], per_session: int, interval_ms: int,
                  timing: dict[str, float]) -> list[Follower]:
    """Open the clients, start the jobs, SIGKILL Redis mid-job, restart it; returns the clients when every
    one of them is done (or the deadline passed)."""

    async def scenario() -> list[Follower]:
        changed = asyncio.Event()
        followers, tasks = await open_many(stack.api.url, [(sid, token) for sid in sids], per_session,
                                           reconnect=True, deadline=time.monotonic() + 120, changed=changed)
        await asyncio.to_thread(start_jobs, stack.api, token, sids, interval_ms)
        # mid-job: every session has published a few steps
        async with asyncio.timeout(20):
            await until(lambda: min(max(f.ids) for f in followers) >= 5, changed)
        timing["killed"] = time.monotonic()
        stack.redis.kill()
        await asyncio.to_thread(wait_until, lambda: healthz(stack.api) == 503, 10, 0.05, "/healthz degraded")
        timing["degraded"] = time.monotonic()
        await asyncio.sleep(OUTAGE_S - (timing["degraded"] - timing["killed"]))  # the rest of the outage
        await asyncio.to_thread(stack.redis.restart)
        timing["restarted"] = time.monotonic()
        await asyncio.to_thread(wait_until, lambda: healthz(stack.api) == 200, 20, 0.05, "/healthz ok")
        timing["healthy"] = time.monotonic()
        await asyncio.gather(*tasks)
        timing["all_done"] = time.monotonic()
        return followers

    return asyncio.run(scenario())


def first_after(followers: list[Follower], moment: float) -> float:
    """Seconds from ``moment`` until the last of the clients received its first status after it."""
    firsts = [min((r.arrived for r in f.received if r.arrived > moment), default=float("inf")) for f in followers]
    return max(firsts) - moment


@pytest.fixture(params=["aof", "no-persistence"])
def stack(request: pytest.FixtureRequest) -> Any:
    # a worker thread per session (threads start on demand): every job runs, none queued, when Redis dies
    with EmbeddedRedis(appendonly=request.param == "aof") as server, \
            WorkerProcess(server.url, concurrency=MAX_SESSIONS) as worker, ApiProcess(server.url, env=STACK_ENV) as api:
        yield request.param, Stack(server, api, worker)


def new_job_completes(stack: Stack, token: str) -> bool:
    """After the restart the queue works again: a fresh job runs to its end.

    Celery 5.7 / kombu 5.7: a worker that had tasks in flight when the broker connection dropped finishes
    them and then may exit ("Unrecoverable error: AttributeError ... 'hostname'" while closing the dead
    connection). A supervisor (compose ``restart: unless-stopped``, Render) starts it again: so does this."""
    sid = new_session(stack.api.url, token)
    start_jobs(stack.api, token, [sid])
    restarted = False

    def completed() -> bool:
        nonlocal restarted
        assert stack.worker.process is not None
        if stack.worker.process.poll() is not None and not restarted:
            stack.worker.start()  # what the supervisor does
            restarted = True
        status = httpx.get(f"{stack.api.url}/api/v1/sessions/{sid}/status", headers=bearer(token), timeout=5)
        return bool(status.json()["status"] == "completed")

    wait_until(completed, 30, 0.1, "a job started after the restart to complete")
    return True


@pytest.mark.parametrize("scale", SCALES, ids=lambda scale: f"{scale[0] * scale[1]}-clients")
def test_redis_sigkill_mid_job(stack: tuple[str, Stack], scale: tuple[int, int, int], figures: dict[str, Any]) -> None:
    persistence, s = stack
    sessions, per_session, interval_ms = scale
    token = login(s.api.url, "watcher")
    sids = [new_session(s.api.url, token) for _ in range(sessions)]
    api_pid = s.api.pid
    timing: dict[str, float] = {}
    followers = crash_mid_job(s, token, sids, per_session, interval_ms, timing)
    after = metrics(s.api.url)
    figures.update(persistence=persistence, clients=len(followers), sessions=sessions, outage_s=OUTAGE_S,
                   degraded_detected_s=round(timing["degraded"] - timing["killed"], 3),
                   healthy_after_restart_s=round(timing["healthy"] - timing["restarted"], 3),
                   redis_reconnects=after["sse_redis_reconnects_total"])
    assert s.api.process is not None and s.api.process.poll() is None and s.api.pid == api_pid, "API went down"
    assert after["sse_redis_reconnects_total"] >= 1
    first_worker = s.worker.process
    assert new_job_completes(s, token), "no job completes after the Redis restart"
    assert first_worker is not None
    figures["worker_restarted_by_supervisor"] = s.worker.process is not first_worker

    if persistence == "aof":
        lost = duplicates = 0
        for follower in followers:
            log = logged_seqs(s.redis.url, follower.session_id)
            assert log == list(range(1, STEPS + 4)), "the log must hold every step exactly once"
            expected = log[log.index(follower.ids[0]):]
            lost += len(set(expected) - set(follower.ids))
            duplicates += len(follower.ids) - len(set(follower.ids))
        figures.update(events_lost=lost, duplicates=duplicates,
                       every_client_live_again_s=round(first_after(followers, timing["restarted"]), 3),
                       all_done_after_restart_s=round(timing["all_done"] - timing["restarted"], 3))
        assert (lost, duplicates) == (0, 0)
        assert figures["every_client_live_again_s"] < 30, "the crash must land mid-job for every client"
        for follower in followers:
            assert follower.final_status == "completed" and contiguous(follower.ids)
            assert not follower.others, f"no reset or other event expected: {follower.others[:1]}"
    else:
        # Redis came back empty. Live clients get `event: reset` (reason log_lost) and the new log's
        # snapshot, then every later status up to the terminal one; the session record itself is gone, so
        # anything that looks the session up again (a reconnect, the snapshot, a new job) gets 404.
        lost_after_reset = 0
        for follower in followers:
            resets = [(at, json.loads(e.data)) for at, _, e in follower.others if e.event == "reset"]
            assert len(resets) == 1, f"one reset per client expected, got {follower.others}"
            at, reset = resets[0]
            before, after_reset = follower.ids[:at], follower.ids[at:]
            assert reset["reason"] == "log_lost" and reset["last_sent"] == before[-1]
            assert contiguous(before) and contiguous(after_reset) and follower.final_status == "completed"
            log = logged_seqs(s.redis.url, follower.session_id)
            lost_after_reset += len(set(log[log.index(after_reset[0]):]) - set(after_reset))
        figures.update(clients_reset=len(followers), events_lost_after_reset=lost_after_reset,
                       all_done_after_restart_s=round(timing["all_done"] - timing["restarted"], 3))
        assert lost_after_reset == 0
        sid = followers[0].session_id
        gone = httpx.get(f"{s.api.url}/api/v1/sessions/{sid}/status", headers=bearer(token), timeout=5)
        resumed = httpx.get(f"{s.api.url}/api/v1/sessions/{sid}/status/stream", timeout=5,
                            headers=bearer(token, {"Last-Event-ID": followers[0].last_id or "0"}))
        assert (gone.status_code, resumed.status_code) == (404, 404)
