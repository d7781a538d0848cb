"""Who has which streams open: the per-user cap, the per-process stream supervisor, shutdown.

The cap is checked and taken in one synchronous step (no ``await`` in between), so concurrent opens in
one process can never overshoot it. The registry is per API process: with N processes behind a load
balancer a user can hold up to N x cap streams (see docs/contract.md).

The supervisor replaces three timers per stream (heartbeat wait, send timeout, connection deadline) by one
task per process that scans the open streams every ``tick``: a 10,000-stream fan-out then costs no timer
object per delivery (measured: the two ``asyncio.timeout`` calls per delivery were 31 % of the API's CPU).
Heartbeats and deadlines are therefore precise to one tick (at most 1 s, a quarter of the heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter
from dataclasses import dataclass, field
from time import monotonic

from reference_app.bus.mailbox import Mailbox
from reference_app.settings import Settings

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class StreamLease:
    user: str
    session_id: str
    id: int
    mailbox: Mailbox | None = None
    task: asyncio.Task[object] | None = None
    #: monotonic time of the last completed write (heartbeats are due ``heartbeat_s`` after it)
    last_write: float = field(default_factory=monotonic)
    #: monotonic time a write started that has not completed yet, else None
    send_started: float | None = None
    deadline: float = float("inf")
    #: set by the supervisor before it cancels a stream stuck in a write
    slow: bool = False


@dataclass
class StreamRegistry:
    cap_per_user: int
    _open: dict[str, set[StreamLease]] = field(default_factory=dict)
    opened_total: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    shutting_down: bool = False
    _supervisor: asyncio.Task[None] | None = None

    def acquire(self, user: str, session_id: str) -> StreamLease | None:
        leases = self._open.setdefault(user, set())
        if len(leases) >= self.cap_per_user or self.shutting_down:
            if not leases:
                del self._open[user]
            return None
        lease = StreamLease(user, session_id, next(self._ids))
        leases.add(lease)
        self.opened_total[user] += 1
        return lease

    def release(self, lease: StreamLease) -> None:
        leases = self._open.get(lease.user)
        if leases is not None:
            leases.discard(lease)
            if not leases:
                del self._open[lease.user]

    def open_count(self, user: str | None = None) -> int:
        if user is not None:
            return len(self._open.get(user, ()))
        return sum(len(v) for v in self._open.values())

    def begin_shutdown(self) -> int:
        """Refuse new streams and wake every open one so it ends; returns how many were open."""
        self.shutting_down = True
        count = 0
        for leases in self._open.values():
            for lease in leases:
                if lease.mailbox is not None:
                    lease.mailbox.close()
                count += 1
        return count

    # -- the supervisor ---------------------------------------------------------------------------------

    def supervise(self, settings: Settings) -> None:
        """Make sure the supervisor runs (started by the first stream, ends when none is left)."""
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(settings), name="sse-stream-supervisor"
            )

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    async def _supervise(self, settings: Settings) -> None:
        heartbeat, send_timeout = settings.sse_heartbeat_s, settings.sse_send_timeout_s
        tick = max(0.02, min(1.0, heartbeat / 4, send_timeout / 4))
        while self._open:
            await asyncio.sleep(tick)
            try:
                self.scan(monotonic(), heartbeat, send_timeout)
            except Exception:  # never let one bad lease stop heartbeats for everyone
                log.exception("stream supervisor scan failed")

    def scan(self, now: float, heartbeat_s: float, send_timeout_s: float) -> None:
        for leases in list(self._open.values()):
            for lease in list(leases):
                mailbox = lease.mailbox
                if mailbox is None or mailbox.closed:
                    continue
                if lease.send_started is not None:
                    if now - lease.send_started >= send_timeout_s and not lease.slow and lease.task is not None:
                        lease.slow = True
                        lease.task.cancel()
                    continue
                if now >= lease.deadline:
                    mailbox.close()
                elif now - lease.last_write >= heartbeat_s:
                    mailbox.request_heartbeat()
