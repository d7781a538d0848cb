"""The per-process stream registry: the atomic per-user cap and the supervisor's scan decisions."""

from __future__ import annotations

import asyncio

import pytest

from reference_app.bus.mailbox import HEARTBEAT_DUE, Mailbox
from reference_app.stream_registry import StreamRegistry

pytestmark = pytest.mark.unit


def test_cap_is_per_user_and_released_leases_free_a_slot() -> None:
    registry = StreamRegistry(cap_per_user=2)
    a, b = registry.acquire("alice", "s"), registry.acquire("alice", "s")
    assert a and b and registry.acquire("alice", "s") is None
    assert registry.acquire("bob", "s") is not None
    registry.release(a)
    assert registry.acquire("alice", "s") is not None
    assert registry.open_count("alice") == 2 and registry.opened_total["alice"] == 3


async def test_scan_requests_heartbeats_closes_at_deadline_and_cancels_stuck_writes() -> None:
    registry = StreamRegistry(cap_per_user=10)
    idle, fresh, expired, stuck = (registry.acquire("u", "s") for _ in range(4))
    for lease in (idle, fresh, expired, stuck):
        assert lease is not None
        lease.mailbox = Mailbox("s", 4)
        lease.last_write = 100.0
    assert idle and fresh and expired and stuck
    assert stuck.mailbox is not None and idle.mailbox is not None
    fresh.last_write = 109.5
    expired.deadline = 105.0
    stuck.send_started = 100.0
    stuck.task = asyncio.ensure_future(asyncio.sleep(10))

    registry.scan(now=110.0, heartbeat_s=5, send_timeout_s=3)

    assert await idle.mailbox.get() is HEARTBEAT_DUE
    assert fresh.mailbox is not None and not fresh.mailbox.heartbeat_due
    assert expired.mailbox is not None and expired.mailbox.closed
    assert stuck.slow and stuck.task.cancelling() == 1
    assert not stuck.mailbox.heartbeat_due  # a stuck stream gets no heartbeat queued behind its write
    await asyncio.sleep(0)
    assert stuck.task.cancelled()


async def test_a_real_write_supersedes_a_pending_heartbeat() -> None:
    from tests.unit.test_mailbox import msg

    box = Mailbox("s", 4)
    box.request_heartbeat()
    box.put(msg(1))
    got = await box.get()
    assert got is not HEARTBEAT_DUE and not box.heartbeat_due


async def test_shutdown_closes_every_open_mailbox_and_refuses_new_streams() -> None:
    registry = StreamRegistry(cap_per_user=10)
    lease = registry.acquire("u", "s")
    assert lease is not None
    lease.mailbox = Mailbox("s", 4)
    assert registry.begin_shutdown() == 1
    assert lease.mailbox.closed
    assert registry.acquire("u", "s") is None
