"""The per-user stream cap: leases, exact under concurrent opens, per process or across processes.

* ``LocalLeases``: in the process (a bus without Redis, tests). Checked and taken without an ``await`` in
  between, so concurrent opens in one process never overshoot.
* ``RedisLeases``: one sorted set per user in Redis (member = lease id, score = expiry in Redis' own clock),
  so the cap holds across API processes and instances. A Lua script drops expired members, counts and adds
  atomically: concurrent opens on any number of processes never overshoot. Every process refreshes the
  expiry of its own leases (``refresh``, driven by the stream supervisor every ``ttl_s / 3``), so a
  crashed or SIGKILLed process frees its leases within ``ttl_s``. A process started again in the same place
  (same ``SSE_INSTANCE_ID``: host, port and worker number by default) frees its predecessor's leases at once
  (``reclaim``): without that, a crash-and-restart refused every reconnect with 429 until the dead process's
  leases expired (measured in tests/faults/test_api_crash.py: 36 s instead of 5 s).

Why batched: a reconnect storm must cost O(batches), not O(viewers), in Redis round trips. Acquires and
releases requested in the same event-loop turn go out together — one script call per user in one pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["ACQUIRE_LUA", "LeaseStore", "LocalLeases", "RedisLeases", "lease_key"]

log = logging.getLogger(__name__)


def lease_key(user: str) -> str:
    return f"sse:streams:{{{user}}}"


def owner_key(owner: str) -> str:
    """The lease sets this instance has written to (so a successor can reclaim its leases)."""
    return f"sse:lease-owner:{{{owner}}}"


class LeaseStore(Protocol):
    cap: int

    async def acquire(self, user: str, lease_id: str) -> bool:
        """Take one of ``user``'s slots; False at the cap."""
        ...

    def release(self, user: str, lease_id: str) -> None:
        """Give the slot back (may complete in the background)."""
        ...

    async def refresh(self, held: Mapping[str, Iterable[str]]) -> None:
        """Keep these leases alive (user -> lease ids); a no-op where leases do not expire."""
        ...

    async def flush(self) -> None:
        """Wait for background releases (tests, shutdown)."""
        ...

    async def reclaim(self) -> int:
        """At start-up: free the leases a predecessor in the same place left behind; returns how many."""
        ...


class LocalLeases:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._held: dict[str, set[str]] = {}

    async def acquire(self, user: str, lease_id: str) -> bool:
        held = self._held.setdefault(user, set())
        if len(held) >= self.cap:
            return False
        held.add(lease_id)
        return True

    def release(self, user: str, lease_id: str) -> None:
        held = self._held.get(user)
        if held is not None:
            held.discard(lease_id)
            if not held:
                del self._held[user]

    async def refresh(self, held: Mapping[str, Iterable[str]]) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def reclaim(self) -> int:
        return 0


