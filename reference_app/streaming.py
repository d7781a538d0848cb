"""One status stream, from the accepted request to its last byte: the one home of the stream lifecycle.

``StatusStream`` is what both entrances (the FastAPI route and the lean fast path) return once the request is
authenticated and its id parsed. As an ASGI response it then does, in order:

1. **subscribe first**: register a mailbox on the shared subscriber and wait until Redis confirmed it (else
   503 ``bus_unavailable``), so reading the log afterwards cannot miss an event published in between;
2. **read second**, through the admission queue and the single-flight reads of ``stream_reads``: record,
   snapshot and replay, shared with every concurrent open of the session (503 ``queue_full`` / ``deadline`` /
   ``pool_saturated`` / ``redis_unreachable`` only when that is what happened);
3. **decide**: 404 (missing or not yours, one ownership check), 204 (the client has the final event), 429
   (the per-user cap, a lease in Redis), 503 (shutting down);
4. **open**: headers, ``retry:``, then the snapshot, the replay after Last-Event-ID, or ``event: reset`` +
   snapshot when that id is no longer retained;
5. **live loop** in the request's own task: ``mailbox.get()`` -> ``send``, dropping any seq already sent,
   re-reading the log after a subscriber reconnect, until terminal, deadline, disconnect or shutdown.

Why not StreamingResponse or sse-starlette: both run a task group per response (stream, ping, disconnect
watcher); per-stream memory is dominated by per-connection tasks and buffers (docs/performance.md). Here one
small task watches ``receive()`` for the disconnect and closes the mailbox. No timers per stream: the
registry's supervisor calls ``tick(now)`` a few times a second and the stream decides (heartbeat due,
deadline passed, write stuck).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from time import monotonic

from fastapi import HTTPException
from redis.exceptions import RedisError
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from reference_app.auth import User
from reference_app.bus.mailbox import HEARTBEAT_DUE, RESYNC, Mailbox
from reference_app.bus.message import BusMessage
from reference_app.bus.protocol import StatusBus
from reference_app.bus.subscriber import BusUnavailable
from reference_app.errors import http_error, owned, redis_failure, store_unavailable
from reference_app.metrics import Metrics
from reference_app.settings import Settings
from reference_app.stream_reads import OpenReads, OpenRefused, SessionView, Watch
from reference_app.stream_registry import StreamRegistry
from sse_contract.constants import EVENT_RESET, EVENT_STALLED, STREAM_HEADERS
from sse_contract.wire import encode_comment, encode_event, encode_retry

__all__ = ["StatusStream", "StreamContext"]

log = logging.getLogger(__name__)

SSE_HEADERS = list(STREAM_HEADERS)
HEARTBEAT = encode_comment("ping") + b"\n"
CAP_DETAIL = "too many open streams: at most {cap} per user"


@dataclass(frozen=True, slots=True)
class StreamContext:
    """What every stream of one app shares (built once by ``create_app``)."""

    bus: StatusBus
    reads: OpenReads
    registry: StreamRegistry
    settings: Settings
    metrics: Metrics


class StatusStream(Response):
    """The response for one stream request whose user and session id are known.

    A ``Response`` subclass so FastAPI passes it through untouched; it sets no ``body``, so no Content-Length
    is ever added. Its timer state (last write, a write in progress, the deadline) is private: the supervisor
    only calls ``tick``/``end``.
    """

    media_type = "text/event-stream"

    def __init__(self, ctx: StreamContext, user: User, session_id: str, last_event_id: int | None) -> None:
        self.ctx = ctx
        self.user = user.id
        self._owner = user
        self.session_id = session_id
        self.last_event_id = last_event_id
        self.lease_id = ctx.registry.new_lease_id()
        self.status_code = 200
        self.background = None
        self.raw_headers = list(SSE_HEADERS)
        self._mailbox: Mailbox | None = None
        self._task: asyncio.Task[object] | None = None
        self._last_write = monotonic()
        self._send_started: float | None = None
        self._deadline = float("inf")
        self._slow = False
        self._watch: Watch | None = None  # the read layer's watch this stream holds a reference to
        self._heartbeat_s = ctx.settings.sse_heartbeat_s
        self._send_timeout_s = ctx.settings.sse_send_timeout_s

    # -- the supervisor's interface -------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        # called for every open stream several times a second: plain attributes only (profiled)
        mailbox = self._mailbox
        if mailbox is None or mailbox.closed:
            return
        started = self._send_started
        if started is not None:
            if now - started >= self._send_timeout_s and not self._slow and self._task:
                self._slow = True  # the write blocked: the client stopped reading
                self._task.cancel()
            return
        if now >= self._deadline:
            mailbox.close()
        elif now - self._last_write >= self._heartbeat_s:
            mailbox.request_heartbeat()

    def end(self) -> None:
        if self._mailbox is not None:
            self._mailbox.close()

    # -- the lifecycle --------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await _request_complete(receive):
            return  # the client left before the stream started
        ctx = self.ctx
        if ctx.registry.shutting_down:
            await self._refuse(scope, receive, send, "shutting_down", "server is shutting down", 503, 1)
            return
        listening = ctx.bus.listen(self.session_id, ctx.settings.sse_client_queue)
        try:
            mailbox = await listening.__aenter__()
        except BusUnavailable:
            await self._refuse(scope, receive, send, "bus_unavailable",
                               "status bus unavailable: Redis did not confirm the subscription", 503, 2)
            return
        self._view: SessionView | None = None
        try:
            response = await self._decide()
            self._watch = self._view.watch if self._view is not None else None  # handed back at the end
            try:
                if response is not None:
                    self._view = None
                    await response(scope, receive, send)
                    return
                try:
                    await self._run(receive, send, mailbox)
                finally:
                    ctx.registry.release(self)
            finally:
                await ctx.reads.done(self._watch)
        finally:
            await listening.__aexit__(None, None, None)

    async def _decide(self) -> Response | None:
        """Read (subscribed already) and answer with a status code when one is due; None = stream."""
        ctx, sid, after = self.ctx, self.session_id, self.last_event_id
        try:
            self._view = view = await ctx.reads.view(sid, after)
            owned(view.record, self._owner)
            snapshot = view.snapshot
            if after is not None and snapshot is not None and snapshot.terminal and after >= snapshot.seq:
                # The client has the final event: 204 makes a browser EventSource stop reconnecting.
                return Response(status_code=204)
            if not await ctx.registry.admit(self):
                if ctx.registry.shutting_down:
                    return self._refusal("shutting_down", "server is shutting down", 503, 1)
                return self._refusal("per_user_cap", CAP_DETAIL.format(cap=ctx.registry.cap_per_user), 429, 5)
        except HTTPException as exc:
            return http_error(exc)
        except OpenRefused as exc:
            log.warning("stream for %s refused: %s", sid, exc.detail)
            return self._refusal(exc.reason, exc.detail, 503, random.randint(1, 5))
        except RedisError as exc:
            ctx.metrics.streams_rejected.labels(redis_failure(exc)).inc()
            return store_unavailable(exc, what=f"stream for {sid}")
        return None

    def _refusal(self, reason: str, detail: str, status: int, retry_after: int) -> JSONResponse:
        self.ctx.metrics.streams_rejected.labels(reason).inc()
        body = {"detail": detail, "reason": reason} if status == 503 else {"detail": detail}
        return JSONResponse(body, status, headers={"Retry-After": str(retry_after)})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, reason: str, detail: str, status: int,
                      retry_after: int) -> None:
        await self._refusal(reason, detail, status, retry_after)(scope, receive, send)

    async def _run(self, receive: Receive, send: Send, mailbox: Mailbox) -> None:
        ctx = self.ctx
        self._mailbox = mailbox
        self._task = asyncio.current_task()
        self._deadline = self._last_write + ctx.settings.sse_connection_timeout * random.uniform(0.8, 1)
        if ctx.registry.shutting_down:
            mailbox.close()
        # After the request body, the next ASGI message can only be http.disconnect: one small task
        # waits for it and closes the mailbox, which wakes the stream loop at once.
        watcher = asyncio.ensure_future(receive())
        watcher.add_done_callback(mailbox.close)
        ctx.metrics.active_streams.inc()
        ctx.metrics.streams_opened.inc()
        try:
            await self._stream(send, mailbox)
        except asyncio.CancelledError:
            if not self._slow:
                raise
            # the supervisor cancelled a write that blocked past SSE_SEND_TIMEOUT_S: end this stream only
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            ctx.metrics.slow_clients_disconnected.inc()
            log.info("stream for %s ended: client did not read within %ss", self.session_id,
                     ctx.settings.sse_send_timeout_s)
        finally:
            ctx.metrics.events_coalesced.inc(mailbox.coalesced)
            ctx.metrics.active_streams.dec()
            watcher.cancel()

    async def _send(self, send: Send, body: bytes, more: bool = True) -> None:
        # No timeout object per write (that was 31 % of the API's CPU in a 10,000-stream fan-out): the
        # supervisor's tick sees ``_send_started`` and cancels a write stuck past the send timeout.
        self._send_started = monotonic()
        try:
            await send({"type": "http.response.body", "body": body, "more_body": more})
        finally:
            self._send_started = None
            self._last_write = monotonic()

    async def _stream(self, send: Send, mailbox: Mailbox) -> None:
        ctx = self.ctx
        settings, metrics = ctx.settings, ctx.metrics
        ctx.registry.supervise()

        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        assert self._view is not None
        first, last, done = self._opening(self._view, settings.sse_retry_ms)
        self._view = None  # the shared view (and its replay) must not live as long as the stream
        await self._send(send, first)
        del first  # this frame lives as long as the stream: do not pin the opening bytes
        last_seq = last.seq if last is not None else self.last_event_id or 0
        stall_reported = False

        while not done and not mailbox.closed:
            # No timer per wait either: the supervisor wakes idle mailboxes with HEARTBEAT_DUE and closes
            # them at the connection deadline.
            item = await mailbox.get()
            if item is HEARTBEAT_DUE:
                if not stall_reported and last is not None and last.stalled(settings.status_stall_after_s):
                    stall_reported = True
                    await self._send(send, stalled_frame(last))
                await self._send(send, HEARTBEAT)
                metrics.heartbeats_sent.inc()
                continue
            if item is None:
                break
            if item is RESYNC:
                after = max(0, last_seq - 1)
                view = await ctx.reads.view(self.session_id, after, admission=False)
                # hold the re-read's watch instead of the old one (dropped: it may have missed statuses)
                previous, self._watch = self._watch, view.watch
                await ctx.reads.done(previous)
                batch = view.after(after)
                if last is not None and (not batch or batch[0].payload != last.payload):
                    # The log no longer holds what this client saw: Redis came back without its data
                    # (no persistence). Say so and start over from whatever the log holds now.
                    trimmed = bool(batch) and batch[0].seq > last_seq  # too far behind a capped log
                    reset, last = self._log_lost(last_seq, trimmed, view.snapshot)
                    last_seq, done, stall_reported = (last.seq, last.terminal, False) if last else (0, False, False)
                    await self._send(send, reset)
                    continue
                metrics.events_replayed.inc(len(batch))
            else:
                assert isinstance(item, BusMessage)
                batch = [item, *mailbox.drain()]
            frames, newest, done = _take(batch, last_seq)
            if frames:
                assert newest is not None
                last, last_seq, stall_reported = newest, newest.seq, False
                metrics.events_sent.inc(len(frames))
                await self._send(send, b"".join(frames))
        await self._send(send, b"", more=False)

    def _log_lost(self, last_seq: int, trimmed: bool, snapshot: BusMessage | None) -> tuple[bytes, BusMessage | None]:
        """``event: reset`` plus the current snapshot, if the log has one yet."""
        reason = "last_event_id_not_retained" if trimmed else "log_lost"
        reset = encode_event(json.dumps({"reason": reason, "last_sent": last_seq,
                                         "latest": snapshot.seq if snapshot else 0}), event=EVENT_RESET)
        self.ctx.metrics.events_sent.inc(1 + (snapshot is not None))
        return reset + (snapshot.frame if snapshot else b""), snapshot

    def _opening(self, view: SessionView, retry_ms: int) -> tuple[bytes, BusMessage | None, bool]:
        """The first write: retry, then the snapshot or the replay.
        Returns (bytes, the newest status the client now has if this write gave it one, finished)."""
        metrics = self.ctx.metrics
        head = encode_retry(retry_ms)
        snapshot = view.snapshot
        if snapshot is None:  # a session whose log expired: nothing to say but the end
            return head, None, True
        after = self.last_event_id
        if after is None:
            metrics.events_sent.inc()
            return head + snapshot.frame, snapshot, snapshot.terminal
        backlog = view.after(after)
        retained_from = backlog[0].seq if backlog else snapshot.seq + 1
        if after > snapshot.seq or retained_from > after + 1:
            reset = encode_event(
                json.dumps({"reason": "last_event_id_not_retained", "requested": after,
                            "oldest_retained": retained_from if backlog else snapshot.seq,
                            "latest": snapshot.seq}),
                event=EVENT_RESET,
            )
            metrics.events_sent.inc()
            return head + reset + snapshot.frame, snapshot, snapshot.terminal
        frames, newest, done = _take(backlog, after)
        metrics.events_replayed.inc(len(frames))
        metrics.events_sent.inc(len(frames))
        if not frames and snapshot.terminal and snapshot.seq <= after:
            done = True
        # resuming with nothing new: the client's newest status is the snapshot (its id == after)
        return head + b"".join(frames), newest or snapshot, done


def _take(batch: list[BusMessage], last_seq: int) -> tuple[list[bytes], BusMessage | None, bool]:
    """Frames to send from ``batch``: only seqs after ``last_seq`` (no duplicates), stop at terminal.
    Returns the frames, the newest message sent (None if none) and whether it was terminal."""
    frames: list[bytes] = []
    newest: BusMessage | None = None
    for message in batch:
        if message.seq <= last_seq:
            continue
        frames.append(message.frame)
        newest = message
        if message.terminal:
            return frames, newest, True
    return frames, newest, False


def stalled_frame(last: BusMessage) -> bytes:
    """``event: stalled`` (no id, so it never disturbs resume): the job has been silent too long."""
    data = {"session_id": json.loads(last.payload)["session_id"], "seq": last.seq,
            "silent_s": round(last.silent_for_s(), 1), "reason": "no status from the worker"}
    return encode_event(json.dumps(data), event=EVENT_STALLED)


async def _request_complete(receive: Receive, timeout: float = 5.0) -> bool:
    """Consume the request body (a GET has none); False if the client disconnected meanwhile."""
    first: Message = await receive()  # uvicorn has the (empty) body of a GET already: no timer needed
    if first["type"] == "http.disconnect":
        return False
    if not first.get("more_body", False):
        return True
    try:
        async with asyncio.timeout(timeout):
            while True:
                message: Message = await receive()
                if message["type"] == "http.disconnect":
                    return False
                if not message.get("more_body", False):
                    return True
    except TimeoutError:
        return False
