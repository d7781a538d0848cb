"""Issue 13: opens cost O(sessions) in Redis, and a storm queues instead of failing.

The app runs in-process (raw ASGI calls, no sockets, so hundreds of opens cost little) on a real Redis of the
test's own; Redis' ``INFO commandstats`` counts what the opens really sent. Nothing here is timed: a Lua
script that keeps Redis busy makes the command pool saturate deterministically (every pooled connection waits
for its reply, newcomers wait for a connection past the pool's timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis

from reference_app.app import create_app
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import wait_until
from reference_app.stream_reads import OpenReads
from sse_contract.status import StatusChange
from tests.asgi.harness import StreamCall, auth_header, make_settings

pytestmark = pytest.mark.integration

VIEWERS = 300
#: one flight when every open joins the first; a few if the opens straddle a couple of loop turns
MAX_VIEW_READS = 5
BUSY_LUA = """
local t0 = redis.call('TIME')
local start = tonumber(t0[1]) * 1000000 + tonumber(t0[2])
while true do
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000000 + tonumber(t[2]) - start > tonumber(ARGV[1]) then return 1 end
end
"""


@pytest.fixture
def server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as own:
        yield own


def calls(server: EmbeddedRedis) -> dict[str, int]:
    client = redis.Redis.from_url(server.url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


@dataclasses.dataclass
class Stack:
    app: Any
    settings: Any

    @property
    def bus(self) -> Any:
        return self.app.state.bus

    def call(self, sid: str, user: str = "alice", last_event_id: int | None = None) -> StreamCall:
        headers = [auth_header(self.settings, user)]
        if last_event_id is not None:
            headers.append((b"last-event-id", str(last_event_id).encode()))
        return StreamCall(self.app, f"/api/v1/sessions/{sid}/status/stream", headers).start()


@pytest.fixture
async def stack(server: EmbeddedRedis, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    overrides = getattr(request, "param", {})
    settings = make_settings(redis_url=server.url, sse_max_streams_per_user=10_000, **overrides)
    app = create_app(settings, jobs=None)
    await app.state.bus.start()
    try:
        yield Stack(app, settings)
    finally:
        app.state.streams.begin_shutdown()
        await app.state.streams.stop()
        await app.state.bus.stop()


async def close_all(streams: list[StreamCall]) -> None:
    for call in streams:
        call.disconnected.set()
    async with asyncio.timeout(30):
        await asyncio.gather(*(call.task for call in streams if call.task is not None))


async def test_concurrent_opens_of_one_session_share_one_read(stack: Stack, server: EmbeddedRedis) -> None:
    record = await stack.bus.create_session("alice", "storm")
    for step in (1, 2):
        await stack.bus.publish(record.id, StatusChange("processing", step * 10, f"step {step}"))
    before = calls(server)

    fresh = [stack.call(record.id) for _ in range(VIEWERS // 2)]
    resumed = [stack.call(record.id, last_event_id=1) for _ in range(VIEWERS // 2)]
    streams = fresh + resumed
    async with asyncio.timeout(30):
        statuses = await asyncio.gather(*(call.status(30) for call in streams))
        for call in streams:
            await call.events_until(lambda events: any(e.id == "3" for e in events), 30)
    after = calls(server)

    assert statuses == [200] * VIEWERS
    assert all([e.id for e in call.events] == ["3"] for call in fresh)  # the snapshot
    assert all([e.id for e in call.events] == ["2", "3"] for call in resumed)  # the replay after 1
    reads = stack.app.state.stream_context.reads.reads
    assert 1 <= reads <= MAX_VIEW_READS
    # what Redis saw: one record/snapshot/replay read per flight, not per viewer
    for command in ("hgetall", "xrevrange", "xrange"):
        assert after.get(command, 0) - before.get(command, 0) <= MAX_VIEW_READS, (command, before, after)
    assert after.get("exec", 0) - before.get("exec", 0) <= MAX_VIEW_READS
    # and the cap's leases went out in batches too (one script call per user per batch)
    assert after.get("eval", 0) - before.get("eval", 0) <= MAX_VIEW_READS
    await close_all(streams)
    assert stack.app.state.streams.open_count() == 0


def keep_redis_busy(server: EmbeddedRedis, micros: int, started: threading.Event) -> threading.Thread:
    def run() -> None:
        client = redis.Redis.from_url(server.url)
        try:
            started.set()
            client.eval(BUSY_LUA, 0, micros)
        finally:
            client.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def storm_on_a_saturated_pool(stack: Stack, server: EmbeddedRedis, sessions: int) -> list[StreamCall]:
    """Opens of ``sessions`` different sessions (no read can be shared) while Redis is busy for longer than
    the pool's timeout: more opens need a connection than the pool has."""
    sids = [(await stack.bus.create_session("alice", f"s{i}")).id for i in range(sessions)]
    async with contextlib.AsyncExitStack() as holders:
        # Every channel subscribed (and confirmed) beforehand, as during a storm with viewers still on:
        # the opens then go straight to their reads, which pile up on the busy Redis.
        for sid in sids:
            await holders.enter_async_context(stack.bus.listen(sid, 4))
        started = threading.Event()
        busy = keep_redis_busy(server, 1_500_000, started)  # 1.5 s, the pool timeout is 0.3 s
        await asyncio.to_thread(started.wait, 5)
        await asyncio.sleep(0.1)  # let the script start before the opens go out
        streams = [stack.call(sid) for sid in sids]
        async with asyncio.timeout(30):
            for call in streams:
                await call.status(30)
        await asyncio.to_thread(busy.join, 10)
    return streams


