"""Regression tests for bugs the fault suite found, at the raw ASGI level (fast, no sockets); the real-stack
reproductions are in tests/faults/test_redis_restart.py and tests/faults/test_slow_client.py."""

from __future__ import annotations

import json

import pytest

from sse_contract.status import StatusChange
from tests.asgi.harness import StreamCall, auth_header, make_app

pytestmark = pytest.mark.asgi


@pytest.mark.parametrize("published_before_resync", [0, 2, 7])
async def test_live_stream_after_redis_lost_its_data_says_reset_and_reaches_the_end(
    published_before_resync: int,
) -> None:
    """Bug: after a Redis restart without persistence the seq counter starts again at 1. A live stream
    re-read the log after its last seq (5), found nothing newer, and then dropped every new status with
    seq <= 5 as a "duplicate": the client silently skipped statuses, and a job ending before seq 6 left it
    waiting forever. Now the stream notices that the log no longer holds what it sent and sends
    ``event: reset`` (reason ``log_lost``) with the current snapshot, then continues."""
    app, bus, settings = make_app()
    record = await bus.create_session("alice", "t")
    sid = record.id
    call = StreamCall(app, f"/api/v1/sessions/{sid}/status/stream", [auth_header(settings, "alice")]).start()
    assert await call.status() == 200
    for p in (10, 20, 30, 40):
        await bus.publish(sid, StatusChange("processing", p))
    before = list(await call.events_until(lambda events: events and events[-1].id == "5"))
    bus.simulate_data_loss()
    with bus.pubsub_down():  # pub/sub was down while Redis restarted
        for i in range(published_before_resync):
            await bus.publish(sid, StatusChange("processing", 50 + i), publish_id=f"after:{i}")
    bus.simulate_reconnect()
    await call.events_until(lambda events: any(e.event == "reset" for e in events))
    await bus.publish(sid, StatusChange("processing", 90), publish_id="after:live")
    await bus.publish(sid, StatusChange("completed", 100), publish_id="after:end")
    after = (await call.events_until(lambda events: False))[len(before):]
    await call.finished()

    assert [e.id for e in before] == ["1", "2", "3", "4", "5"]
    reset = after[0]
    assert reset.event == "reset"
    assert json.loads(reset.data) == {"reason": "log_lost", "last_sent": 5, "latest": published_before_resync}
    statuses = [(int(e.id), json.loads(e.data)["progress"]) for e in after[1:]]
    # the snapshot (if the new log had one yet), then every later status, ending with the terminal one
    expected_first = published_before_resync or 1
    assert [seq for seq, _ in statuses] == list(range(expected_first, published_before_resync + 3))
    assert statuses[-1] == (published_before_resync + 2, 100)


async def test_a_plain_subscriber_reconnect_sends_no_reset() -> None:
    """The check must not fire when the log is intact (the usual reconnect): no reset, no gap."""
    app, bus, settings = make_app()
    record = await bus.create_session("alice", "t")
    call = StreamCall(app, f"/api/v1/sessions/{record.id}/status/stream", [auth_header(settings, "alice")]).start()
    assert await call.status() == 200
    await bus.publish(record.id, StatusChange("processing", 10))
    await call.events_until(lambda events: events and events[-1].id == "2")
    bus.simulate_reconnect()
    await bus.publish(record.id, StatusChange("completed", 100))
    events = await call.events_until(lambda events: False)
    await call.finished()
    assert [(e.event, e.id) for e in events] == [("status", "1"), ("status", "2"), ("status", "3")]
