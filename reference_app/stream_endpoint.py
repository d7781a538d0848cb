"""Opening a status stream: the checks that answer with a status code, and a lean ASGI fast path.

``open_status_stream`` holds the decisions (404, 204, 429, 503) and is used by both entrances:

* the FastAPI route in ``api/streams.py`` (documents the endpoint in OpenAPI; used if the fast path is off);
* ``StreamFastPath``, a pure-ASGI middleware that answers ``GET .../status/stream`` before FastAPI's routing.

Why the fast path: an open stream keeps every frame of the call stack that started it alive for minutes.
Through FastAPI's router that stack holds three AsyncExitStacks, the solved dependencies and several wrapper
frames: measured with tracemalloc on this machine, ~27.6 KB of Python heap per open stream through the
router against ~17 KB through the fast path (docs/performance.md). Behaviour is identical: same
authenticate function, same decisions, same response objects.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, cast

from fastapi import HTTPException, status
from redis.exceptions import RedisError
from starlette.datastructures import State
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from reference_app.auth import Authenticate, User
from reference_app.bus.protocol import StatusBus
from reference_app.metrics import Metrics
from reference_app.settings import Settings
from reference_app.stream_registry import StreamRegistry
from reference_app.streaming import StatusStream
from sse_contract.constants import parse_last_event_id

log = logging.getLogger(__name__)

NOT_FOUND = "session not found"
STREAM_PATH = re.compile(r"/api/v1/sessions/(?P<session_id>[^/]+)/status/stream")


async def open_status_stream(
    state: State, user: User, session_id: str, last_event_id_header: str | None, last_event_id_query: str | None
) -> Response:
    bus = cast(StatusBus, state.bus)
    settings = cast(Settings, state.settings)
    streams = cast(StreamRegistry, state.streams)
    metrics = cast(Metrics, state.metrics)

    record = await bus.get_session(session_id)
    if record is None or record.owner != user.id:
        return JSONResponse({"detail": NOT_FOUND}, status.HTTP_404_NOT_FOUND)
    last_event_id = parse_last_event_id(last_event_id_header, last_event_id_query)
    if last_event_id is not None:
        snapshot = await bus.snapshot(record.id)
        if snapshot is not None and snapshot.terminal and last_event_id >= snapshot.seq:
            # The client has the final event: 204 makes a browser EventSource stop reconnecting.
            return Response(status_code=status.HTTP_204_NO_CONTENT)
    lease = streams.acquire(user.id, record.id)
    if lease is None:
        if streams.shutting_down:
            metrics.streams_rejected.labels("shutting_down").inc()
            return JSONResponse({"detail": "server is shutting down"}, 503, headers={"Retry-After": "1"})
        metrics.streams_rejected.labels("per_user_cap").inc()
        return JSONResponse(
            {"detail": f"too many open streams: at most {settings.sse_max_streams_per_user} per user"},
            status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": "5"},
        )
    return StatusStream(bus, record.id, last_event_id, lease, streams, settings, metrics)


def store_unavailable() -> JSONResponse:
    """Redis down: 503 with Retry-After (contract point 11), never a bare 500 — a client retries a 503."""
    return JSONResponse({"detail": "status store unavailable, retry shortly"},
                        status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "2"})


def _error(exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


class StreamFastPath:
    """Pure-ASGI middleware: serves GET on the stream path without FastAPI's per-request machinery."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = STREAM_PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        response = await self._prepare(scope, match["session_id"])
        await response(scope, receive, send)

    async def _prepare(self, scope: Scope, raw_id: str) -> Response:
        state: State = scope["app"].state
        conn = HTTPConnection(scope)
        try:
            user = await cast(Authenticate, state.authenticate)(conn, state.settings)
        except HTTPException as exc:
            return _error(exc)
        try:
            session_id = str(uuid.UUID(raw_id))
        except ValueError:
            detail: list[dict[str, Any]] = [
                {"loc": ["path", "session_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}
            ]
            return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)
        header = conn.headers.get("last-event-id")
        query = conn.query_params.get("lastEventId")
        try:
            return await open_status_stream(state, user, session_id, header, query)
        except RedisError as exc:
            log.warning("stream for %s refused: Redis unavailable (%s)", session_id, type(exc).__name__)
            return store_unavailable()