POOL = {"redis_max_connections": 6, "redis_pool_timeout_s": 0.3}


@pytest.mark.parametrize("stack", [POOL], indirect=True)
async def test_a_saturated_pool_queues_opens_instead_of_answering_503(stack: Stack, server: EmbeddedRedis) -> None:
    streams = await storm_on_a_saturated_pool(stack, server, sessions=40)
    statuses = [call.start_message["status"] for call in streams]
    assert statuses == [200] * len(streams)
    metrics = stack.app.state.metrics
    assert metrics.opens_queued._value.get() > 0  # they did wait for a read slot
    assert metrics.opens_admitted._value.get() == len(streams)
    await close_all(streams)


@pytest.mark.parametrize("stack", [POOL], indirect=True)
async def test_without_admission_the_same_storm_gets_503_pool_saturated(stack: Stack, server: EmbeddedRedis) -> None:
    """The control: the storm above really saturates the pool. With as many read slots as opens (no
    admission), the opens wait for pooled connections, time out, and the 503 says what happened."""
    ctx = stack.app.state.stream_context
    stack.app.state.stream_context = dataclasses.replace(
        ctx, reads=OpenReads(ctx.bus, ctx.metrics, slots=1000, queue_max=1000, deadline_s=20))
    streams = await storm_on_a_saturated_pool(stack, server, sessions=40)
    refused = [call for call in streams if call.start_message["status"] == 503]
    assert refused, "the control storm did not saturate the pool: the test above would prove nothing"
    for call in refused:
        await call.next_body()
        assert json.loads(bytes(call.body))["reason"] == "pool_saturated"
        assert dict(call.start_message["headers"]).get(b"retry-after")
    await close_all([call for call in streams if call.start_message["status"] == 200])


