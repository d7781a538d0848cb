"""Stream lifecycle at the raw ASGI level: heartbeats, terminal close, disconnect, slow clients,
resync after a subscriber reconnect, shutdown and the connection deadline."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from reference_app.bus.memory import MemoryBus
from sse_contract.status import StatusChange
from sse_contract.wire import Comment
from tests.asgi.harness import StreamCall, auth_header, make_app

pytestmark = pytest.mark.asgi


async def open_stream(bus: MemoryBus | None = None, headers: list[tuple[bytes, bytes]] | None = None,
                      query: bytes = b"", **overrides: Any) -> tuple[StreamCall, MemoryBus, str]:
    app, bus, settings = make_app(bus, **overrides)
    record = await bus.create_session("alice", "t")
    call = StreamCall(app, f"/api/v1/sessions/{record.id}/status/stream",
                      [auth_header(settings, "alice"), *(headers or [])], query).start()
    return call, bus, record.id


async def test_retry_then_snapshot_then_live_events_then_close_on_terminal() -> None:
    call, bus, sid = await open_stream(sse_retry_ms=1234)
    assert await call.status() == 200
    first = await call.next_body()
    assert first["body"].startswith(b"retry: 1234\n\nid: 1\nevent: status\ndata: {")
    await bus.publish(sid, StatusChange("processing", 50, "half"))
    await bus.publish(sid, StatusChange("completed", 100, "done"))
    events = await call.events_until(lambda e: False)
    assert [(e.id, json.loads(e.data)["status"]) for e in events] == [
        ("1", "pending"), ("2", "processing"), ("3", "completed")]
    await call.finished()
    assert call.sent.empty() or (await call.sent.get())["more_body"] is False


async def test_heartbeat_comment_while_idle() -> None:
    call, _bus, _sid = await open_stream(sse_heartbeat_s=0.05)
    await call.status()
    await call.next_body()
    beat = await call.next_body(timeout=1)
    assert beat["body"] == b": ping\n\n"
    from sse_contract.wire import SSEDecoder

    assert SSEDecoder().feed(beat["body"]) == [Comment("ping")]
    call.disconnected.set()
    await call.finished()


async def test_disconnect_is_noticed_and_subscription_released() -> None:
    call, bus, _sid = await open_stream(sse_heartbeat_s=30)
    await call.status()
    await call.next_body()
    # the stream's mailbox, and the read layer's watch that keeps the session's view current
    assert bus.subscriber_stats()["listeners"] == 2
    call.disconnected.set()
    await call.finished(timeout=1)  # well before the 30 s heartbeat would have noticed
    assert bus.subscriber_stats() == {"channels": 0, "listeners": 0, "reconnects": 0, "connected": 1}
    assert call.app.state.streams.open_count() == 0


async def test_slow_client_is_disconnected_after_send_timeout_and_progress_coalesces() -> None:
    call, bus, sid = await open_stream(sse_send_timeout_s=0.2, sse_client_queue=4)
    await call.status()
    await call.next_body()
    call.send_gate = asyncio.Event()  # the client stops reading
    started = time.monotonic()
    for p in range(1, 40):
        await bus.publish(sid, StatusChange("processing", p))
        await asyncio.sleep(0)
    await call.finished(timeout=2)
    assert 0.2 <= time.monotonic() - started < 1.5
    metrics = call.app.state.metrics
    assert metrics.slow_clients_disconnected._value.get() == 1
    assert metrics.events_coalesced._value.get() > 0
    assert bus.subscriber_stats()["listeners"] == 0


async def test_slow_reader_gets_coalesced_progress_but_always_the_terminal() -> None:
    call, bus, sid = await open_stream(sse_send_timeout_s=5, sse_client_queue=4)
    await call.status()
    await call.next_body()
    gate = asyncio.Event()
    call.send_gate = gate
    await bus.publish(sid, StatusChange("processing", 1))  # the stream's writer blocks on this one
    await asyncio.sleep(0.05)
    for p in range(2, 60):
        await bus.publish(sid, StatusChange("processing", p))
    await bus.publish(sid, StatusChange("completed", 100))
    gate.set()
    events = await call.events_until(lambda e: False)
    seqs = [int(e.id) for e in events]
    assert seqs == sorted(set(seqs))  # in order, no duplicates
    assert len(seqs) < 50  # coalesced
    assert json.loads(events[-1].data)["status"] == "completed" and seqs[-1] == 61
    assert call.app.state.metrics.events_coalesced._value.get() > 0


class LossyBus(MemoryBus):
    """Loses live fan-out while ``down`` (as pub/sub does while its connection is down)."""

    down = False

    async def publish(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        if not self.down:
            return await super().publish(*args, **kwargs)
        listeners, self._listeners = self._listeners, {}
        try:
            return await super().publish(*args, **kwargs)
        finally:
            self._listeners = listeners


async def test_after_subscriber_reconnect_missed_events_are_read_from_the_log() -> None:
    bus = LossyBus()
    call, bus, sid = await open_stream(bus)
    await call.status()
    await call.next_body()
    bus.down = True
    await bus.publish(sid, StatusChange("processing", 10))
    await bus.publish(sid, StatusChange("processing", 20))
    bus.down = False
    bus.simulate_reconnect()
    await bus.publish(sid, StatusChange("completed", 100))
    events = await call.events_until(lambda e: False)
    assert [e.id for e in events] == ["1", "2", "3", "4"]
    assert call.app.state.metrics.events_replayed._value.get() >= 2


async def test_shutdown_ends_open_streams() -> None:
    call, _bus, _sid = await open_stream(sse_heartbeat_s=30)
    await call.status()
    await call.next_body()
    assert call.app.state.streams.begin_shutdown() == 1
    await call.finished(timeout=1)


async def test_connection_deadline_is_jittered_80_to_100_percent() -> None:
    call, _bus, _sid = await open_stream(sse_connection_timeout=0.5, sse_heartbeat_s=0.05)
    started = time.monotonic()
    await call.status()
    await call.events_until(lambda e: False, timeout=2)
    await call.finished()
    assert 0.4 <= time.monotonic() - started < 0.9


async def test_id_from_the_future_of_a_running_job_gets_reset_and_snapshot() -> None:
    # e.g. Redis lost its data (no AOF) and seqs started again: the client's id is past the end
    call, bus, sid = await open_stream(headers=[(b"last-event-id", b"50")])
    await bus.publish(sid, StatusChange("processing", 5))
    assert await call.status() == 200
    events = await call.events_until(lambda e: len(e) >= 2)
    assert [e.event for e in events[:2]] == ["reset", "status"]
    assert json.loads(events[0].data)["requested"] == 50
    call.disconnected.set()
    await call.finished()


async def test_a_silent_processing_job_is_reported_stalled_once() -> None:
    call, bus, sid = await open_stream(sse_heartbeat_s=0.05, status_stall_after_s=0.2)
    await bus.publish(sid, StatusChange("processing", 10, "working"))
    await call.status()
    events = await call.events_until(lambda e: any(x.event == "stalled" for x in e), timeout=3)
    stalled = [e for e in events if e.event == "stalled"]
    assert len(stalled) == 1 and stalled[0].id == "2"  # no id of its own: the last status id carries over
    assert json.loads(stalled[0].data)["seq"] == 2 and json.loads(stalled[0].data)["silent_s"] >= 0.2
    await bus.publish(sid, StatusChange("completed", 100, "done"))  # the job comes back: normal events resume
    events = await call.events_until(lambda e: False)
    assert [e.event for e in events][-1] == "status" and json.loads(events[-1].data)["status"] == "completed"
    assert sum(e.event == "stalled" for e in events) == 1
