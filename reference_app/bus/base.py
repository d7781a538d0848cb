"""What every bus provides, and the per-client mailbox that sits between the bus and one stream."""

from __future__ import annotations

import asyncio
import json
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from sse_contract.status import TERMINAL_STATES, StatusUpdate
from sse_contract.wire import encode_event

__all__ = ["HEARTBEAT_DUE", "RESYNC", "BusMessage", "HeartbeatDue", "Mailbox", "Resync", "SessionRecord", "StatusBus"]


class BusMessage:
    """One published status as it travels through the bus: its seq, state and the exact JSON text.

    The SSE frame is encoded once and shared by every listener, so a fan-out to 10,000 streams costs one
    encoding, not 10,000.
    """

    __slots__ = ("_frame", "payload", "seq", "status")

    def __init__(self, seq: int, status: str, payload: str) -> None:
        self.seq = seq
        self.status = status
        self.payload = payload
        self._frame: bytes | None = None

    @classmethod
    def from_payload(cls, payload: str | bytes) -> BusMessage:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        data = json.loads(text)
        return cls(int(data["seq"]), str(data["status"]), text)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    def silent_for_s(self) -> float:
        """Seconds since this status was published (parsed on demand: only stall checks need it)."""
        published = datetime.fromisoformat(json.loads(self.payload)["timestamp"])
        return (datetime.now(UTC) - published).total_seconds()

    def stalled(self, after_s: float) -> bool:
        """A job still ``processing`` with no status for ``after_s``: the worker may be gone."""
        return self.status == "processing" and self.silent_for_s() >= after_s

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = encode_event(self.payload, event="status", id=self.seq)
        return self._frame

    def update(self) -> StatusUpdate:
        return StatusUpdate.from_json(self.payload)

    def __repr__(self) -> str:
        return f"BusMessage(seq={self.seq}, status={self.status!r})"


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


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    owner: str
    title: str
    created_at: str
    task_id: str | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "created_at": self.created_at, "task_id": self.task_id}


class StatusBus(Protocol):
    """The interface the API depends on; ``RedisBus`` and ``MemoryBus`` implement it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def healthy(self) -> dict[str, Any]:
        """``{"ok": bool, ...details}``: can we command Redis and is the shared subscriber connected."""
        ...

    async def create_session(self, owner: str, title: str) -> SessionRecord: ...

    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def claim_task(self, session_id: str, task_id: str) -> bool:
        """Record the job's task id once; False if the session already has a job."""
        ...

    async def publish(
        self,
        session_id: str,
        status: str,
        progress: float,
        message: str = "",
        extra: dict[str, Any] | None = None,
        publish_id: str | None = None,
    ) -> StatusUpdate: ...

    async def snapshot(self, session_id: str) -> BusMessage | None:
        """The latest status of the session, or None if it has none."""
        ...

    async def read_after(self, session_id: str, after_seq: int, limit: int | None = None) -> list[BusMessage]:
        """Retained statuses with seq > after_seq, oldest first (all of them unless ``limit``)."""
        ...

    def listen(self, session_id: str, capacity: int) -> AbstractAsyncContextManager[Mailbox]:
        """Register a mailbox for live statuses; when the context is entered the subscription is active
        (anything published from then on reaches the mailbox), so reading the log afterwards leaves no gap."""
        ...

    def subscriber_stats(self) -> dict[str, int]:
        """``channels``, ``listeners`` and ``reconnects`` of the shared subscriber."""
        ...