async def test_opens_one_after_another_are_answered_from_the_watch(stack: Stack, server: EmbeddedRedis) -> None:
    """Opens of a watched session need no Redis read however far apart they come, and still see every
    status: the watch registered its mailbox before its read, so nothing published since is missed."""
    record = await stack.bus.create_session("alice", "watched")
    reads = stack.app.state.stream_context.reads
    first = stack.call(record.id)
    assert await first.status() == 200
    await first.events_until(lambda events: len(events) >= 1)
    assert reads.reads == 1
    for step in (1, 2):
        await stack.bus.publish(record.id, StatusChange("processing", step * 10, f"step {step}"))
    await first.events_until(lambda events: len(events) >= 3)
    before = calls(server)

    fresh, resumed = stack.call(record.id), stack.call(record.id, last_event_id=1)
    for call in (fresh, resumed):
        assert await call.status() == 200
    await fresh.events_until(lambda events: len(events) >= 1)
    await resumed.events_until(lambda events: len(events) >= 2)
    assert [e.id for e in fresh.events] == ["3"] and [e.id for e in resumed.events] == ["2", "3"]
    after = calls(server)
    assert reads.reads == 1 and reads.watch_hits == 2
    assert all(after.get(c, 0) == before.get(c, 0) for c in ("hgetall", "xrevrange", "xrange", "exec"))

    await stack.bus.publish(record.id, StatusChange("completed", 100, "done"))
    for call in (first, fresh, resumed):
        await call.events_until(lambda events: events[-1].id == "4")
        await call.finished(5)
    # the last stream closed the watch: nothing of the session stays subscribed, the next open reads again
    assert stack.bus.subscriber_stats()["listeners"] == 0
    late = stack.call(record.id, last_event_id=2)
    assert await late.status() == 200
    await late.events_until(lambda events: len(events) >= 2)
    assert [e.id for e in late.events] == ["3", "4"] and reads.reads == 2
    await late.finished(5)


async def test_a_resume_from_before_the_watch_extends_it(stack: Stack) -> None:
    record = await stack.bus.create_session("alice", "older")
    for step in (1, 2, 3):
        await stack.bus.publish(record.id, StatusChange("processing", step * 10, f"step {step}"))
    reads = stack.app.state.stream_context.reads
    first = stack.call(record.id)  # fresh: the watch starts at the snapshot (seq 4)
    assert await first.status() == 200
    await first.events_until(lambda events: len(events) >= 1)
    older = stack.call(record.id, last_event_id=1)  # before what the watch holds: one read...
    assert await older.status() == 200
    await older.events_until(lambda events: len(events) >= 3)
    assert reads.reads == 2
    again = stack.call(record.id, last_event_id=2)  # ...which the watch keeps: no read for the next
    assert await again.status() == 200
    await again.events_until(lambda events: len(events) >= 2)
    assert reads.reads == 2 and reads.watch_hits >= 1
    assert [e.id for e in older.events] == ["2", "3", "4"] and [e.id for e in again.events] == ["3", "4"]
    await close_all([first, older, again])


async def test_after_a_subscriber_reconnect_the_streams_resync_and_share_a_new_watch(
        stack: Stack, server: EmbeddedRedis) -> None:
    """Redis drops the pub/sub connection: the subscriber reconnects and every stream re-reads the log
    (one shared read); the old watch is dropped (it may have missed statuses) and the re-read's watch
    serves the next open without Redis."""
    record = await stack.bus.create_session("alice", "resync")
    reads = stack.app.state.stream_context.reads
    streams = [stack.call(record.id) for _ in range(3)]
    for call in streams:
        assert await call.status() == 200
        await call.events_until(lambda events: len(events) >= 1)
    assert reads.reads == 1
    client = redis.Redis.from_url(server.url)
    try:
        client.client_kill_filter(_type="pubsub")
        await asyncio.to_thread(wait_until, lambda: stack.bus.subscriber_stats()["reconnects"] >= 1, 10, 0.05,
                                "the shared subscriber to reconnect")
        await stack.bus.publish(record.id, StatusChange("processing", 50, "after the reconnect"))
        for call in streams:
            await call.events_until(lambda events: any(e.id == "2" for e in events), 10)
    finally:
        client.close()
    after_resync = reads.reads
    assert after_resync <= 2  # the three streams' re-reads were one flight (or the status came live)
    late = stack.call(record.id, last_event_id=1)
    assert await late.status() == 200
    await late.events_until(lambda events: len(events) >= 1)
    assert [e.id for e in late.events] == ["2"]
    assert reads.reads == after_resync  # served by the re-read's watch
    await close_all([*streams, late])
    assert stack.bus.subscriber_stats()["listeners"] == 0
