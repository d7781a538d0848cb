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
* **Admission, not refusal.** At most ``slots`` reads are in flight (fewer than the pool has connections, so
  opens never exhaust it); the rest wait in a bounded queue, each for at most ``deadline_s``. Only a full
  queue or a passed deadline refuses an open, with a reason and Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from reference_app.bus.base import BusMessage, SessionRecord, StatusBus
from reference_app.metrics import Metrics

__all__ = ["OpenReads", "OpenRefused", "SessionView", "ViewReader"]

ViewTuple = tuple[SessionRecord | None, BusMessage | None, list[BusMessage]]


@runtime_checkable
class ViewReader(Protocol):
    """A bus that can read record, snapshot and replay in one round trip (``RedisBus``)."""

    async def read_view(self, session_id: str, after: int | None) -> ViewTuple: ...


@dataclass(frozen=True, slots=True)
class SessionView:
    """One read of a session, shared by every open that joined it."""

    record: SessionRecord | None
    snapshot: BusMessage | None
    #: retained statuses after the smallest Last-Event-ID of the joiners (empty if nobody resumed)
    log: list[BusMessage]
    log_after: int | None

    def after(self, seq: int) -> list[BusMessage]:
        """The replay for one joiner: retained statuses with seq > ``seq``, oldest first."""
        if self.log_after is None or seq < self.log_after:
            raise ValueError(f"this view holds the log after {self.log_after}, not after {seq}")
        if seq == self.log_after:
            return self.log
        return [m for m in self.log if m.seq > seq]


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
        self.waiting = 0  # opens waiting for a view right now (the admission queue)
        self.reads = 0  # reads sent (flights), for tests and the benchmark

    async def view(self, session_id: str, after: int | None, *, admission: bool = True) -> SessionView:
        """The session's record, snapshot and (if ``after`` is not None) replay after ``after``.

        Call only once the caller's subscription is confirmed. With ``admission`` (opens) a full queue or
        a passed deadline raises ``OpenRefused``; without (a live stream re-reading after a subscriber
        reconnect) it only shares the flight."""
        if admission and self.waiting >= self.queue_max:
            raise OpenRefused("queue_full", f"too many stream opens waiting ({self.queue_max}); retry shortly")
        flight = self._pending.get(session_id)
        if flight is None:
            flight = self._pending[session_id] = _Flight()
            asyncio.get_running_loop().create_task(self._fly(session_id, flight))
        if after is not None and (flight.after is None or after < flight.after):
            flight.after = after
        if admission:
            flight.joiners += 1
        self.waiting += 1
        try:
            if not admission:
                return await asyncio.shield(flight.future)
            try:
                async with asyncio.timeout(self.deadline_s):
                    view = await asyncio.shield(flight.future)
            except TimeoutError:
                raise OpenRefused("deadline", f"stream open not admitted within {self.deadline_s:g}s; "
                                              "retry shortly") from None
        finally:
            self.waiting -= 1
        self.metrics.opens_admitted.inc()
        return view

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
                record, snapshot, log = await self._read(session_id, after)
            finally:
                self._release_slot()
            flight.future.set_result(SessionView(record, snapshot, log, after))
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
