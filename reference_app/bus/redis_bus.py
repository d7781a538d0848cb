"""The production bus: Redis Streams for the per-session log, one shared pub/sub connection for fan-out.

Connections per API process: a bounded command pool (``redis_max_connections``, blocking when all are busy
rather than opening more) plus exactly one pub/sub connection, however many streams are open.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from redis.exceptions import RedisError

from reference_app.bus import keys
from reference_app.bus.mailbox import Mailbox
from reference_app.bus.message import CREATED, BusMessage
from reference_app.bus.pools import async_client
from reference_app.bus.protocol import SessionRecord
from reference_app.bus.publish_script import PUBLISH_LUA, prepare_publish
from reference_app.bus.subscriber import SharedSubscriber
from sse_contract.status import StatusChange, StatusUpdate, utc_now

__all__ = ["RedisBus"]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(session_id: str, raw: Any) -> SessionRecord | None:
    if not raw:
        return None
    data = {_text(k): _text(v) for k, v in raw.items()}
    return SessionRecord(
        id=session_id,
        owner=data.get("owner", ""),
        title=data.get("title", ""),
        created_at=data.get("created_at", ""),
        task_id=data.get("task_id"),
    )


def _entries(raw: Any) -> list[BusMessage]:
    return [BusMessage.from_payload(fields[b"d"]) for _id, fields in raw]


class RedisBus:
    def __init__(
        self,
        url: str,
        *,
        maxlen: int = 1000,
        ttl_s: int = 24 * 3600,
        max_connections: int = 16,
        pool_timeout_s: float = 5.0,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.maxlen = maxlen
        self.ttl_s = ttl_s
        self.redis = async_client(url, max_connections)
        # how long a command waits for a pooled connection before "No connection available" (503
        # pool_saturated): REDIS_POOL_TIMEOUT_S, the pool's own ``timeout``
        self.redis.connection_pool.timeout = pool_timeout_s  # type: ignore[attr-defined]
        self._publish = self.redis.register_script(PUBLISH_LUA)
        self.subscriber = SharedSubscriber(url, on_reconnect=on_reconnect)

    async def start(self) -> None:
        await self.subscriber.start()

    async def stop(self) -> None:
        await self.subscriber.stop()
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()  # a pool passed in is not closed by aclose()

    async def healthy(self) -> dict[str, Any]:
        try:
            redis_ok = bool(await self.redis.ping())
        except RedisError:
            redis_ok = False
        subscriber_ok = self.subscriber.connected
        return {"ok": redis_ok and subscriber_ok, "redis": redis_ok, "subscriber": subscriber_ok}

    async def create_session(self, owner: str, title: str) -> SessionRecord:
        record = SessionRecord(
            id=str(uuid.uuid4()), owner=owner, title=title, created_at=utc_now().isoformat()
        )
        meta = keys.meta_key(record.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(meta, mapping={"owner": owner, "title": title, "created_at": record.created_at})
            pipe.expire(meta, self.ttl_s)
            await pipe.execute()
        await self.publish(record.id, CREATED, publish_id=f"create-{record.id}")
        return record

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return _record(session_id, await self.redis.hgetall(keys.meta_key(session_id)))

    async def claim_task(self, session_id: str, task_id: str) -> bool:
        return bool(await self.redis.hsetnx(keys.meta_key(session_id), "task_id", task_id))

    async def publish(self, session_id: str, change: StatusChange, publish_id: str | None = None) -> StatusUpdate:
        call = prepare_publish(session_id, change, publish_id, maxlen=self.maxlen, ttl_s=self.ttl_s)
        return call.result(await self._publish(keys=call.keys, args=call.args))

    async def snapshot(self, session_id: str) -> BusMessage | None:
        raw = await self.redis.xrevrange(keys.log_key(session_id), count=1)
        entries = _entries(raw)
        return entries[0] if entries else None

    async def read_after(self, session_id: str, after_seq: int, limit: int | None = None) -> list[BusMessage]:
        raw = await self.redis.xrange(keys.log_key(session_id), min=f"{after_seq + 1}-0", count=limit)
        return _entries(raw)

    async def read_view(
        self, session_id: str, after: int | None
    ) -> tuple[SessionRecord | None, BusMessage | None, list[BusMessage]]:
        """Record, snapshot and (if ``after`` is not None) the log after ``after``: what a stream needs to
        open, in one round trip. MULTI/EXEC, so the snapshot and the replay come from the same moment (all
        three keys share the session's hash tag: one Cluster slot)."""
        log = keys.log_key(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.meta_key(session_id))
            pipe.xrevrange(log, count=1)
            if after is not None:
                pipe.xrange(log, min=f"{after + 1}-0")
            replies = await pipe.execute()
        snapshot = _entries(replies[1])
        return (_record(session_id, replies[0]), snapshot[0] if snapshot else None,
                _entries(replies[2]) if after is not None else [])

    def listen(self, session_id: str, capacity: int) -> AbstractAsyncContextManager[Mailbox]:
        return self.subscriber.listen(session_id, capacity)

    def subscriber_stats(self) -> dict[str, int]:
        return self.subscriber.stats()
