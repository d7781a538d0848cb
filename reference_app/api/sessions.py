"""Sessions, jobs and the polling snapshot."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Response, status
from pydantic import BaseModel, Field

from reference_app.auth import CurrentUser
from reference_app.bus.protocol import SessionRecord
from reference_app.deps import BusDep, JobsDep, SettingsDep
from reference_app.errors import NOT_FOUND, owned
from sse_contract.jobs import JobParams

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])

#: FastAPI answers 400 to a body it cannot decode (not UTF-8); documented so the schema tells the truth
BAD_BODY: dict[int | str, dict[str, Any]] = {400: {"description": "the body is not UTF-8 JSON"}}


class SessionCreate(BaseModel):
    title: str = Field(default="", max_length=200)


class SessionOut(BaseModel):
    id: str
    title: str
    created_at: str
    task_id: str | None


class TaskOut(BaseModel):
    task_id: str


async def owned_session(bus: BusDep, user: CurrentUser, session_id: uuid.UUID) -> SessionRecord:
    """The session if this user owns it; 404 alike for "missing" and "someone else's"."""
    return owned(await bus.get_session(str(session_id)), user)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionOut, responses=BAD_BODY)
async def create_session(
    bus: BusDep, user: CurrentUser, body: Annotated[SessionCreate | None, Body()] = None
) -> dict[str, Any]:
    record = await bus.create_session(user.id, (body or SessionCreate()).title)
    return record.public()


@router.get("/{session_id}", response_model=SessionOut, responses={404: {"description": NOT_FOUND}})
async def get_session(session_id: uuid.UUID, bus: BusDep, user: CurrentUser) -> dict[str, Any]:
    return (await owned_session(bus, user, session_id)).public()


@router.post(
    "/{session_id}/transcribe",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskOut,
    responses={**BAD_BODY, 404: {"description": NOT_FOUND}, 409: {"description": "the session already has a job"}},
)
async def transcribe(
    session_id: uuid.UUID, bus: BusDep, jobs: JobsDep, user: CurrentUser,
    params: Annotated[JobParams | None, Body()] = None,
) -> TaskOut:
    record = await owned_session(bus, user, session_id)
    params = params or JobParams()
    task_id = str(uuid.uuid4())
    if record.task_id is not None or not await bus.claim_task(record.id, task_id):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this session already has a transcription job")
    try:
        await jobs.enqueue(record.id, params, task_id)
    except Exception as exc:  # broker down: say so, never a bare 500
        log.exception("could not enqueue the job of session %s", record.id)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="job queue unavailable",
                            headers={"Retry-After": "5"}) from exc
    return TaskOut(task_id=task_id)


def _etag(seq: int, stalled: bool = False) -> str:
    return f'"{seq}-stalled"' if stalled else f'"{seq}"'


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {c.strip().removeprefix("W/") for c in header.split(",")}
    return "*" in candidates or etag in candidates


@router.get(
    "/{session_id}/status",
    responses={304: {"description": "not modified since the ETag"}, 404: {"description": NOT_FOUND}},
)
async def get_status(
    session_id: uuid.UUID, bus: BusDep, user: CurrentUser, settings: SettingsDep,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """The latest status as JSON, with an ETag; ``If-None-Match`` with it answers 304 (cheap polling)."""
    record = await owned_session(bus, user, session_id)
    snapshot = await bus.snapshot(record.id)
    if snapshot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
    stalled = snapshot.stalled(settings.status_stall_after_s)
    etag = _etag(snapshot.seq, stalled)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    body = snapshot.payload
    if stalled:  # the worker has been silent too long: say so, so a UI is never stuck on "processing"
        body = json.dumps({**json.loads(body), "stalled": True}, separators=(",", ":"))
    return Response(body, media_type="application/json", headers=headers)
