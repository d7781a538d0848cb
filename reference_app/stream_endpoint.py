"""The two entrances of the status stream; everything after them is ``streaming.StatusStream``.

* the FastAPI route in ``api/streams.py`` (documents the endpoint in OpenAPI; used if the fast path is off);
* ``StreamFastPath``, a pure-ASGI middleware that answers ``GET .../status/stream`` before FastAPI's routing.

Both authenticate with the same function, validate the id with the same pydantic type, answer errors through
``reference_app.errors`` and hand over to ``open_status_stream``; the decisions (404, 204, 429, 503) are made
by the stream itself once it is subscribed (see ``streaming.py``).

Why the fast path: an open stream keeps every frame of the call stack that started it alive for minutes.
Through FastAPI's router that stack holds three AsyncExitStacks, the solved dependencies and several wrapper
frames: measured with tracemalloc on this machine, ~27.6 KB of Python heap per open stream through the
router against ~17 KB through the fast path (docs/performance.md).
"""

from __future__ import annotations

import re
from typing import Any, cast

from fastapi import HTTPException
from starlette.datastructures import State
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from reference_app.auth import Authenticate, User
from reference_app.errors import NOT_FOUND, http_error, parse_session_id
from reference_app.streaming import StatusStream, StreamContext
from sse_contract.constants import parse_last_event_id

__all__ = ["NOT_FOUND", "STREAM_PATH", "StreamFastPath", "open_status_stream"]

STREAM_PATH = re.compile(r"/api/v1/sessions/(?P<session_id>[^/]+)/status/stream")


def open_status_stream(
    state: State, user: User, session_id: str, last_event_id_header: str | None, last_event_id_query: str | None
) -> Response:
    """The stream response for an authenticated user and a valid session id."""
    last_event_id = parse_last_event_id(last_event_id_header, last_event_id_query)
    return StatusStream(cast(StreamContext, state.stream_context), user, session_id, last_event_id)


class StreamFastPath:
    """Pure ASGI: serves GET on the stream path without FastAPI's per-request machinery; anything else goes
    to ``app``. ``ReferenceAPI`` calls it before its own ``__call__``; as a middleware it works anywhere."""

    def __init__(self, app: ASGIApp, cors: dict[str, Any] | None = None) -> None:
        self.app = app
        # in front of the app's own middleware: CORS, if configured, is applied to the streams here too
        self._streams: ASGIApp = CORSMiddleware(self._serve, **cors) if cors else self._serve

    @staticmethod
    def matches(scope: Scope) -> bool:
        return STREAM_PATH.fullmatch(scope["path"]) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.matches(scope):
            await self._streams(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = STREAM_PATH.fullmatch(scope["path"])
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
            return http_error(exc)
        session_id = parse_session_id(raw_id)
        if isinstance(session_id, Response):
            return session_id
        headers = conn.headers
        return open_status_stream(state, user, session_id, headers.get("last-event-id"),
                                  conn.query_params.get("lastEventId") if scope["query_string"] else None)
