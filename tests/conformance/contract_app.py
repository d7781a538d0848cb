"""A small in-memory implementation of docs/contract.md, with switchable flaws.

Clean, it passes the checker — which shows the checker is not tied to the reference app. Each flaw
breaks exactly one contract point the way real services get it wrong (no ids, no heartbeat, the wrong
content type, duplicates on resume, a gzip middleware, a stream that never ends, no 204), so a test can
assert that the matching check, and only a relevant one, fails.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from simulators.profiles import build_steps
from sse_contract.jobs import JobParams
from sse_contract.status import StatusUpdate
from sse_contract.wire import encode_comment, encode_event, encode_retry


@dataclass(frozen=True)
class Flaws:
    no_ids: bool = False
    no_heartbeat: bool = False
    content_type: str = "text/event-stream; charset=utf-8"
    duplicate_on_resume: bool = False
    gzip: bool = False
    keep_open_after_end: bool = False
    no_204: bool = False


@dataclass
class Session:
    owner: str
    log: list[StatusUpdate] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    has_job: bool = False

    def publish(self, status: str, progress: float, message: str) -> None:
        self.log.append(StatusUpdate.build(session_id="x", seq=len(self.log) + 1, status=status,
                                           progress=progress, message=message))
        self.changed.set()
        self.changed = asyncio.Event()

    @property
    def finished(self) -> bool:
        return bool(self.log) and self.log[-1].terminal


def _frame(update: StatusUpdate, flaws: Flaws) -> bytes:
    return encode_event(update.to_json(), event="status", id=None if flaws.no_ids else update.seq)


def create_app(flaws: Flaws = Flaws(), heartbeat_s: float = 0.5) -> Starlette:
    sessions: dict[str, Session] = {}
    jobs: set[asyncio.Task[None]] = set()

    def user_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        token = token or request.cookies.get("access_token")
        return token.removeprefix("tok-") if token and token.startswith("tok-") else None

    def owned(request: Request) -> Session | Response:
        user = user_of(request)
        if user is None:
            return JSONResponse({"detail": "not authenticated"}, 401)
        try:
            sid = str(uuid.UUID(request.path_params["sid"]))
        except ValueError:
            return JSONResponse({"detail": "malformed session id"}, 422)
        session = sessions.get(sid)
        if session is None or session.owner != user:
            return JSONResponse({"detail": "session not found"}, 404)
        return session

    async def login(request: Request) -> Response:
        user = (await request.json())["username"]
        response = JSONResponse({"access_token": f"tok-{user}", "token_type": "bearer"})
        response.set_cookie("access_token", f"tok-{user}", httponly=True)
        return response

    async def create(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return JSONResponse({"detail": "not authenticated"}, 401)
        body = await request.body()
        try:
            title = json.loads(body or b"{}").get("title", "")
        except ValueError:
            return JSONResponse({"detail": "bad JSON"}, 422)
        if not isinstance(title, str):
            return JSONResponse({"detail": "title must be a string"}, 422)
        sid = str(uuid.uuid4())
        sessions[sid] = Session(owner=user)
        sessions[sid].publish("pending", 0, "Waiting to start")
        return JSONResponse({"id": sid, "title": title}, 201)

    async def transcribe(request: Request) -> Response:
        session = owned(request)
        if isinstance(session, Response):
            return session
        try:
            params = JobParams.model_validate_json(await request.body() or b"{}")
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)[:200]}, 422)
        if session.has_job:
            return JSONResponse({"detail": "already has a job"}, 409)
        session.has_job = True

        async def job() -> None:
            for step in build_steps(params):
                await asyncio.sleep(step.delay_s)
                session.publish(step.change.status, step.change.progress, step.change.message)

        task = asyncio.ensure_future(job())
        jobs.add(task)
        task.add_done_callback(jobs.discard)
        return JSONResponse({"task_id": str(uuid.uuid4())}, 202)

    async def status(request: Request) -> Response:
        session = owned(request)
        if isinstance(session, Response):
            return session
        latest = session.log[-1]
        etag = f'"{latest.seq}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(latest.to_json(), media_type="application/json", headers={"ETag": etag})

    async def stream(request: Request) -> Response:
        session = owned(request)
        if isinstance(session, Response):
            return session
        raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
        last = int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 12 else None
        if last is not None and session.finished and last >= session.log[-1].seq and not flaws.no_204:
            return Response(status_code=204)

        async def events() -> AsyncIterator[bytes]:
            yield encode_retry(1000)
            # a fresh connection starts at the snapshot (the latest status); a resume after ``last``
            # (whose log index is last - 1), or at ``last`` itself when the flaw re-sends it
            start = len(session.log) - 1 if last is None else last - 1 if flaws.duplicate_on_resume else last
            position = max(0, min(start, len(session.log)))
            while True:
                changed = session.changed
                while position < len(session.log):
                    update = session.log[position]
                    position += 1
                    yield _frame(update, flaws)
                    if update.terminal and not flaws.keep_open_after_end:
                        return
                try:
                    await asyncio.wait_for(changed.wait(), heartbeat_s)
                except TimeoutError:
                    if not flaws.no_heartbeat:
                        yield encode_comment("ping") + b"\n"

        body: AsyncIterator[bytes] = events()
        headers = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
        if flaws.gzip:
            body = _gzip(body)
            headers["Content-Encoding"] = "gzip"
        return StreamingResponse(body, headers=headers, media_type=flaws.content_type)

    prefix = "/api/v1"
    return Starlette(routes=[
        Route(f"{prefix}/auth/dev-login", login, methods=["POST"]),
        Route(f"{prefix}/sessions", create, methods=["POST"]),
        Route(prefix + "/sessions/{sid}/transcribe", transcribe, methods=["POST"]),
        Route(prefix + "/sessions/{sid}/status", status),
        Route(prefix + "/sessions/{sid}/status/stream", stream),
    ])


async def _gzip(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """What a GZip middleware does to a stream: compress without flushing, so events wait in deflate."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    async for chunk in body:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()
