"""The API as a test or a tool talks to it: dev-login, a new session, and one SSE response read to its end.

Used by the test suites and the benchmark; the processes themselves are started by ``reference_app.launcher``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["StreamResult", "collect_stream", "env_redis_url", "login", "new_session"]


def login(base_url: str, username: str) -> str:
    """Dev-login; returns the bearer token."""
    response = httpx.post(f"{base_url}/api/v1/auth/dev-login", json={"username": username}, timeout=10)
    response.raise_for_status()
    return str(response.json()["access_token"])


def new_session(base_url: str, token: str, title: str = "test") -> str:
    response = httpx.post(f"{base_url}/api/v1/sessions", json={"title": title},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return str(response.json()["id"])


def env_redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


@dataclass
class StreamResult:
    """What a client saw on one SSE request: status, headers, items with arrival times, how it ended."""

    status_code: int
    headers: httpx.Headers
    items: list[tuple[float, Any]] = field(default_factory=list)
    ended_by_server: bool = False
    opened_at: float = 0.0
    first_byte_at: float | None = None

    @property
    def events(self) -> list[Any]:
        from sse_contract.wire import Event

        return [item for _, item in self.items if isinstance(item, Event)]

    @property
    def status_events(self) -> list[Any]:
        return [e for e in self.events if e.event == "status"]

    @property
    def ids(self) -> list[int]:
        return [int(e.id) for e in self.status_events]


def collect_stream(
    url: str,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    until: Any = None,
    timeout: float = 10.0,
) -> StreamResult:
    """Read an SSE response until the server ends it, ``until(result)`` is true (checked after every item),
    or ``timeout`` passes (then ``TimeoutError``). For synchronous tests: reads with the project's one async
    SSE reader (``sse_client``) on an event loop of its own."""
    return asyncio.run(_collect_stream(url, token, headers, params, until, timeout))


async def _collect_stream(url: str, token: str | None, headers: Mapping[str, str] | None,
                          params: Mapping[str, str] | None, until: Any, timeout: float) -> StreamResult:
    from sse_client import open_stream

    request_headers = dict(headers or {})
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    result: StreamResult | None = None
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=timeout) as client, \
                open_stream(client, url, headers=request_headers, params=params) as stream:
            result = StreamResult(stream.status_code, stream.headers, opened_at=stream.opened_at)
            if stream.status_code != 200:
                await stream.body()
                return result
            async for arrival in stream.arrivals():
                result.first_byte_at = stream.first_byte_at
                result.items.append((arrival.at, arrival.item))
                if until is not None and until(result):
                    return result
            result.ended_by_server = stream.ended_by_server
            return result
    except TimeoutError:
        seen = result.ids if result is not None else []
        raise TimeoutError(f"stream still open after {timeout}s; saw ids {seen}") from None
