"""The stream registry (the per-user cap through its lease store, shutdown) and the supervisor's decisions,
which each stream makes for itself on ``tick(now)``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from reference_app.auth import User
from reference_app.bus.mailbox import HEARTBEAT_DUE, Mailbox
from reference_app.bus.memory import MemoryBus
from reference_app.metrics import Metrics
from reference_app.settings import Settings
from reference_app.stream_leases import LocalLeases
from reference_app.stream_reads import OpenReads
from reference_app.stream_registry import StreamRegistry
from reference_app.streaming import StatusStream, StreamContext

pytestmark = pytest.mark.unit


@dataclass(eq=False)
class Fake:
    user: str
    lease_id: str
    ended: bool = False
    ticks: list[float] = field(default_factory=list)

    def tick(self, now: float) -> None:
        self.ticks.append(now)

    def end(self) -> None:
        self.ended = True


async def test_cap_is_per_user_and_released_leases_free_a_slot() -> None:
    registry = StreamRegistry(LocalLeases(2))
    a, b, c = (Fake("alice", registry.new_lease_id()) for _ in range(3))
    assert await registry.admit(a) and await registry.admit(b) and not await registry.admit(c)
    assert await registry.admit(Fake("bob", registry.new_lease_id()))
    registry.release(a)
    registry.release(a)  # twice is harmless: it must not free a second slot
    assert await registry.admit(c)
    assert not await registry.admit(Fake("alice", registry.new_lease_id()))
    assert registry.open_count("alice") == 2 and registry.opened_total["alice"] == 3
    registry.scan(7.0)
    assert b.ticks == [7.0] and c.ticks == [7.0] and a.ticks == []


def stream(heartbeat_s: float = 5, send_timeout_s: float = 3) -> StatusStream:
    settings = Settings(sse_heartbeat_s=heartbeat_s, sse_send_timeout_s=send_timeout_s)
    bus, metrics = MemoryBus(), Metrics()
    registry = StreamRegistry(LocalLeases(10))
    reads = OpenReads(bus, metrics, slots=2, queue_max=10, deadline_s=1)
    made = StatusStream(StreamContext(bus, reads, registry, settings, metrics), User("u"), "s", None)
    made._mailbox = Mailbox("s", 4)
    made._last_write = 100.0
    return made


async def test_tick_requests_heartbeats_closes_at_deadline_and_cancels_stuck_writes() -> None:
    idle, fresh, expired, stuck = stream(), stream(), stream(), stream()
    fresh._last_write = 109.5
    expired._deadline = 105.0
    stuck._send_started = 100.0
    stuck._task = asyncio.ensure_future(asyncio.sleep(10))

    for each in (idle, fresh, expired, stuck):
        each.tick(110.0)

    assert idle._mailbox is not None and await idle._mailbox.get() is HEARTBEAT_DUE
    assert fresh._mailbox is not None and not fresh._mailbox.heartbeat_due
    assert expired._mailbox is not None and expired._mailbox.closed
    assert stuck._slow and stuck._task.cancelling() == 1
    assert stuck._mailbox is not None and not stuck._mailbox.heartbeat_due  # nothing queued behind the write
    await asyncio.sleep(0)
    assert stuck._task.cancelled()


async def test_a_real_write_supersedes_a_pending_heartbeat() -> None:
    from tests.unit.test_mailbox import msg

    box = Mailbox("s", 4)
    box.request_heartbeat()
    box.put(msg(1))
    got = await box.get()
    assert got is not HEARTBEAT_DUE and not box.heartbeat_due


async def test_shutdown_ends_every_open_stream_and_refuses_new_ones() -> None:
    registry = StreamRegistry(LocalLeases(10))
    open_one = Fake("u", registry.new_lease_id())
    assert await registry.admit(open_one)
    assert registry.begin_shutdown() == 1
    assert open_one.ended
    assert not await registry.admit(Fake("u", registry.new_lease_id()))
