"""One shared Redis pub/sub connection per process, fanning messages out to per-client mailboxes.

Why hand-written rather than ``redis.asyncio.PubSub``: that class reconnects and resubscribes by itself
inside ``get_message``/``subscribe``. A silent reconnect is exactly what must *not* be silent here — events
published while the connection was down never arrive on pub/sub, so every listener has to re-read them from
the stream. This module owns the connection, so it knows when it reconnected and tells every mailbox
(``Mailbox.request_resync``). The protocol part is small: RESP2 arrays of bulk strings and integers.

Subscriptions are ref-counted per channel: SUBSCRIBE on the first local listener, UNSUBSCRIBE after the
last. A listener is only handed its mailbox once Redis confirmed the SUBSCRIBE, so a read of the stream
afterwards cannot miss an event published in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from reference_app.bus import keys
from reference_app.bus.mailbox import Mailbox
from reference_app.bus.message import BusMessage

log = logging.getLogger(__name__)

__all__ = ["BusUnavailable", "SharedSubscriber"]

RespValue = bytes | int | str | list[Any] | None


class BusUnavailable(RuntimeError):
    """The shared subscriber could not confirm a subscription in time (Redis down)."""


class RespError(RuntimeError):
    pass


def encode_command(*args: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_resp(reader: asyncio.StreamReader) -> RespValue:
    line = await reader.readuntil(b"\r\n")
    kind, rest = line[:1], line[1:-2]
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        return (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        size = int(rest)
        if size < 0:
            return None
        return [await read_resp(reader) for _ in range(size)]
    if kind == b":":
        return int(rest)
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RespError(rest.decode(errors="replace"))
    raise RespError(f"unexpected RESP type byte {kind!r}")


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
        self._channels: dict[bytes, _Channel] = {}
        self._acks_pending: dict[bytes, int] = {}
        self._writer: asyncio.StreamWriter | None = None
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._close_writer()

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
        """Write a command if connected; when not, the reconnect loop resubscribes all channels anyway."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        writer.write(encode_command(*args))
        return True

    # -- the reader -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        first = True
        while not self._stopping:
            try:
                reader = await self._connect()
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
                await self._read_loop(reader, resync=self.reconnects > 0)
            except asyncio.CancelledError:
                raise
            except (OSError, EOFError, asyncio.IncompleteReadError, RespError, TimeoutError) as exc:
                if self._stopping:
                    break
                self._connected.clear()
                self._close_writer()
                delay = min(self.backoff_max_s, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                attempt += 1
                log.warning("shared subscriber lost Redis (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)

    async def _connect(self) -> asyncio.StreamReader:
        url = urlparse(self.url)
        if url.scheme not in ("redis", "rediss"):
            raise ValueError(f"unsupported Redis URL scheme {url.scheme!r} (use redis:// or rediss://)")
        context = ssl.create_default_context() if url.scheme == "rediss" else None
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(
                url.hostname or "127.0.0.1", url.port or 6379, ssl=context, limit=1 << 20
            )
        self._writer = writer
        if url.password:
            auth = [b"AUTH"]
            if url.username:
                auth.append(unquote(url.username).encode())
            auth.append(unquote(url.password).encode())
            writer.write(encode_command(*auth))
            async with asyncio.timeout(5):
                await read_resp(reader)
        writer.write(encode_command(b"CLIENT", b"SETNAME", b"sse-shared-subscriber"))
        async with asyncio.timeout(5):
            await read_resp(reader)
        return reader

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def _read_loop(self, reader: asyncio.StreamReader, *, resync: bool) -> None:
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
            try:
                async with asyncio.timeout(self.health_interval_s):
                    reply = await read_resp(reader)
            except TimeoutError:
                if pending_ping:
                    raise TimeoutError("no answer to PING from Redis") from None
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
