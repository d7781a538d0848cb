"""The SSE status stream as a lean ASGI response: the stream lifecycle lives here.

Why not StreamingResponse or sse-starlette: both run a task group per response (stream, ping, disconnect
watcher). Measured in the repo (scripts/bench_idle_streams.py, 2,000 idle streams, no Redis; docs/
performance.md), an idle stream costs 24.0 KB with StreamingResponse and 41.6 KB with sse-starlette, against
15.1 KB for the whole app on this design (8.0 KB for its bare loop): the request's own task loops
``mailbox.get()`` -> ``send``; one small task watches ``receive()`` for the disconnect and closes the
mailbox, which wakes the loop. Heartbeats, the connection deadline and the send timeout are not timers per
stream: one supervisor task per process (``StreamRegistry.supervise``) scans the open streams a few times a
second. See docs/architecture.md for the flow.

Lifecycle of one stream:
1. register a mailbox on the shared subscriber and wait until Redis confirmed the subscription;
2. send headers, ``retry:``, then either the snapshot (fresh connect) or the replay after Last-Event-ID
   (or ``event: reset`` + snapshot when that id is no longer retained);
3. loop: live events (dropping any seq already sent, re-reading the log after a subscriber reconnect),
   ``: ping`` when idle, until a terminal status, the connection deadline, disconnect or shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from time import monotonic

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from reference_app.bus.mailbox import HEARTBEAT_DUE, RESYNC, Mailbox
from reference_app.bus.message import BusMessage
from reference_app.bus.protocol import StatusBus
from reference_app.bus.subscriber import BusUnavailable
from reference_app.metrics import Metrics
from reference_app.settings import Settings
from reference_app.stream_registry import StreamLease, StreamRegistry
from sse_contract.constants import EVENT_RESET, EVENT_STALLED, STREAM_HEADERS
from sse_contract.wire import encode_comment, encode_event, encode_retry

log = logging.getLogger(__name__)

SSE_HEADERS = list(STREAM_HEADERS)
HEARTBEAT = encode_comment("ping") + b"\n"


class StatusStream(Response):
    """The response for one accepted stream request (auth, ownership and cap already checked).

    A ``Response`` subclass so FastAPI passes it through untouched; like ``StreamingResponse`` it sets no
    ``body``, so no Content-Length is ever added.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        bus: StatusBus,
        session_id: str,
        last_event_id: int | None,
        lease: StreamLease,
        registry: StreamRegistry,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.bus = bus
        self.session_id = session_id
        self.last_event_id = last_event_id
        self.lease = lease
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.status_code = 200
        self.background = None
        self.raw_headers = list(SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._run(receive, send)
        finally:
            self.registry.release(self.lease)

    async def _run(self, receive: Receive, send: Send) -> None:
        if not await _request_complete(receive):
            return  # the client left before the stream started
        try:
            listening = self.bus.listen(self.session_id, self.settings.sse_client_queue)
            mailbox = await listening.__aenter__()
        except BusUnavailable:
            self.metrics.streams_rejected.labels("redis_unavailable").inc()
            await _plain(send, 503, {"detail": "status bus unavailable, retry shortly"}, retry_after=2)
            return
        self.lease.mailbox = mailbox
        self.lease.task = asyncio.current_task()
        self.lease.deadline = self.lease.last_write + self.settings.sse_connection_timeout * random.uniform(0.8, 1)
        if self.registry.shutting_down:
            mailbox.close()
        # After the request body, the next ASGI message can only be http.disconnect: one small task
        # waits for it and closes the mailbox, which wakes the stream loop at once.
        watcher = asyncio.ensure_future(receive())
        watcher.add_done_callback(mailbox.close)
        self.metrics.active_streams.inc()
        self.metrics.streams_opened.inc()
        try:
            await self._stream(send, mailbox)
        except asyncio.CancelledError:
            if not self.lease.slow:
                raise
            # the supervisor cancelled a write that blocked past SSE_SEND_TIMEOUT_S: end this stream only
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            self.metrics.slow_clients_disconnected.inc()
            log.info("stream for %s ended: client did not read within %ss", self.session_id,
                     self.settings.sse_send_timeout_s)
        finally:
            self.metrics.events_coalesced.inc(mailbox.coalesced)
            self.metrics.active_streams.dec()
            watcher.cancel()
            await listening.__aexit__(None, None, None)

    async def _send(self, send: Send, body: bytes, more: bool = True) -> None:
        # No timeout object per write (that was 31 % of the API's CPU in a 10,000-stream fan-out): the
        # registry's supervisor sees ``send_started`` and cancels a write stuck past the send timeout.
        lease = self.lease
        lease.send_started = monotonic()
        try:
            await send({"type": "http.response.body", "body": body, "more_body": more})
        finally:
            lease.send_started = None
            lease.last_write = monotonic()

    async def _stream(self, send: Send, mailbox: Mailbox) -> None:
        settings = self.settings
        self.registry.supervise(settings)

        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        first, last, done = await self._opening(settings.sse_retry_ms)
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
                self.metrics.heartbeats_sent.inc()
                continue
            if item is None:
                break
            if item is RESYNC:
                batch = await self.bus.read_after(self.session_id, max(0, last_seq - 1))
                if last is not None and (not batch or batch[0].payload != last.payload):
                    # The log no longer holds what this client saw: Redis came back without its data
                    # (no persistence). Say so and start over from whatever the log holds now.
                    trimmed = bool(batch) and batch[0].seq > last_seq  # too far behind a capped log
                    reset, last = await self._log_lost(last_seq, trimmed)
                    last_seq, done, stall_reported = (last.seq, last.terminal, False) if last else (0, False, False)
                    await self._send(send, reset)
                    continue
                self.metrics.events_replayed.inc(len(batch))
            else:
                assert isinstance(item, BusMessage)
                batch = [item, *mailbox.drain()]
            frames, newest, done = _take(batch, last_seq)
            if frames:
                assert newest is not None
                last, last_seq, stall_reported = newest, newest.seq, False
                self.metrics.events_sent.inc(len(frames))
                await self._send(send, b"".join(frames))
        await self._send(send, b"", more=False)

    async def _log_lost(self, last_seq: int, trimmed: bool) -> tuple[bytes, BusMessage | None]:
        """``event: reset`` plus the current snapshot, if the log has one yet."""
        snapshot = await self.bus.snapshot(self.session_id)
        reason = "last_event_id_not_retained" if trimmed else "log_lost"
        reset = encode_event(json.dumps({"reason": reason, "last_sent": last_seq,
                                         "latest": snapshot.seq if snapshot else 0}), event=EVENT_RESET)
        self.metrics.events_sent.inc(1 + (snapshot is not None))
        return reset + (snapshot.frame if snapshot else b""), snapshot

    async def _opening(self, retry_ms: int) -> tuple[bytes, BusMessage | None, bool]:
        """The first write: retry, then the snapshot or the replay.
        Returns (bytes, the newest status the client now has if this write gave it one, finished)."""
        head = encode_retry(retry_ms)
        snapshot = await self.bus.snapshot(self.session_id)
        if snapshot is None:  # a session whose log expired: nothing to say but the end
            return head, None, True
        after = self.last_event_id
        if after is None:
            self.metrics.events_sent.inc()
            return head + snapshot.frame, snapshot, snapshot.terminal
        backlog = await self.bus.read_after(self.session_id, after)
        retained_from = backlog[0].seq if backlog else snapshot.seq + 1
        if after > snapshot.seq or retained_from > after + 1:
            reset = encode_event(
                json.dumps({"reason": "last_event_id_not_retained", "requested": after,
                            "oldest_retained": retained_from if backlog else snapshot.seq,
                            "latest": snapshot.seq}),
                event=EVENT_RESET,
            )
            self.metrics.events_sent.inc()
            return head + reset + snapshot.frame, snapshot, snapshot.terminal
        frames, newest, done = _take(backlog, after)
        self.metrics.events_replayed.inc(len(frames))
        self.metrics.events_sent.inc(len(frames))
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


async def _plain(send: Send, status: int, body: dict[str, object], retry_after: int | None = None) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})

