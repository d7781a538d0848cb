"""The per-client mailbox between the shared subscriber and one stream, and the markers it hands out."""

from __future__ import annotations

import asyncio
from typing import Final

from reference_app.bus.message import BusMessage

__all__ = ["HEARTBEAT_DUE", "RESYNC", "HeartbeatDue", "Mailbox", "Resync"]


class Resync:
    """Marker put in every mailbox after the shared subscriber reconnected: events published while it
    was away were not delivered live and must be read from the log."""

    __slots__ = ()


RESYNC: Final = Resync()


class HeartbeatDue:
    """Marker: the stream has been idle for the heartbeat interval (set by the registry's supervisor)."""

    __slots__ = ()


HEARTBEAT_DUE: Final = HeartbeatDue()


class Mailbox:
    """A bounded per-client queue between the shared subscriber and one stream.

    The subscriber never blocks on a client: ``put`` is synchronous. When the client falls behind and the
    queue is full, queued progress updates coalesce into the newest one (each status is a full snapshot,
    so latest wins); a terminal status is never dropped — nothing can follow it.
    """

    __slots__ = ("_items", "_waiter", "capacity", "closed", "coalesced", "heartbeat_due", "resync", "session_id")

    def __init__(self, session_id: str, capacity: int) -> None:
        self.session_id = session_id
        self.capacity = capacity
        # a list, not a deque: an empty deque costs ~760 bytes, an empty list 56, and most mailboxes
        # are empty most of the time (idle streams); the queue is short (<= capacity), so pop(0) is cheap
        self._items: list[BusMessage] = []
        self._waiter: asyncio.Future[None] | None = None
        self.coalesced = 0
        self.closed = False
        self.resync = False
        self.heartbeat_due = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: BusMessage) -> None:
        if self.closed:
            return
        if len(self._items) >= self.capacity and not message.terminal:
            kept = [m for m in self._items if m.terminal]
            self.coalesced += len(self._items) - len(kept)
            self._items = kept
        self._items.append(message)
        self._wake()

    def request_heartbeat(self) -> None:
        if not self.heartbeat_due:
            self.heartbeat_due = True
            self._wake()

    def request_resync(self) -> None:
        self.resync = True
        self._wake()

    def close(self, _done: object = None) -> None:
        """Wake the reader for good (disconnect or shutdown); usable as a future's done-callback."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drain(self) -> list[BusMessage]:
        """Everything queued right now, without waiting (lets a burst go out in one write)."""
        items, self._items = self._items, []
        return items

    async def get(self) -> BusMessage | Resync | HeartbeatDue | None:
        """Next message; ``RESYNC`` after a subscriber reconnect; ``HEARTBEAT_DUE`` when idle too long;
        ``None`` once closed. Cancelling a waiting ``get`` leaves the mailbox intact."""
        while True:
            if self.resync:
                self.resync = False
                return RESYNC
            if self._items:
                self.heartbeat_due = False  # a real write is about to happen
                return self._items.pop(0)
            if self.closed:
                return None
            if self.heartbeat_due:
                self.heartbeat_due = False
                return HEARTBEAT_DUE
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