# KEYS[1] = the user's lease set; ARGV = cap, ttl_ms, lease ids...; returns 1/0 per lease id, in order.
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local count = redis.call('ZCARD', KEYS[1])
local granted = {}
for i = 3, #ARGV do
  if count < cap then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
    count = count + 1
    granted[#granted + 1] = 1
  else
    granted[#granted + 1] = 0
  end
end
if count > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return granted
"""

# KEYS[1] = the user's lease set; ARGV = ttl_ms, lease ids...: push the expiry of leases still held
# (XX: a lease released meanwhile is not brought back).
REFRESH_LUA = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


# KEYS[1] = a user's lease set; ARGV[1] = an owner prefix: remove that owner's leases.
RECLAIM_LUA = """
local removed = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #ARGV[1]) == ARGV[1] then
    redis.call('ZREM', KEYS[1], member)
    removed = removed + 1
  end
end
return removed
"""


class RedisLeases:
    def __init__(self, redis: aioredis.Redis, cap: int, ttl_s: float, owner: str,
                 on_round_trip: Callable[[str], None] | None = None) -> None:
        self.redis = redis
        self.cap = cap
        self.owner = owner
        self._noted: set[str] = set()  # users whose lease set is listed under this owner already
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self._count = on_round_trip or (lambda _op: None)
        self._acquires: dict[str, list[tuple[str, asyncio.Future[bool]]]] = defaultdict(list)
        self._releases: dict[str, list[str]] = defaultdict(list)
        self._acquire_task: asyncio.Task[None] | None = None
        self._release_task: asyncio.Task[None] | None = None

    async def acquire(self, user: str, lease_id: str) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._acquires[user].append((lease_id, future))
        if self._acquire_task is None:
            self._acquire_task = asyncio.get_running_loop().create_task(self._flush_acquires())
        return await future  # cancelled: the batch gives back a slot Redis granted it (_send_acquires)

    def release(self, user: str, lease_id: str) -> None:
        self._releases[user].append(lease_id)
        if self._release_task is None:
            try:
                self._release_task = asyncio.get_running_loop().create_task(self._flush_releases())
            except RuntimeError:  # no loop (interpreter shutdown): the lease expires by itself
                return

    async def _flush_acquires(self) -> None:
        # Group commit: one batch in flight at a time; what arrives meanwhile forms the next batch. No
        # added latency when idle, and under a storm one round trip per batch, not per open.
        try:
            await asyncio.sleep(0)  # let every open of this loop turn join the first batch
            while self._acquires:
                batch, self._acquires = self._acquires, defaultdict(list)
                await self._send_acquires(batch)
        finally:
            self._acquire_task = None

    async def _send_acquires(self, batch: dict[str, list[tuple[str, asyncio.Future[bool]]]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                # EVAL, not EVALSHA: Redis caches the compiled script by its hash anyway, and a pipeline
                # of registered scripts costs an extra SCRIPT EXISTS round trip per execute in redis-py
                for user, entries in batch.items():
                    pipe.eval(ACQUIRE_LUA, 1, lease_key(user), self.cap, self.ttl_ms, *(i for i, _ in entries))
                new_users = [user for user in batch if user not in self._noted]
                if new_users:
                    pipe.sadd(owner_key(self.owner), *map(lease_key, new_users))
                    pipe.pexpire(owner_key(self.owner), 3 * self.ttl_ms)
                self._count("lease_acquire")
                replies = await pipe.execute(raise_on_error=False)
        except RedisError as exc:
            replies = [exc] * len(batch)
        else:
            self._noted.update(new_users)
        for (user, entries), reply in zip(batch.items(), replies[:len(batch)], strict=True):
            for index, (lease_id, future) in enumerate(entries):
                if future.done():  # its open was cancelled (client gone) while Redis granted the slot
                    if not isinstance(reply, Exception) and int(reply[index]):
                        self.release(user, lease_id)
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(bool(int(reply[index])))

    async def _flush_releases(self) -> None:
        try:
            await asyncio.sleep(0)
            while self._releases:
                batch, self._releases = self._releases, defaultdict(list)
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for user, ids in batch.items():
                            pipe.zrem(lease_key(user), *ids)
                        self._count("lease_release")
                        await pipe.execute()
                except RedisError as exc:  # the leases expire within ttl_s anyway
                    log.warning("could not release %d stream leases (%s); they expire in %ss",
                                sum(map(len, batch.values())), type(exc).__name__, self.ttl_ms / 1000)
        finally:
            self._release_task = None

    async def refresh(self, held: Mapping[str, Iterable[str]]) -> None:
        entries = {user: list(ids) for user, ids in held.items()}
        entries = {user: ids for user, ids in entries.items() if ids}
        if not entries:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, ids in entries.items():
                pipe.eval(REFRESH_LUA, 1, lease_key(user), self.ttl_ms, *ids)
            pipe.pexpire(owner_key(self.owner), 3 * self.ttl_ms)
            self._count("lease_refresh")
            await pipe.execute()

    async def reclaim(self) -> int:
        key = owner_key(self.owner)
        sets = await self.redis.smembers(key)
        if not sets:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for lease_set in sets:
                pipe.eval(RECLAIM_LUA, 1, lease_set, self.owner + "|")
            pipe.delete(key)
            replies = await pipe.execute()
        removed = sum(int(n) for n in replies[:-1])
        if removed:
            log.warning("freed %d stream leases left by a previous process of instance %s", removed, self.owner)
        return removed

    async def flush(self) -> None:
        for task in (self._acquire_task, self._release_task):
            if task is not None:
                await task
