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
import socket
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from simulators.profiles import build_steps
from sse_contract.jobs import JobParams
from sse_contract.status import StatusUpdate
from sse_contract.wire import encode_comment, encode_event, encode_retry

CAP = 20
ID_OFFSET = 1000
#: the late_release flaw: how long a closed stream still counts (the checker waits 2 s)
LATE_RELEASE_S = 4.0
#: point 7: a stream write blocked this long ends the stream (the reference app's SSE_SEND_TIMEOUT_S)
SEND_TIMEOUT_S = 1.0
#: point 5: a stream ends cleanly after 80-100 % of this (longer than any other check holds a stream)
LIFETIME_S = 8.0


@dataclass(frozen=True)
class Flaws:
    # -- the stream's headers
    content_type: str = "text/event-stream; charset=utf-8"
    cache_control: str = "no-cache, no-transform"
    no_x_accel: bool = False
    content_length: bool = False
    gzip: bool = False
    #: gzip with a sync flush after every write: events arrive on time, but compressed
    gzip_flush: bool = False
    # -- authentication
    no_auth: bool = False
    no_www_authenticate: bool = False
    forbid_foreign: bool = False
    foreign_body_differs: bool = False
    malformed_id_500: bool = False
    # -- sessions and jobs
    no_409: bool = False
    session_without_created_at: bool = False
    no_etag: bool = False
    no_304: bool = False
    transcribe_html_422: bool = False
    poll_cache_control: str = "no-cache"
    # -- a status
    no_timestamp: bool = False
    event_name: str = "status"
    id_not_seq: bool = False
    # -- 1. at once
    no_retry: bool = False
    first_event_delay_s: float = 0.0
    reset_on_resume: bool = False
    bad_last_event_id_500: bool = False
    # -- 2. ids
    no_ids: bool = False
    id_step: int = 1
    drop_every: int = 0
    duplicate_live: bool = False
    duplicate_on_resume: bool = False
    replay_skips_one: bool = False
    # -- 3. heartbeat
    no_heartbeat: bool = False
    # -- 4. end
    keep_open_after_end: bool = False
    no_204: bool = False
    # -- 5. lifetime: the connection is cut (not ended) after this long; or streams live forever
    cut_after_s: float = 0.0
    no_lifetime: bool = False
    # -- 6. per-user cap
    no_cap: bool = False
    cap_no_retry_after: bool = False
    # -- 7. a write that blocks (the client stopped reading) never ends the stream
    no_send_timeout: bool = False
    # -- 7. the send timeout stops writing but leaves the connection open (uvicorn's close() waits to flush)
    send_timeout_leaves_open: bool = False
    #: a 422 for a job of more steps than this (0: any length): the slow reader's long job refused
    max_steps: int = 0
    #: GET .../status resets the connection once a job ran (a network error in the slow reader's poll)
    status_resets_after_job: bool = False
    # -- 9. a client that goes away is noticed only when the stream next writes
    late_release: bool = False
    # -- 10. no event: stalled for a silent job
    no_stalled: bool = False
    # -- 11. the status bus down (``POST /_test/bus/down`` and ``/up``)
    bus_down_streams_200: bool = False
    bus_down_no_retry_after: bool = False
    bus_down_no_reason: bool = False
    healthz_ignores_bus: bool = False
    bus_down_routes_500: bool = False
    #: once down, the bus never comes back (a subscriber that does not reconnect)
    no_recovery: bool = False
    #: after the bus came back, live statuses no longer reach streams (a pub/sub subscriber that never
    #: reconnected); snapshots and /healthz, plain reads, are fine
    no_live_after_bus: bool = False
    # -- 8. SIGTERM (only in its own process: tests/conformance/contract_server.py)
    #: the app never hears of SIGTERM: uvicorn waits for streams that never end
    ignore_sigterm: bool = False
    #: streams are broken off (no final chunk) instead of ended
    sigterm_cuts: bool = False
    #: new streams during shutdown are accepted (200) instead of 503
    shutdown_accepts_streams: bool = False
    #: streams end and new opens get 503 shutting_down, but the process never exits
    shutdown_never_exits: bool = False


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


def _frame(update: StatusUpdate, flaws: Flaws) -> bytes:
    data = update.model_dump(mode="json")
    if flaws.no_timestamp:
        data.pop("timestamp")
    seq = data["seq"] = update.seq * flaws.id_step
    if flaws.id_not_seq:
        seq += ID_OFFSET
    return encode_event(json.dumps(data), event=flaws.event_name, id=None if flaws.no_ids else seq)


