"""The per-client mailbox: never blocks the shared subscriber, coalesces for slow clients, keeps terminals."""

from __future__ import annotations

import asyncio
import json

import pytest

from reference_app.bus.mailbox import RESYNC, Mailbox
from reference_app.bus.message import BusMessage

pytestmark = pytest.mark.unit


def msg(seq: int, status: str = "processing") -> BusMessage:
    return BusMessage(seq, status, json.dumps({"seq": seq, "status": status}), published_at=0.0)


async def test_get_returns_messages_in_order() -> None:
    box = Mailbox("s", capacity=8)
    for seq in (1, 2, 3):
        box.put(msg(seq))
    assert [(await box.get()).seq for _ in range(3)] == [1, 2, 3]  # type: ignore[union-attr]


async def test_get_waits_for_a_put() -> None:
    box = Mailbox("s", capacity=8)
    waiter = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    box.put(msg(1))
    async with asyncio.timeout(1):
        got = await waiter
    assert isinstance(got, BusMessage) and got.seq == 1


async def test_full_mailbox_coalesces_progress_latest_wins() -> None:
    box = Mailbox("s", capacity=4)
    for seq in range(1, 11):
        box.put(msg(seq))
    drained = box.drain()
    # every overflow collapsed the queued progress into the newest: the client jumps ahead, never back
    assert [m.seq for m in drained] == sorted(m.seq for m in drained)
    assert drained[-1].seq == 10
    assert len(drained) <= 4
    assert box.coalesced == 10 - len(drained)


async def test_terminal_is_never_dropped() -> None:
    box = Mailbox("s", capacity=2)
    box.put(msg(1))
    box.put(msg(2))
    box.put(msg(3, "completed"))  # over capacity, but terminal: kept
    assert [m.seq for m in box.drain()] == [1, 2, 3]


async def test_resync_marker_comes_first_and_close_ends() -> None:
    box = Mailbox("s", capacity=4)
    box.put(msg(1))
    box.request_resync()
    assert await box.get() is RESYNC
    assert isinstance(await box.get(), BusMessage)
    box.close()
    assert await box.get() is None
    box.put(msg(2))  # ignored once closed
    assert len(box) == 0


async def test_close_wakes_a_waiting_reader() -> None:
    box = Mailbox("s", capacity=4)
    waiter = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.close()
    async with asyncio.timeout(1):
        assert await waiter is None


def test_frame_is_encoded_once_and_shared() -> None:
    m = msg(5)
    assert m.frame is m.frame
    assert m.frame.startswith(b"id: 5\nevent: status\ndata: ")
