"""The SSE endpoint as FastAPI sees it. Requests normally take the lean fast path in
``reference_app/stream_endpoint.py``; both run ``open_status_stream``, so behaviour is the same."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from reference_app.auth import CurrentUser
from reference_app.deps import StreamsDep
from reference_app.errors import NOT_FOUND
from reference_app.stream_endpoint import open_status_stream

router = APIRouter(prefix="/api/v1", tags=["stream"])

RESUME_ID = "resume after this seq; anything but a non-negative integer counts as absent"


@router.get(
    "/sessions/{session_id}/status/stream",
    response_class=Response,
    response_model=None,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the status stream (see docs/contract.md)"},
        204: {"description": "the job finished and the client already has its final event"},
        401: {"description": "not authenticated"},
        404: {"description": NOT_FOUND},
        429: {"description": "too many open streams for this user (across every API process)"},
        503: {"description": "not admitted (queue full or deadline), Redis command pool saturated, Redis "
                             "unreachable, or shutting down: the body's `reason` says which; with Retry-After"},
    },
)
async def stream_status(
    session_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    # No max_length: a malformed or oversized id counts as absent (contract), on both entrances alike.
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", description=RESUME_ID)] = None,
    last_event_id_query: Annotated[str | None, Query(alias="lastEventId", description=RESUME_ID)] = None,
) -> Response:
    return open_status_stream(request.app.state, user, str(session_id), last_event_id_header, last_event_id_query)


@router.get("/streams/me", tags=["stream"])
async def my_streams(user: CurrentUser, streams: StreamsDep) -> dict[str, int]:
    """How many streams this user has open on the API process that answers (and has opened since it started);
    the cap itself counts every process (leases in Redis)."""
    return {"open": streams.open_count(user.id), "opened_total": streams.opened_total[user.id]}
