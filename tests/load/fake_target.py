"""A target that breaks the contract in exactly one way, to prove the load harness does not pass it.

``mode="message"``: statuses are sent as ``event: message`` (a load that counted only ``status`` events
reported ``events_received: 0, errors: 0`` and exited 0). ``mode="no-timestamp"``: statuses without
``timestamp``, each delayed by ``delay_s`` (a load that filled the timestamp in reported 0 ms latency).
Real uvicorn on port 0 in a thread; it records every ``POST .../transcribe`` body.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sse_contract.wire import encode_event

STEPS = 4
START_TIMEOUT_S = 10.0


class FakeTarget:
    def __init__(self, mode: str, delay_s: float = 0.3) -> None:
        self.mode = mode
        self.delay_s = delay_s
        self.transcribe_bodies: list[dict[str, Any]] = []
        self.url = ""

    async def login(self, request: Request) -> Response:
        return JSONResponse({"access_token": "t", "token_type": "bearer"})

    async def session(self, request: Request) -> Response:
        return JSONResponse({"id": str(uuid.uuid4())}, status_code=201)

    async def transcribe(self, request: Request) -> Response:
        self.transcribe_bodies.append(await request.json())
        return JSONResponse({"accepted": True}, status_code=202)

    async def stream(self, request: Request) -> Response:
        session_id = request.path_params["sid"]

        async def events() -> AsyncIterator[bytes]:
            for seq in range(1, STEPS + 2):
                status = "pending" if seq == 1 else ("completed" if seq == STEPS + 1 else "processing")
                body = {"session_id": session_id, "seq": seq, "status": status, "progress": seq * 10}
                if self.mode == "message":
                    body["timestamp"] = "2026-01-01T00:00:00.000000Z"
                    yield encode_event(json.dumps(body), id=seq)  # event: message
                else:
                    yield encode_event(json.dumps(body), event="status", id=seq)  # no timestamp
                await asyncio.sleep(self.delay_s)

        return StreamingResponse(events(), media_type="text/event-stream")

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/v1/auth/dev-login", self.login, methods=["POST"]),
            Route("/api/v1/sessions", self.session, methods=["POST"]),
            Route("/api/v1/sessions/{sid}/transcribe", self.transcribe, methods=["POST"]),
            Route("/api/v1/sessions/{sid}/status/stream", self.stream),
        ])


@contextmanager
def serve(mode: str, delay_s: float = 0.3) -> Iterator[FakeTarget]:
    target = FakeTarget(mode, delay_s)
    server = uvicorn.Server(uvicorn.Config(target.app(), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:  # uvicorn offers a flag, not an event, for "listening"
        assert thread.is_alive() and time.monotonic() < deadline, "the fake target did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    target.url = f"http://127.0.0.1:{port}"
    try:
        yield target
    finally:
        server.should_exit = True
        thread.join(10)
