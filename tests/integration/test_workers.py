"""``sse-harness serve --workers N`` and the per-user cap across processes (issue 13).

Real processes on a real Redis: the cap is a lease per stream in Redis, so it is exact whichever process or
instance a stream lands on, under a race; a killed worker's leases expire; SIGTERM to the parent drains every
worker. ``WEB_CONCURRENCY`` is the environment spelling of ``--workers`` (what ``ApiProcess`` passes on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import pytest

from conftest import bearer
from reference_app.api_client import login, new_session
from reference_app.launcher import ApiProcess, wait_until
from tests.security.test_cap_race import CAP, CONTENDERS, race

pytestmark = pytest.mark.integration


def workers_of(api: ApiProcess) -> list[psutil.Process]:
    return psutil.Process(api.pid).children()


def served_by(worker: psutil.Process, port: int) -> int:
    """Established connections a worker holds on the API port (which process accepted which stream)."""
    return sum(1 for c in worker.net_connections(kind="tcp") if c.status == "ESTABLISHED" and c.laddr.port == port)


def metric(api: ApiProcess, name: str) -> float:
    for line in httpx.get(f"{api.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")


def test_two_workers_one_port_the_cap_is_exact_across_both(start_api: Callable[..., ApiProcess]) -> None:
    api = start_api(WEB_CONCURRENCY="2", SSE_MAX_STREAMS_PER_USER=str(CAP), SSE_HEARTBEAT_S="5")
    workers = workers_of(api)
    assert len(workers) == 2
    token = login(api.url, "racer")
    sid = new_session(api.url, token)

    async def scenario() -> None:
        for _round in range(2):
            statuses, retry_afters, winners = await race(api, token, sid)
            assert statuses.count(200) == CAP and statuses.count(429) == CONTENDERS - CAP, statuses
            assert all(value is not None and int(value) > 0 for value in retry_afters)
            # every contender connected before any request went out: both processes took some of them
            for writer in winners:
                writer.close()
            await asyncio.to_thread(wait_until, lambda: metric(api, "sse_active_streams") == 0, 10, 0.05,
                                    "streams closed on both workers")

    asyncio.run(scenario())
    # both processes served requests (each counts its own; the metrics sum them)
    assert metric(api, "sse_streams_opened_total") == 2 * CAP
    assert metric(api, "sse_subscriber_connected") == 2  # one shared subscriber per worker


def test_the_cap_holds_across_two_instances(start_api: Callable[..., ApiProcess]) -> None:
    """Two separate API processes (two instances behind a load balancer) on one Redis: half of the racers go
    to each, and still exactly CAP streams are granted."""
    first = start_api(SSE_MAX_STREAMS_PER_USER=str(CAP), SSE_HEARTBEAT_S="5")
    second = start_api(SSE_MAX_STREAMS_PER_USER=str(CAP), SSE_HEARTBEAT_S="5")
    token = login(first.url, "spread")
    sid = new_session(first.url, token)

    async def scenario() -> None:
        (a, _, winners_a), (b, _, winners_b) = await asyncio.gather(race(first, token, sid),
                                                                    race(second, token, sid))
        assert (a + b).count(200) == CAP and (a + b).count(429) == 2 * CONTENDERS - CAP
        for writer in winners_a + winners_b:
            writer.close()

    asyncio.run(scenario())


def hold(client: httpx.Client, url: str, token: str, count: int) -> list[Any]:
    held = [client.stream("GET", url, headers=bearer(token)) for _ in range(count)]
    assert [stream.__enter__().status_code for stream in held] == [200] * count
    return held


def let_go(held: list[Any]) -> None:
    for stream in held:
        with contextlib.suppress(httpx.HTTPError):  # their process was killed: the connections are gone
            stream.__exit__(None, None, None)


def test_a_killed_instances_leases_expire(start_api: Callable[..., ApiProcess]) -> None:
    """SIGKILL: nothing is released. Another instance admits the user again once the dead one's leases
    expire (SSE_LEASE_TTL_S), not before."""
    env = {"SSE_MAX_STREAMS_PER_USER": "2", "SSE_LEASE_TTL_S": "3", "SSE_HEARTBEAT_S": "5"}
    doomed, survivor = start_api(**env), start_api(**env)
    token = login(doomed.url, "crash")
    sid = new_session(doomed.url, token)
    path = f"/api/v1/sessions/{sid}/status/stream"
    with httpx.Client(timeout=10) as client:
        held = hold(client, doomed.url + path, token, 2)
        assert client.get(survivor.url + path, headers=bearer(token)).status_code == 429
        doomed.kill()

        def admitted() -> bool:
            with client.stream("GET", survivor.url + path, headers=bearer(token)) as probe:
                return probe.status_code == 200

        wait_until(admitted, 20, 0.25, "a slot freed by the expiry of the killed instance's leases")
        let_go(held)


def test_a_process_started_again_in_its_place_frees_its_predecessors_leases(
        start_api: Callable[..., ApiProcess]) -> None:
    """A crash and restart on the same host and port (same SSE_INSTANCE_ID) must not wait for the lease
    expiry: every client reconnects at once and would get 429 until then (the default TTL is 30 s)."""
    api = start_api(SSE_MAX_STREAMS_PER_USER="3", SSE_HEARTBEAT_S="5")
    token = login(api.url, "phoenix")
    sid = new_session(api.url, token)
    url = f"{api.url}/api/v1/sessions/{sid}/status/stream"
    with httpx.Client(timeout=10) as client:
        held = hold(client, url, token, 3)
        api.kill()
        let_go(held)
        api.start()
        assert [s.__enter__().status_code for s in (client.stream("GET", url, headers=bearer(token))
                                                    for _ in range(3))] == [200] * 3


def test_sigterm_drains_every_worker(start_api: Callable[..., ApiProcess]) -> None:
    api = start_api(WEB_CONCURRENCY="2", SSE_MAX_STREAMS_PER_USER="100", SSE_SHUTDOWN_GRACE_S="5",
                    SSE_HEARTBEAT_S="5")
    token = login(api.url, "drain")
    sid = new_session(api.url, token)

    async def scenario() -> None:
        path = f"/api/v1/sessions/{sid}/status/stream"
        connections = await asyncio.gather(*(asyncio.open_connection(api.host, api.port) for _ in range(40)))
        request = (f"GET {path} HTTP/1.1\r\nHost: {api.host}\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
        for _, writer in connections:
            writer.write(request)
        for reader, _ in connections:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
            assert head.startswith(b"HTTP/1.1 200")
        spread = [served_by(w, api.port) for w in workers_of(api)]
        assert len(spread) == 2 and sum(spread) == 40
        code = await asyncio.to_thread(api.terminate, 20)
        assert code == 0
        for reader, writer in connections:
            rest = await asyncio.wait_for(reader.read(), 5)
            assert rest.endswith(b"0\r\n\r\n"), rest[-40:]  # the final chunk: each stream ended cleanly
            writer.close()

    asyncio.run(scenario())
