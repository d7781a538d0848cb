"""Fault 5: 1,000 clients vanish at once with TCP resets (a NAT drop, a crashed proxy, a phone switching
networks). Every stream must notice and release what it held: the active-stream gauge back to 0, the shared
subscriber's channels back to 0, Redis' own PUBSUB NUMSUB for those sessions back to 0, the event loop's
task count back to its idle level. Done twice: the second crowd must fit in the memory the first one left
behind (CPython keeps freed memory for reuse rather than returning it to the OS, so RSS after a release is
not the measure; RSS not growing on the second round is)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from conftest import bearer
from reference_app.api_client import login, new_session
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, wait_until
from tests.faults.observe import metrics, rss_mb, subscribers
from tests.faults.streams import open_many

pytestmark = pytest.mark.fault

SESSIONS = 100


def idle(api: ApiProcess) -> dict[str, float]:
    m = metrics(api.url)
    return {"streams": m["sse_active_streams"], "channels": m["sse_subscribed_channels"],
            "tasks": m["sse_asyncio_tasks"]}


@pytest.mark.parametrize("streams", [1000, pytest.param(10_000, marks=pytest.mark.heavy)])
def test_clients_vanishing_at_once_leave_nothing_behind(streams: int, figures: dict[str, Any]) -> None:
    with EmbeddedRedis() as server, ApiProcess(server.url, env={
            "SSE_MAX_STREAMS_PER_USER": str(streams), "SSE_HEARTBEAT_S": "5"}) as api:
        token = login(api.url, "crowd")
        sids = [new_session(api.url, token) for _ in range(SESSIONS)]
        before, rss_before = idle(api), rss_mb(api.pid)
        assert before["streams"] == before["channels"] == 0

        async def crowd_vanishes() -> dict[str, float]:
            followers, tasks = await open_many(api.url, [(sid, token) for sid in sids], streams // SESSIONS,
                                               reconnect=False, deadline=time.monotonic() + 120)
            during = await asyncio.to_thread(idle, api)
            assert during["streams"] == streams and during["channels"] == SESSIONS
            assert during["tasks"] >= before["tasks"] + streams, "each stream runs in its own task"
            assert subscribers(server.url, sids) == SESSIONS  # one subscription per session, not per client
            measured = {"rss_open_mb": rss_mb(api.pid), "tasks_open": during["tasks"]}
            started = time.monotonic()
            for follower in followers:
                follower.reset()
            await asyncio.gather(*tasks)
            await asyncio.to_thread(wait_until, lambda: idle(api) == before, 30, 0.05,
                                    "streams, channels and tasks back to idle")
            measured["released_after_s"] = time.monotonic() - started
            await asyncio.to_thread(wait_until, lambda: subscribers(server.url, sids) == 0, 5, 0.05,
                                    "Redis PUBSUB NUMSUB back to 0")
            return measured

        first = asyncio.run(crowd_vanishes())
        second = asyncio.run(crowd_vanishes())
        growth = first["rss_open_mb"] - rss_before
        regrowth = second["rss_open_mb"] - first["rss_open_mb"]
        figures.update(streams=streams, sessions=SESSIONS, released_after_s=round(first["released_after_s"], 2),
                       tasks_idle=before["tasks"], tasks_open=first["tasks_open"],
                       rss_before_mb=round(rss_before, 1), rss_open_mb=round(first["rss_open_mb"], 1),
                       rss_second_crowd_mb=round(second["rss_open_mb"], 1),
                       kb_per_stream=round(1024 * growth / streams, 1))
        assert regrowth < 0.25 * growth, f"a second crowd grew RSS by {regrowth:.1f} MB after {growth:.1f} MB"
        # the process is still fine: a new stream opens at once
        with httpx.stream("GET", f"{api.url}/api/v1/sessions/{sids[0]}/status/stream",
                          headers=bearer(token), timeout=5) as response:
            assert response.status_code == 200
