"""Which streams this process has open: the per-user cap (through a ``LeaseStore``), the per-process stream
supervisor, shutdown.

The registry knows streams only through the ``Supervised`` interface: it never reads or writes a stream's
fields. Each stream keeps its own timers and decides on ``tick(now)`` whether a heartbeat is due, its deadline
passed or a write has been stuck too long; ``end()`` closes it for a shutdown.

Why one supervisor instead of timers per stream: a 10,000-stream fan-out then costs no timer object per
delivery (measured: two ``asyncio.timeout`` calls per delivery were 31 % of the API's CPU). Heartbeats and
deadlines are therefore precise to one tick (at most 1 s, a quarter of the heartbeat). The same task
refreshes the expiry of this process's cap leases (every ``lease_ttl_s / 3``) when they live in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from time import monotonic
from typing import Protocol

from redis.exceptions import RedisError

from reference_app.stream_leases import LeaseStore, LocalLeases

__all__ = ["StreamRegistry", "Supervised"]

log = logging.getLogger(__name__)


class Supervised(Protocol):
    """What the registry needs of an open stream."""

    @property
    def user(self) -> str: ...

    @property
    def lease_id(self) -> str: ...

    def tick(self, now: float) -> None:
        """Called every supervisor tick: send a heartbeat, end at the deadline, cut a stuck write."""
        ...

    def end(self) -> None:
        """End the stream soon and cleanly (shutdown)."""
        ...


def _default_leases() -> LeaseStore:
    return LocalLeases(20)


@dataclass
class StreamRegistry:
    leases: LeaseStore = field(default_factory=_default_leases)
    tick_s: float = 1.0
    refresh_s: float = 10.0
    _open: dict[str, set[Supervised]] = field(default_factory=dict)
    opened_total: Counter[str] = field(default_factory=Counter)
    shutting_down: bool = False
    _supervisor: asyncio.Task[None] | None = None
    #: this process's place (``SSE_INSTANCE_ID``); lease ids are ``<owner>|<boot>:<n>``, unique across
    #: processes and restarts, and a successor in the same place reclaims ``<owner>|*`` at start-up
    owner: str = field(default_factory=lambda: f"pid{os.getpid()}")
    _boot: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def cap_per_user(self) -> int:
        return self.leases.cap

    def new_lease_id(self) -> str:
        return f"{self.owner}|{self._boot}:{next(self._ids)}"

    async def start(self) -> None:
        """Free the leases a crashed predecessor in the same place left (see ``stream_leases``)."""
        try:
            await self.leases.reclaim()
        except RedisError as exc:  # they expire by themselves
            log.warning("could not reclaim stream leases (%s)", type(exc).__name__)

    async def admit(self, stream: Supervised) -> bool:
        """Take one of the user's slots for ``stream``; False at the cap or while shutting down."""
        if self.shutting_down:
            return False
        if not await self.leases.acquire(stream.user, stream.lease_id):
            return False
        if self.shutting_down:  # began while we waited for Redis
            self.leases.release(stream.user, stream.lease_id)
            return False
        self._open.setdefault(stream.user, set()).add(stream)
        self.opened_total[stream.user] += 1
        return True

    def release(self, stream: Supervised) -> None:
        streams = self._open.get(stream.user)
        if streams is None or stream not in streams:
            return
        streams.discard(stream)
        if not streams:
            del self._open[stream.user]
        self.leases.release(stream.user, stream.lease_id)

    def open_count(self, user: str | None = None) -> int:
        if user is not None:
            return len(self._open.get(user, ()))
        return sum(len(v) for v in self._open.values())

    def begin_shutdown(self) -> int:
        """Refuse new streams and end every open one; returns how many were open."""
        self.shutting_down = True
        count = 0
        for streams in list(self._open.values()):
            for stream in list(streams):
                stream.end()
                count += 1
        return count

    # -- the supervisor ---------------------------------------------------------------------------------

    def supervise(self) -> None:
        """Make sure the supervisor runs (started by the first stream, ends when none is left)."""
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise(),
                                                                       name="sse-stream-supervisor")

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self.leases.flush()

    async def _supervise(self) -> None:
        next_refresh = monotonic() + self.refresh_s
        while self._open:
            await asyncio.sleep(self.tick_s)
            now = monotonic()
            try:
                self.scan(now)
            except Exception:  # never let one bad stream stop heartbeats for everyone
                log.exception("stream supervisor scan failed")
            if now >= next_refresh:
                next_refresh = now + self.refresh_s
                try:
                    await self.leases.refresh({user: [s.lease_id for s in streams]
                                               for user, streams in self._open.items()})
                except RedisError as exc:  # retried next round; leases last lease_ttl_s = 3 rounds
                    log.warning("could not refresh stream leases (%s)", type(exc).__name__)

    def scan(self, now: float) -> None:
        for streams in list(self._open.values()):
            for stream in list(streams):
                stream.tick(now)
