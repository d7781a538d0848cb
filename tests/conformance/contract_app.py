"""A small in-memory implementation of docs/contract.md, with switchable flaws (the mutants).

Clean, it passes the checker — which shows the checker is not tied to the reference app. Each flaw
breaks exactly one contract point the way real services get it wrong, so a test can assert that the
check naming that point fails, and no other. The flaws are read per request from ``app.state.flaws``:
one server serves every mutant in turn (``set_flaws``), which keeps the mutation suite fast.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from simulators.profiles import build_steps
from sse_contract.jobs import JobParams
from sse_contract.status import StatusUpdate
from sse_contract.wire import encode_comment, encode_event, encode_retry
from tests.conformance.contract_flaws import (
    CAP,
    CLEAN,
    LATE_RELEASE_S,
    LIFETIME_S,
    SEND_TIMEOUT_S,
    Flaws,
    cut_after,
    end_after,
    frame,
    gzip_body,
    last_id,
)
from tests.conformance.contract_send import ABORT_KEY, ContractApp, SendTimeout


@dataclass
class Session:
    sid: str
    owner: str
    log: list[StatusUpdate] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    has_job: bool = False
    last_publish: float = 0.0

    def publish(self, status: str, progress: float, message: str) -> None:
        self.log.append(StatusUpdate.build(session_id=self.sid, seq=len(self.log) + 1, status=status,
                                           progress=progress, message=message))
        self.changed.set()
        self.changed = asyncio.Event()
        self.last_publish = asyncio.get_running_loop().time()

    @property
    def finished(self) -> bool:
        return bool(self.log) and self.log[-1].terminal


def set_flaws(app: Starlette, flaws: Flaws) -> None:
    """Switch the flaws; every run starts with the bus up."""
    app.state.flaws = flaws
    app.state.bus_down = app.state.bus_was_down = False


def begin_shutdown(app: Starlette) -> None:
    """What the app does on SIGTERM (the launcher calls it): end every stream, refuse new ones."""
    app.state.shutdown.set()


def create_app(flaws: Flaws = CLEAN, heartbeat_s: float = 0.5, stall_after_s: float = 1.0,
               send_timeout_s: float = SEND_TIMEOUT_S, lifetime_s: float = LIFETIME_S) -> Starlette:
    sessions: dict[str, Session] = {}
    jobs: set[asyncio.Task[None]] = set()
    open_streams: dict[str, int] = {}
    jitter = random.Random(0)  # the lifetime's 80-100 % jitter, the same on every run

    def current() -> Flaws:
        return app.state.flaws  # type: ignore[no-any-return]

    def bus_down() -> bool:
        return bool(app.state.bus_down or (current().no_recovery and app.state.bus_was_down))

    def unavailable(reason: str = "redis_unreachable", detail: str = "status store unavailable") -> Response:
        flaws = current()
        body = {"detail": detail} if flaws.bus_down_no_reason else {"detail": detail, "reason": reason}
        headers = {} if flaws.bus_down_no_retry_after else {"Retry-After": "2"}
        return JSONResponse(body, 503, headers=headers)

    def shutting_down() -> bool:
        return bool(app.state.shutdown.is_set())

    def unauthorized() -> Response:
        headers = {} if current().no_www_authenticate else {"WWW-Authenticate": "Bearer"}
        return JSONResponse({"detail": "not authenticated"}, 401, headers=headers)

    def user_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        token = token or request.cookies.get("access_token")
        return token.removeprefix("tok-") if token and token.startswith("tok-") else None

    def owned(request: Request, stream: bool = False) -> Session | Response:
        flaws = current()
        if bus_down() and not (stream and flaws.bus_down_streams_200):
            if stream:
                return unavailable("bus_unavailable", "status bus unavailable")
            if flaws.bus_down_routes_500:
                return Response("Internal Server Error", 500)
            return unavailable()
        user = user_of(request)
        if user is None and not (flaws.no_auth and stream):
            return unauthorized()
        try:
            sid = str(uuid.UUID(request.path_params["sid"]))
        except ValueError:
            if flaws.malformed_id_500:
                return Response("Internal Server Error", 500)
            return JSONResponse({"detail": "malformed session id"}, 422)
        session = sessions.get(sid)
        if session is not None and user is None:
            return session  # no_auth
        if session is not None and session.owner != user and flaws.forbid_foreign:
            return JSONResponse({"detail": "not your session"}, 403)
        if session is not None and session.owner != user and flaws.foreign_body_differs:
            return JSONResponse({"detail": "session belongs to another user"}, 404)
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
            return unauthorized()
        body = await request.body()
        try:
            title = json.loads(body or b"{}").get("title", "")
        except ValueError:
            return JSONResponse({"detail": "bad JSON"}, 422)
        if not isinstance(title, str):
            return JSONResponse({"detail": "title must be a string"}, 422)
        if bus_down():
            return unavailable()
        sid = str(uuid.uuid4())
        sessions[sid] = Session(sid=sid, owner=user)
        sessions[sid].publish("pending", 0, "Waiting to start")
        body = {"id": sid, "title": title, "created_at": datetime.now(UTC).isoformat(), "task_id": None}
        if current().session_without_created_at:
            body.pop("created_at")
        return JSONResponse(body, 201)

    async def read(request: Request) -> Response:
        session = owned(request)
        if isinstance(session, Response):
            return session
        return JSONResponse({"id": session.sid, "title": "", "task_id": None})

    async def healthz(request: Request) -> Response:
        if bus_down() and not current().healthz_ignores_bus:
            return JSONResponse({"status": "degraded"}, 503)
        return JSONResponse({"status": "ok"})

    async def bus_switch(request: Request) -> Response:
        down = request.path_params["state"] == "down"
        app.state.bus_down = down
        app.state.bus_was_down = app.state.bus_was_down or down
        return JSONResponse({"bus_down": down})

    async def transcribe(request: Request) -> Response:
        session = owned(request)
        if isinstance(session, Response):
            return session
        if current().transcribe_html_422:
            return HTMLResponse("<html>\n<head><title>422 Unprocessable Entity</title></head>\n<body>\n"
                                "<h1>Unprocessable</h1>\n</body></html>", 422)
        try:
            params = JobParams.model_validate_json(await request.body() or b"{}")
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)[:200]}, 422)
        if current().max_steps and params.steps > current().max_steps:
            return JSONResponse({"detail": f"steps: at most {current().max_steps}"}, 422)
        if session.has_job and not current().no_409:
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
        flaws = current()
        abort = request.scope.get(ABORT_KEY)
        if flaws.status_resets_after_job and session.has_job and callable(abort):
            abort()
        latest = session.log[-1]
        etag = f'"{latest.seq}"'
        headers = {"Cache-Control": flaws.poll_cache_control} | ({} if flaws.no_etag else {"ETag": etag})
        if request.headers.get("if-none-match") == etag and not flaws.no_304 and not flaws.no_etag:
            return Response(status_code=304, headers=headers)
        return Response(latest.to_json(), media_type="application/json", headers=headers)

    async def streams_me(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return unauthorized()
        return JSONResponse({"open": open_streams.get(user, 0), "opened_total": 0})

    async def stream(request: Request) -> Response:
        flaws = current()
        session = owned(request, stream=True)
        if isinstance(session, Response):
            return session
        user = session.owner
        if shutting_down() and not flaws.shutdown_accepts_streams:
            return unavailable("shutting_down", "server is shutting down")
        raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
        if raw and flaws.bad_last_event_id_500 and not raw.isdigit():
            return Response("Internal Server Error", 500)
        last = last_id(raw, flaws)
        if last is not None and session.finished and last >= session.log[-1].seq and not flaws.no_204:
            return Response(status_code=204)
        if open_streams.get(user, 0) >= CAP and not flaws.no_cap:
            headers = {} if flaws.cap_no_retry_after else {"Retry-After": "5"}
            return JSONResponse({"detail": f"at most {CAP} streams per user"}, 429, headers=headers)
        open_streams[user] = open_streams.get(user, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                open_streams[user] -= 1

        async def events() -> AsyncIterator[bytes]:
            try:
                async for chunk in frames():
                    yield chunk
            finally:
                # Starlette cancels the body when the client goes away, so the clean variant releases
                # at once; the flaw holds the count as a server that notices only at its next write would
                if flaws.late_release:
                    asyncio.get_running_loop().call_later(LATE_RELEASE_S, release)
                else:
                    release()

        async def frames() -> AsyncIterator[bytes]:
            if flaws.first_event_delay_s:
                await asyncio.sleep(flaws.first_event_delay_s)
            if not flaws.no_retry:
                yield encode_retry(1000)
            if last is None:
                start = len(session.log) - 1  # a fresh connection starts at the snapshot
            elif flaws.reset_on_resume:
                yield encode_event(json.dumps({"reason": "last_event_id_not_retained", "requested": last}),
                                   event="reset")
                start = len(session.log) - 1
            else:  # a resume after ``last`` (whose log index is last - 1)
                start = last - 1 if flaws.duplicate_on_resume else last
            position = max(0, min(start, len(session.log)))
            sent = 0
            skip_next = flaws.replay_skips_one and last is not None  # the first status after the id is lost
            stall_reported = False
            if bus_down():  # bus_down_streams_200: a stream that will never receive anything
                while True:
                    await asyncio.sleep(heartbeat_s)
                    yield encode_comment("ping") + b"\n"
            while True:
                if shutting_down():
                    if flaws.sigterm_cuts:
                        raise ConnectionAbortedError("sigterm_cuts flaw: cut")
                    return
                changed = session.changed
                while position < len(session.log):
                    update = session.log[position]
                    position += 1
                    sent += 1
                    if flaws.no_live_after_bus and app.state.bus_was_down and sent > 1:
                        continue
                    if skip_next:
                        skip_next = False
                        continue
                    if flaws.drop_every and sent % flaws.drop_every == 0 and not update.terminal:
                        continue
                    yield frame(update, flaws)
                    if flaws.duplicate_live and sent == 3:
                        yield frame(update, flaws)
                    if update.terminal and not flaws.keep_open_after_end:
                        return
                try:
                    await _first(changed, app.state.shutdown, heartbeat_s)
                    stall_reported = False
                except TimeoutError:
                    if not flaws.no_heartbeat:
                        yield encode_comment("ping") + b"\n"
                    latest = session.log[-1]
                    silent = asyncio.get_running_loop().time() - session.last_publish
                    if (latest.status == "processing" and silent >= stall_after_s and not stall_reported
                            and not flaws.no_stalled):
                        stall_reported = True
                        yield encode_event(json.dumps({"session_id": session.sid, "seq": latest.seq,
                                                       "silent_s": round(silent, 1), "reason": "quiet"}),
                                           event="stalled")

        body: AsyncIterator[bytes] = events()
        headers = {"Cache-Control": flaws.cache_control}
        if not flaws.no_x_accel:
            headers["X-Accel-Buffering"] = "no"
        if flaws.content_length:
            headers["Content-Length"] = "100000000"
        if not flaws.no_lifetime:
            body = end_after(body, lifetime_s * jitter.uniform(0.8, 1.0))
        if flaws.cut_after_s:
            body = cut_after(body, flaws.cut_after_s)
        if flaws.gzip or flaws.gzip_flush:
            body = gzip_body(body, flush=flaws.gzip_flush)
            headers["Content-Encoding"] = "gzip"
        response = SendTimeout(body, headers=headers, media_type=flaws.content_type)
        response.send_timeout_s = None if flaws.no_send_timeout else send_timeout_s
        response.abort_on_timeout = not flaws.send_timeout_leaves_open
        return response

    prefix = "/api/v1"
    app = ContractApp(routes=[
        Route(f"{prefix}/auth/dev-login", login, methods=["POST"]),
        Route(f"{prefix}/sessions", create, methods=["POST"]),
        Route(prefix + "/sessions/{sid}", read),
        Route(prefix + "/sessions/{sid}/transcribe", transcribe, methods=["POST"]),
        Route(prefix + "/sessions/{sid}/status", status),
        Route(prefix + "/sessions/{sid}/status/stream", stream),
        Route(f"{prefix}/streams/me", streams_me),
        Route("/healthz", healthz),
        Route("/_test/bus/{state:str}", bus_switch, methods=["POST"]),
    ])
    app.state.shutdown = asyncio.Event()
    set_flaws(app, flaws)
    return app


async def _first(changed: asyncio.Event, shutdown: asyncio.Event, timeout: float) -> None:
    """Until ``changed`` or ``shutdown`` is set; ``TimeoutError`` after ``timeout`` (the heartbeat is due)."""
    waits = {asyncio.ensure_future(changed.wait()), asyncio.ensure_future(shutdown.wait())}
    try:
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waits:
            waiter.cancel()
    if not done:
        raise TimeoutError


__all__ = ["LIFETIME_S", "SEND_TIMEOUT_S", "Flaws", "begin_shutdown", "create_app", "set_flaws"]