def _last_id(raw: str | None, flaws: Flaws) -> int | None:
    """The seq a Last-Event-ID names, read the way this (possibly flawed) server numbers its ids."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) >= 12:
        return None
    return (int(raw) - (ID_OFFSET if flaws.id_not_seq else 0)) // flaws.id_step


def set_flaws(app: Starlette, flaws: Flaws) -> None:
    """Switch the flaws; every run starts with the bus up."""
    app.state.flaws = flaws
    app.state.bus_down = app.state.bus_was_down = False


def begin_shutdown(app: Starlette) -> None:
    """What the app does on SIGTERM (the launcher calls it): end every stream, refuse new ones."""
    app.state.shutdown.set()


ABORT_KEY = "contract_app.abort"


def _aborter(send: Send) -> object:
    """Reset uvicorn's connection under ``send`` (its RequestResponseCycle holds the transport).

    Why: raising out of a blocked ``send`` only makes uvicorn ``transport.close()``, which waits forever to
    flush to a client that reads nothing (the reference app sets TCP_USER_TIMEOUT for this). SO_LINGER 0
    then ``abort()`` drops the connection and its buffers at once (an RST), which is what point 7 asks."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)

    def abort() -> None:
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return abort


class _ContractApp(Starlette):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[ABORT_KEY] = _aborter(send)  # uvicorn's own send: Starlette's middleware wraps it below
        await super().__call__(scope, receive, send)


class _SendTimeout(StreamingResponse):
    """Point 7: a body write that does not complete within ``send_timeout_s`` (uvicorn's flow control holds
    ``send`` while the client reads nothing) ends the stream and resets the connection."""

    send_timeout_s: float | None = None
    abort_on_timeout: bool = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timeout = self.send_timeout_s
        if timeout is None:
            return await super().__call__(scope, receive, send)

        async def timed(message: Message) -> None:
            try:
                await asyncio.wait_for(send(message), timeout)
            except TimeoutError:
                abort = scope.get(ABORT_KEY)
                if self.abort_on_timeout and callable(abort):
                    abort()
                raise ConnectionAbortedError("the client did not read within the send timeout") from None

        try:
            await super().__call__(scope, receive, timed)
        finally:
            # Starlette leaves the body suspended at its ``yield`` when ``send`` raises: close it so that its
            # ``finally`` (the stream's release from the per-user count) runs now, not at garbage collection
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()


def create_app(flaws: Flaws = Flaws(), heartbeat_s: float = 0.5, stall_after_s: float = 1.0,
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
        last = _last_id(raw, flaws)
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
                    yield _frame(update, flaws)
                    if flaws.duplicate_live and sent == 3:
                        yield _frame(update, flaws)
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
            body = _end_after(body, lifetime_s * jitter.uniform(0.8, 1.0))
        if flaws.cut_after_s:
            body = _cut_after(body, flaws.cut_after_s)
        if flaws.gzip or flaws.gzip_flush:
            body = _gzip(body, flush=flaws.gzip_flush)
            headers["Content-Encoding"] = "gzip"
        response = _SendTimeout(body, headers=headers, media_type=flaws.content_type)
        response.send_timeout_s = None if flaws.no_send_timeout else send_timeout_s
        response.abort_on_timeout = not flaws.send_timeout_leaves_open
        return response

    prefix = "/api/v1"
    app = _ContractApp(routes=[
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


async def _gzip(body: AsyncIterator[bytes], flush: bool = False) -> AsyncIterator[bytes]:
    """What a GZip middleware does to a stream: compress without flushing, so events wait in deflate
    (``flush``: a sync flush after every write, as nginx's gzip filter does)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    async for chunk in body:
        out = compressor.compress(chunk) + (compressor.flush(zlib.Z_SYNC_FLUSH) if flush else b"")
        if out:
            yield out
    yield compressor.flush()


async def _end_after(body: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """The stream's lifetime: after ``seconds`` the body ends cleanly (the final chunk is sent)."""
    deadline = asyncio.get_running_loop().time() + seconds
    iterator = body.__aiter__()
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await iterator.__anext__()
            except (StopAsyncIteration, TimeoutError):
                return
            yield chunk
    finally:
        await iterator.aclose()  # type: ignore[attr-defined]


async def _cut_after(body: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """A stream whose connection breaks (no clean end) after ``seconds``: raising mid-body makes uvicorn
    drop the connection without the final chunk."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    iterator = body.__aiter__()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ConnectionAbortedError("lifetime flaw: cut") from None
        yield chunk
