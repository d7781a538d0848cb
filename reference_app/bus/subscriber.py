"""One shared Redis pub/sub connection per process, fanning messages out to per-client mailboxes.

Built on one redis-py ``Connection`` (its URL parsing — db number, ``rediss://`` and its ``ssl_*`` query
options —, AUTH, TLS, CLIENT SETNAME and its RESP parser, hiredis when installed), with the reconnect loop
kept here rather than in ``redis.asyncio.PubSub``: that class reconnects and resubscribes by itself inside
``get_message``/``subscribe``, and a silent reconnect is exactly what must *not* be silent here — events
published while the connection was down never arrive on pub/sub, so every listener has to re-read them from
the stream. This module owns the connection, so it knows when it reconnected and tells every mailbox
(``Mailbox.request_resync``) once every channel is confirmed again.

Subscriptions are ref-counted per channel: SUBSCRIBE on the first local listener, UNSUBSCRIBE after the
last. A listener is only handed its mailbox once Redis confirmed the SUBSCRIBE, so a read of the stream
afterwards cannot miss an event published in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from reference_app.bus import keys
from reference_app.bus.mailbox import Mailbox
from reference_app.bus.message import BusMessage
from sse_client import redact_url

log = logging.getLogger(__name__)

__all__ = ["BusUnavailable", "SharedSubscriber"]


class BusUnavailable(RuntimeError):
    """The shared subscriber could not confirm a subscription in time (Redis down)."""


@dataclass
class _Channel:
    ready: asyncio.Future[None]
    mailboxes: set[Mailbox] = field(default_factory=set)


class SharedSubscriber:
    def __init__(
        self,
        url: str,
        *,
        health_interval_s: float = 5.0,
        backoff_max_s: float = 5.0,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.health_interval_s = health_interval_s
        self.backoff_max_s = backoff_max_s
        self._on_reconnect = on_reconnect
        # Used only to turn the URL into connection settings and make connections; this module retries itself
        # (redis-py's own retry would hide a reconnect), and no connection is ever returned to the pool.
        self._factory = ConnectionPool.from_url(
            url, client_name="sse-shared-subscriber", socket_connect_timeout=5, socket_timeout=5,
            retry=Retry(NoBackoff(), 0),
        )
        self._channels: dict[bytes, _Channel] = {}
        self._acks_pending: dict[bytes, int] = {}
        self._conn: AbstractConnection | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._stopping = False
        self.reconnects = 0
        self.messages = 0

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self, timeout: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run(), name="sse-shared-subscriber")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected.wait()

    async def stop(self) -> None:
        self._stopping = True
        for state in self._channels.values():
            for mailbox in state.mailboxes:
                mailbox.close()
        if self._sends:  # let UNSUBSCRIBEs already made reach Redis before the connection closes
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await asyncio.gather(*self._sends, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def stats(self) -> dict[str, int]:
        return {
            "channels": len(self._channels),
            "listeners": sum(len(c.mailboxes) for c in self._channels.values()),
            "reconnects": self.reconnects,
            "connected": int(self.connected),
        }

    # -- listeners ------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def listen(self, session_id: str, capacity: int, timeout: float = 5.0) -> AsyncIterator[Mailbox]:
        mailbox = Mailbox(session_id, capacity)
        name = keys.channel(session_id).encode()
        state = self._channels.get(name)
        if state is None:
            state = _Channel(ready=asyncio.get_running_loop().create_future())
            self._channels[name] = state
            state.mailboxes.add(mailbox)
            self._send_subscribe(name)
        else:
            state.mailboxes.add(mailbox)
        try:
            if not state.ready.done():
                try:
                    async with asyncio.timeout(timeout):
                        await asyncio.shield(state.ready)
                except TimeoutError as exc:
                    raise BusUnavailable("Redis did not confirm the subscription") from exc
            yield mailbox
        finally:
            state.mailboxes.discard(mailbox)
            if not state.mailboxes and self._channels.get(name) is state:
                del self._channels[name]
                if not state.ready.done():
                    state.ready.cancel()
                self._send(b"UNSUBSCRIBE", name)

    def _send_subscribe(self, name: bytes) -> None:
        if self._send(b"SUBSCRIBE", name):
            self._acks_pending[name] = self._acks_pending.get(name, 0) + 1

    def _send(self, *args: bytes) -> bool:
        """Send a command on the current connection, if there is one; when not, the reconnect loop
        resubscribes all channels anyway. ``listen`` cannot await here (its exit runs while a stream is being
        torn down), so each send is a task; asyncio runs tasks in the order they were created, so commands
        reach Redis in the order they were made."""
        conn = self._conn
        if conn is None or not conn.is_connected:
            return False
        task = asyncio.get_running_loop().create_task(self._write(conn, conn.pack_command(*args)))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return True

    async def _write(self, conn: AbstractConnection, packed: list[bytes]) -> None:
        if conn is not self._conn or not conn.is_connected:
            return  # reconnected meanwhile: the new connection was resubscribed from the channel table
        try:
            await conn.send_packed_command(packed, check_health=False)
        except (RedisError, OSError, AttributeError) as exc:
            # the reader sees the broken connection and reconnects (AttributeError: redis-py's writer was
            # already torn down by a concurrent disconnect)
            log.debug("shared subscriber could not send (%s)", exc)

    # -- the reader -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        first = True
        while not self._stopping:
            try:
                conn = await self._connect()
                self._acks_pending.clear()
                for name in list(self._channels):
                    self._send_subscribe(name)
                self._connected.set()
                if not first:
                    self.reconnects += 1
                    if self._on_reconnect is not None:
                        self._on_reconnect()
                    log.warning("shared subscriber reconnected; %d channels resubscribed", len(self._channels))
                first = False
                attempt = 0
                await self._read_loop(conn, resync=self.reconnects > 0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if self._stopping:
                    break
                self._connected.clear()
                await self._disconnect()
                delay = min(self.backoff_max_s, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                attempt += 1
                log.warning("shared subscriber lost Redis at %s (%s: %s); retrying in %.2fs",
                            redact_url(self.url), type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)

    async def _connect(self) -> AbstractConnection:
        """A fresh connection: TCP or TLS, AUTH, SELECT and CLIENT SETNAME as the URL says."""
        conn = cast(AbstractConnection, self._factory.make_connection())  # type: ignore[no-untyped-call]
        self._conn = conn
        await conn.connect()  # type: ignore[no-untyped-call]
        return conn

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(RedisError, OSError):
                await conn.disconnect(nowait=True)

    async def _read_loop(self, conn: AbstractConnection, *, resync: bool) -> None:
        pending_ping = False
        resynced = not resync
        while True:
            if not resynced and all(
                self._acks_pending.get(n, 0) == 0 for n in self._channels
            ):
                # Every channel is subscribed again: now re-reading the stream cannot miss anything.
                resynced = True
                for state in self._channels.values():
                    for mailbox in state.mailboxes:
                        mailbox.request_resync()
            # ``timeout`` given: None when nothing arrived in time (the connection stays usable);
            # ``push_request``: pub/sub messages are RESP3 push frames, hand them to us instead of a handler
            reply = await conn.read_response(timeout=self.health_interval_s, push_request=True)
            if reply is None:
                if pending_ping:
                    raise TimeoutError("no answer to PING from Redis")
                pending_ping = self._send(b"PING")
                continue
            pending_ping = False
            if isinstance(reply, list) and reply:
                self._handle(reply)

    def _handle(self, reply: list[Any]) -> None:
        kind = reply[0]
        if kind == b"message":
            self.messages += 1
            state = self._channels.get(reply[1])
            if state is None:
                return
            try:
                message = BusMessage.from_payload(reply[2])
            except (ValueError, KeyError):
                log.error("dropping malformed status on %r", reply[1])
                return
            for mailbox in state.mailboxes:
                mailbox.put(message)
        elif kind == b"subscribe":
            name = reply[1]
            left = self._acks_pending.get(name, 0) - 1
            if left > 0:
                self._acks_pending[name] = left
                return
            self._acks_pending.pop(name, None)
            state = self._channels.get(name)
            if state is not None and not state.ready.done():
                state.ready.set_result(None)
