"""The SSE endpoint: checks that must answer with a status code happen here, before the stream starts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import JSONResponse

from reference_app.api.sessions import NOT_FOUND, owned_session
from reference_app.auth import CurrentUser
from reference_app.deps import BusDep, MetricsDep, SettingsDep, StreamsDep
from reference_app.streaming import StatusStream, parse_last_event_id

router = APIRouter(prefix="/api/v1", tags=["stream"])


@router.get(
    "/sessions/{session_id}/status/stream",
    response_class=Response,
    response_model=None,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the status stream (see docs/contract.md)"},
        204: {"description": "the job finished and the client already has its final event"},
        401: {"description": "not authenticated"},
        404: {"description": NOT_FOUND},
        429: {"description": "too many open streams for this user"},
        503: {"description": "status bus unavailable"},
    },
)
async def stream_status(
    session_id: uuid.UUID,
    bus: BusDep,
    user: CurrentUser,
    settings: SettingsDep,
    streams: StreamsDep,
    metrics: MetricsDep,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    last_event_id_query: Annotated[str | None, Query(alias="lastEventId", max_length=64)] = None,
) -> Response:
    record = await owned_session(bus, user, session_id)
    last_event_id = parse_last_event_id(last_event_id_header, last_event_id_query)
    if last_event_id is not None:
        snapshot = await bus.snapshot(record.id)
        if snapshot is not None and snapshot.terminal and last_event_id >= snapshot.seq:
            # The client has the final event: 204 makes a browser EventSource stop reconnecting.
            return Response(status_code=status.HTTP_204_NO_CONTENT)
    lease = streams.acquire(user.id, record.id)
    if lease is None:
        reason = "shutting_down" if streams.shutting_down else "per_user_cap"
        metrics.streams_rejected.labels(reason).inc()
        if streams.shutting_down:
            return JSONResponse({"detail": "server is shutting down"}, 503, headers={"Retry-After": "1"})
        return JSONResponse(
            {"detail": f"too many open streams: at most {settings.sse_max_streams_per_user} per user"},
            status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": "5"},
        )
    return StatusStream(bus, record.id, last_event_id, lease, streams, settings, metrics)


@router.get("/streams/me", tags=["stream"])
async def my_streams(user: CurrentUser, streams: StreamsDep) -> dict[str, int]:
    """How many streams this user has open on this API process (and has opened since it started)."""
    return {"open": streams.open_count(user.id), "opened_total": streams.opened_total[user.id]}
