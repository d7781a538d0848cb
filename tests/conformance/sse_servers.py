"""SSE servers that know nothing of this project's contract, for the ``sse`` profile: a ticker built with
sse-starlette's ``EventSourceResponse``, one that needs a header and a cookie, one whose events happen
only when triggered, and one that goes silent (no heartbeat)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

#: the ticker's pace and the library's ping: a quiet stream still sends a byte every PING_S
TICK_S, PING_S = 0.3, 1


def create_app() -> Starlette:
    triggered = asyncio.Event()

    async def ticks(request: Request) -> Response:
        start = int(request.headers.get("last-event-id", "0") or 0) if request.headers.get(
            "last-event-id", "").isdigit() else 0

        async def events() -> AsyncIterator[dict[str, Any]]:
            for i in itertools.count(start + 1):
                yield {"id": str(i), "event": "tick", "data": f"tick {i}"}
                await asyncio.sleep(TICK_S)

        return EventSourceResponse(events(), ping=PING_S)

    async def private(request: Request) -> Response:
        if request.headers.get("x-api-key") != "k" or request.cookies.get("sid") != "abc":
            return PlainTextResponse("who are you?", 401)
        return await ticks(request)

    async def on_demand(request: Request) -> Response:
        async def events() -> AsyncIterator[dict[str, Any]]:
            await triggered.wait()
            for i in range(1, 7):
                yield {"id": str(i), "data": f"step {i}"}
                await asyncio.sleep(0.25)

        return EventSourceResponse(events(), ping=PING_S)

    async def trigger(request: Request) -> Response:
        triggered.set()
        return PlainTextResponse("started", 202)

    async def silent(request: Request) -> Response:
        async def events() -> AsyncIterator[dict[str, Any]]:
            for i in (1, 2):
                yield {"id": str(i), "data": f"hello {i}"}
            await asyncio.Event().wait()  # then nothing, not even a ping

        return EventSourceResponse(events(), ping=3600)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/some/stream", ticks), Route("/private/stream", private), Route("/on-demand", on_demand),
        Route("/trigger", trigger, methods=["POST"]), Route("/silent", silent), Route("/healthz", healthz),
    ])
