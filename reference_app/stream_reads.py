"""What a stream needs from Redis to open: the session record, the snapshot and the replay — read once per
session, however many viewers open it at the same moment, behind an admission queue.

Why (issue 13): after a deploy every browser reconnects at once. Each open used to make three Redis round
trips of its own (session record, snapshot, replay) through the 16-connection command pool; at 10,000
reconnects the opens queued for the pool, and those waiting past its 5 s timeout were answered 503 although
Redis was healthy. Now:

* **Single flight.** Concurrent opens of one session share one read. A flight stays open for joiners until
  its read is *sent*; it reads the record, the snapshot and (if anyone resumes) the log after the smallest
  Last-Event-ID of its joiners, in one MULTI/EXEC round trip (``RedisBus.read_view``). Each joiner slices
  its own replay out of the shared one. Redis work is O(sessions), not O(viewers).
* **No gap.** A caller joins only after its subscription is confirmed, and a flight is joinable only before
  its read is sent — so every joiner's read happens after its subscription, as the lifecycle requires
  (subscribe first, read second).
* **Watched sessions are read once.** Opens of one session rarely overlap exactly: uvicorn serves them one
  after the other, so a flight alone still read Redis once per open in a storm (measured: 998 reads for
  1,000 reconnects). So each flight also registers a mailbox of its own on the session's channel *before*
  its read is sent, and keeps the view up to date from the live statuses (a ``Watch``). While anyone
  watches the session, later opens are answered from it without Redis: its snapshot is the newest status,
  its log every status since the read (contiguous seqs, nothing missed, since the mailbox was registered
  before the read). A subscriber reconnect (``RESYNC``) or a status out of sequence drops it; the last
  stream of the session to end closes it.
* **Admission, not refusal.** At most ``slots`` reads are in flight (fewer than the pool has connections, so
  opens never exhaust it); the rest wait in a bounded queue, each for at most ``deadline_s``. Only a full
  queue or a passed deadline refuses an open, with a reason and Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from reference_app.bus.mailbox import Mailbox
from reference_app.bus.message import BusMessage
from reference_app.bus.protocol import SessionRecord, StatusBus
from reference_app.bus.subscriber import BusUnavailable
from reference_app.metrics import Metrics

__all__ = ["OpenReads", "OpenRefused", "SessionView", "ViewReader", "Watch"]

log = logging.getLogger(__name__)
#: statuses a watch keeps (Redis keeps ``STATUS_STREAM_MAXLEN``, 1,000 by default): older resumes read Redis
WATCH_LOG_MAX = 1000

ViewTuple = tuple[SessionRecord | None, BusMessage | None, list[BusMessage]]


@runtime_checkable
class ViewReader(Protocol):
    """A bus that can read record, snapshot and replay in one round trip (``RedisBus``)."""

    async def read_view(self, session_id: str, after: int | None) -> ViewTuple: ...


@dataclass(frozen=True, slots=True)
class SessionView:
    """One read of a session, shared by every open that joined it (or answered from a watch)."""

    record: SessionRecord | None
    snapshot: BusMessage | None
    #: retained statuses after ``log_after``, oldest first (contiguous seqs when ``contiguous``)
    log: list[BusMessage]
    log_after: int | None
    log_end: int = -1
    contiguous: bool = False
    watch: Watch | None = field(default=None, repr=False)

    def after(self, seq: int) -> list[BusMessage]:
        """The replay for one joiner: retained statuses with seq > ``seq``, oldest first."""
        if self.log_after is None or seq < self.log_after:
            raise ValueError(f"this view holds the log after {self.log_after}, not after {seq}")
        end = len(self.log) if self.log_end < 0 else self.log_end
        if self.contiguous:
            return self.log[seq - self.log_after:end]
        if seq == self.log_after:
            return self.log[:end]
        return [m for m in self.log[:end] if m.seq > seq]


class Watch:
    """A session kept current from its own mailbox while streams of this process watch it."""

    __slots__ = ("covered_from", "listening", "log", "mailbox", "record", "refs", "session_id", "snapshot",
                 "task", "valid")

    def __init__(self, session_id: str, listening: AbstractAsyncContextManager[Mailbox], mailbox: Mailbox) -> None:
        self.session_id = session_id
        self.listening = listening
        self.mailbox = mailbox
        self.record: SessionRecord | None = None
        self.snapshot: BusMessage | None = None
        self.log: list[BusMessage] = []
        self.covered_from = 0  # the log holds every status with seq > covered_from
        self.refs = 0
        self.valid = False
        self.task: asyncio.Task[None] | None = None

    def start(self, view: SessionView) -> None:
        self.record, self.snapshot = view.record, view.snapshot
        base = view.after(view.log_after) if view.log_after is not None else []
        if base and all(b.seq == a.seq + 1 for a, b in itertools.pairwise(base)):
            self.log, self.covered_from = list(base), base[0].seq - 1
        else:
            self.log, self.covered_from = [], view.snapshot.seq if view.snapshot else 0
        self.valid = view.record is not None
        self.catch_up()

    def catch_up(self) -> None:
        """Apply what the mailbox received so far (synchronously: nothing delivered before now is missed)."""
        mailbox = self.mailbox
        if mailbox.resync or mailbox.closed or mailbox.coalesced:
            self.valid = False  # the subscriber reconnected (events may be missing), or it is stopping
            return
        for message in mailbox.drain():
            self._apply(message)

    def _apply(self, message: BusMessage) -> None:
        last = self.snapshot.seq if self.snapshot is not None else 0
        if message.seq <= last:
            return  # already in the read
        if message.seq != last + 1 or not self.valid:
            self.valid = False  # out of sequence: Redis lost data or a status was missed; read again
            return
        self.snapshot = message
        self.log.append(message)
        if len(self.log) > WATCH_LOG_MAX:
            self.log = self.log[-WATCH_LOG_MAX:]  # a new list: views handed out keep theirs
            self.covered_from = self.log[0].seq - 1

    def view(self) -> SessionView:
        return SessionView(self.record, self.snapshot, self.log, self.covered_from, len(self.log), True, self)

    def extend(self, view: SessionView) -> bool:
        """Take older statuses from a newer read (contiguous, reaching the log's start); False if it cannot."""
        self.catch_up()
        if not self.valid or view.log_after is None or view.log_after >= self.covered_from:
            return False
        older = view.after(view.log_after)
        if not older or older[0].seq != view.log_after + 1 or older[-1].seq < self.covered_from:
            return False
        if any(b.seq != a.seq + 1 for a, b in itertools.pairwise(older)):
            return False
        keep = older[: self.covered_from - older[0].seq + 1]
        self.log = (keep + self.log)[-WATCH_LOG_MAX:]  # a new list: views handed out keep theirs
        self.covered_from = self.log[0].seq - 1
        return True

    async def follow(self) -> None:
        """Keep the view current between opens, so the mailbox never fills up and coalesces."""
        while self.valid:
            item = await self.mailbox.get()
            if item is None or not isinstance(item, BusMessage):
                self.valid = False  # closed, or RESYNC after a subscriber reconnect
                return
            self._apply(item)
            if self.valid:
                self.catch_up()


class OpenRefused(Exception):
    """The open could not be admitted: ``reason`` is ``queue_full`` or ``deadline``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Flight:
    __slots__ = ("after", "future", "joiners")

    def __init__(self) -> None:
        self.after: int | None = None
        self.joiners = 0  # opens (admission) waiting for this flight
        self.future: asyncio.Future[SessionView] = asyncio.get_running_loop().create_future()
        # a flight whose every joiner gave up still completes: mark its outcome retrieved
        self.future.add_done_callback(lambda f: f.cancelled() or f.exception())


class OpenReads:
    def __init__(self, bus: StatusBus, metrics: Metrics, *, slots: int, queue_max: int, deadline_s: float) -> None:
        self.bus = bus
        self.metrics = metrics
        self.slots = max(1, slots)
        self.queue_max = queue_max
        self.deadline_s = deadline_s
        self._pending: dict[str, _Flight] = {}
        self._in_flight = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._watches: dict[str, Watch] = {}
        self._background: set[asyncio.Task[object]] = set()
        self.waiting = 0  # opens waiting for a view right now (the admission queue)
        self.reads = 0  # reads sent (flights), for tests and the benchmark
        self.watch_hits = 0  # opens answered from a watch, without Redis

    async def view(self, session_id: str, after: int | None, *, admission: bool = True) -> SessionView:
        """The session's record, snapshot and (if ``after`` is not None) replay after ``after``.

        Call only once the caller's subscription is confirmed. With ``admission`` (opens) a full queue or
        a passed deadline raises ``OpenRefused``; without (a live stream re-reading after a subscriber
        reconnect) it only shares the flight. Every view must be handed back with ``done``."""
        watch = self._watches.get(session_id)
        if watch is not None:
            watch.catch_up()
            if watch.valid and (after is None or after >= watch.covered_from):
                watch.refs += 1
                self.watch_hits += 1
                if admission:
                    self.metrics.opens_admitted.inc()
                return watch.view()
            if not watch.valid:
                self._unwatch(watch)
        if admission and self.waiting >= self.queue_max:
            raise OpenRefused("queue_full", f"too many stream opens waiting ({self.queue_max}); retry shortly")
        flight = self._pending.get(session_id)
        if flight is None:
            flight = self._pending[session_id] = _Flight()
            self._spawn(self._fly(session_id, flight))
        if after is not None and (flight.after is None or after < flight.after):
            flight.after = after
        if admission:
            flight.joiners += 1
        self.waiting += 1
        try:
            if admission:
                try:
                    async with asyncio.timeout(self.deadline_s):
                        view = await asyncio.shield(flight.future)
                except TimeoutError:
                    raise OpenRefused("deadline", f"stream open not admitted within {self.deadline_s:g}s; "
                                                  "retry shortly") from None
            else:
                view = await asyncio.shield(flight.future)
        finally:
            self.waiting -= 1
        if view.watch is not None:
            view.watch.refs += 1
        if admission:
            self.metrics.opens_admitted.inc()
        return view

    async def done(self, watch: Watch | None) -> None:
        """The caller is finished with the view it got (``view.watch``): its stream ended, or it answered
        without streaming. The last one closes the watch."""
        if watch is None:
            return
        watch.refs -= 1
        if watch.refs <= 0:
            await self._close_watch(watch)

    def _close_if_orphaned(self, watch: Watch) -> None:
        if watch.refs <= 0 and watch.task is not None:  # every joiner of its flight gave up
            self._spawn(self._close_watch(watch))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._background.discard)

    def _unwatch(self, watch: Watch) -> None:
        if self._watches.get(watch.session_id) is watch:
            del self._watches[watch.session_id]

    async def _close_watch(self, watch: Watch) -> None:
        self._unwatch(watch)
        watch.valid = False
        if watch.task is not None:
            watch.task.cancel()
            watch.task = None
            await watch.listening.__aexit__(None, None, None)

    async def _watch(self, session_id: str) -> Watch | None:
        """A mailbox of the read layer's own on the session's channel, registered before the read is sent."""
        listening = self.bus.listen(session_id, 4 * WATCH_LOG_MAX)
        try:
            mailbox = await listening.__aenter__()
        except BusUnavailable:
            return None
        return Watch(session_id, listening, mailbox)

    def _adopt(self, watch: Watch, view: SessionView) -> SessionView:
        loop = asyncio.get_running_loop()
        current = self._watches.get(watch.session_id)
        if current is not None and current.valid and current.extend(view):
            # this flight only read older statuses for resumes the watch did not cover: the watch now
            # covers them too (later resumes from there need no read), and stays the session's only one
            self._spawn(watch.listening.__aexit__(None, None, None))
            shared = current
        else:
            watch.start(view)
            watch.task = loop.create_task(watch.follow(), name=f"sse-watch-{watch.session_id}")
            if watch.valid and (current is None or not current.valid):
                self._watches[watch.session_id] = watch
            # joiners take their reference when they resume (two loop turns from now); one that gave up
            # meanwhile takes none, and if none is left the watch closes
            loop.call_later(1.0, self._close_if_orphaned, watch)
            shared = watch
        # the joiners get the flight's own view (their after may be older than the watch covers)
        return SessionView(view.record, view.snapshot, view.log, view.log_after, watch=shared)

    async def _fly(self, session_id: str, flight: _Flight) -> None:
        try:
            if await self._acquire_slot() and flight.joiners:
                self.metrics.opens_queued.inc(flight.joiners)  # they waited for a free read slot
            try:
                # from here on nobody may join: their subscription may postdate this read
                if self._pending.get(session_id) is flight:
                    del self._pending[session_id]
                self.reads += 1
                after = flight.after
                watch = await self._watch(session_id)
                try:
                    record, snapshot, log = await self._read(session_id, after)
                except BaseException:
                    if watch is not None:
                        await watch.listening.__aexit__(None, None, None)
                    raise
            finally:
                self._release_slot()
            view = SessionView(record, snapshot, log, after)
            flight.future.set_result(self._adopt(watch, view) if watch is not None else view)
        except asyncio.CancelledError:
            flight.future.cancel()
            raise
        except Exception as exc:  # every joiner gets the error (Redis down, pool saturated, ...)
            if not flight.future.done():
                flight.future.set_exception(exc)
        finally:
            if self._pending.get(session_id) is flight:
                del self._pending[session_id]

    async def _read(self, session_id: str, after: int | None) -> ViewTuple:
        bus = self.bus
        if isinstance(bus, ViewReader):
            self.metrics.redis_round_trips.labels("open_view").inc()
            return await bus.read_view(session_id, after)
        record = await bus.get_session(session_id)
        snapshot = await bus.snapshot(session_id)
        log = await bus.read_after(session_id, after) if after is not None else []
        return record, snapshot, log

    # A FIFO slot counter instead of asyncio.Semaphore: the queue length is observable and the order is
    # strict first-come-first-served (Semaphore lets a newcomer overtake woken waiters).
    async def _acquire_slot(self) -> bool:
        """Take a read slot; True if this had to wait for one."""
        if self._in_flight < self.slots and not self._waiters:
            self._in_flight += 1
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # it was handed a slot it will not use
            raise
        return True

    def _release_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next flight
                return
        self._in_flight -= 1
