"""The per-user stream cap under a race: 50 connections, already open, send their stream requests in the
same instant; with ``SSE_MAX_STREAMS_PER_USER=5`` exactly 5 get a stream and 45 get 429 with Retry-After.
The released slots are reusable (a second race gives exactly 5 again), and another user is not affected."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from conftest import bearer
from reference_app.api_client import login, new_session
from reference_app.launcher import ApiProcess, wait_until
from tests.faults.streams import request_bytes

pytestmark = pytest.mark.integration

CAP, CONTENDERS = 5, 50


async def race(api: ApiProcess, token: str, sid: str) -> tuple[list[int], list[str | None], list[asyncio.StreamWriter]]:
    """Connect all first, then fire every request at once; returns statuses, Retry-After values and the
    writers of the winners (still open)."""
    connections = await asyncio.gather(*(asyncio.open_connection(api.host, api.port) for _ in range(CONTENDERS)))
    payload = request_bytes(api.host, api.port, f"/api/v1/sessions/{sid}/status/stream",
                            {"Authorization": f"Bearer {token}"})
    for _, writer in connections:
        writer.write(payload)
    await asyncio.gather(*(writer.drain() for _, writer in connections))

    async def head(reader: asyncio.StreamReader) -> tuple[int, str | None]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        return int(lines[0][9:12]), {k.lower(): v for k, v in headers.items()}.get("retry-after")

    async with asyncio.timeout(15):
        heads = await asyncio.gather(*(head(reader) for reader, _ in connections))
    winners = []
    for (status, _), (_, writer) in zip(heads, connections, strict=True):
        if status == 200:
            winners.append(writer)
        else:
            writer.close()
    return [s for s, _ in heads], [r for s, r in heads if s != 200], winners


def test_fifty_simultaneous_opens_with_a_cap_of_five(start_api: Callable[..., ApiProcess]) -> None:
    api = start_api(SSE_MAX_STREAMS_PER_USER=str(CAP), SSE_HEARTBEAT_S="5")
    token, other = login(api.url, "racer"), login(api.url, "bystander")
    sid, other_sid = new_session(api.url, token), new_session(api.url, other)

    def open_count(who: str) -> int:
        return int(httpx.get(f"{api.url}/api/v1/streams/me", headers=bearer(who), timeout=5).json()["open"])

    async def scenario() -> None:
        for _round in range(2):
            statuses, retry_afters, winners = await race(api, token, sid)
            assert statuses.count(200) == CAP and statuses.count(429) == CONTENDERS - CAP, statuses
            assert all(value is not None and int(value) > 0 for value in retry_afters)
            assert await asyncio.to_thread(open_count, token) == CAP
            # the cap is per user: someone else still gets a stream while this user is at the cap
            async with httpx.AsyncClient(timeout=5) as http, http.stream(
                    "GET", f"{api.url}/api/v1/sessions/{other_sid}/status/stream", headers=bearer(other)) as resp:
                assert resp.status_code == 200
            for writer in winners:
                writer.close()
            await asyncio.to_thread(wait_until, lambda: open_count(token) == 0, 5, 0.02, "slots released")

    asyncio.run(scenario())
