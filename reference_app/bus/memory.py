"""An in-process bus with RedisBus's interface and semantics (seq, capped log, fan-out, coalescing),
for unit and ASGI tests of the logic above the bus. Not for production: one process only."""

from __future__ import annotations

import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

from reference_app.bus.mailbox import Mailbox
from reference_app.bus.message import CREATED, BusMessage
from reference_app.bus.protocol import SessionRecord
from sse_contract.status import StatusChange, StatusUpdate, utc_now

__all__ = ["MemoryBus"]


class MemoryBus:
    def __init__(self, *, maxlen: int = 1000) -> None:
        self.maxlen = maxlen
        self._sessions: dict[str, SessionRecord] = {}
        self._logs: dict[str, deque[BusMessage]] = {}
        self._seqs: dict[str, int] = {}
        self._published: dict[str, StatusUpdate] = {}
        self._listeners: dict[str, set[Mailbox]] = {}
        self.reconnects = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for boxes in self._listeners.values():
            for box in boxes:
                box.close()

    async def healthy(self) -> dict[str, Any]:
        return {"ok": True, "redis": True, "subscriber": True}

    async def create_session(self, owner: str, title: str) -> SessionRecord:
        record = SessionRecord(id=str(uuid.uuid4()), owner=owner, title=title, created_at=utc_now().isoformat())
        self._sessions[record.id] = record
        await self.publish(record.id, CREATED)
        return record

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    async def claim_task(self, session_id: str, task_id: str) -> bool:
        record = self._sessions.get(session_id)
        if record is None or record.task_id is not None:
            return False
        self._sessions[session_id] = SessionRecord(
            record.id, record.owner, record.title, record.created_at, task_id
        )
        return True

    async def publish(self, session_id: str, change: StatusChange, publish_id: str | None = None) -> StatusUpdate:
        if publish_id is not None and publish_id in self._published:
            return self._published[publish_id]
        seq = self._seqs.get(session_id, 0) + 1
        update = change.to_update(session_id, seq)
        self._seqs[session_id] = seq
        bus_message = BusMessage.of(update)
        log = self._logs.setdefault(session_id, deque(maxlen=self.maxlen))
        log.append(bus_message)
        if publish_id is not None:
            self._published[publish_id] = update
        for box in self._listeners.get(session_id, ()):
            box.put(bus_message)
        return update

    async def snapshot(self, session_id: str) -> BusMessage | None:
        log = self._logs.get(session_id)
        return log[-1] if log else None

    async def read_after(self, session_id: str, after_seq: int, limit: int | None = None) -> list[BusMessage]:
        found = [m for m in self._logs.get(session_id, ()) if m.seq > after_seq]
        return found if limit is None else found[:limit]

    @contextlib.asynccontextmanager
    async def listen(self, session_id: str, capacity: int) -> AsyncIterator[Mailbox]:
        box = Mailbox(session_id, capacity)
        self._listeners.setdefault(session_id, set()).add(box)
        try:
            yield box
        finally:
            boxes = self._listeners.get(session_id)
            if boxes is not None:
                boxes.discard(box)
                if not boxes:
                    del self._listeners[session_id]

    def subscriber_stats(self) -> dict[str, int]:
        return {
            "channels": len(self._listeners),
            "listeners": sum(len(b) for b in self._listeners.values()),
            "reconnects": self.reconnects,
            "connected": 1,
        }

    def simulate_data_loss(self) -> None:
        """What a Redis restart without persistence does: logs, seq counters and publish ids are gone
        (sessions stay: the tests recreate nothing)."""
        self._logs.clear()
        self._seqs.clear()
        self._published.clear()

    @contextlib.contextmanager
    def pubsub_down(self) -> Iterator[None]:
        """While inside, publishes reach the log but no listener (the shared subscriber is disconnected)."""
        listeners, self._listeners = self._listeners, {}
        try:
            yield
        finally:
            self._listeners = listeners

    def simulate_reconnect(self) -> None:
        """What RedisBus does after its subscriber reconnected: every listener re-reads the log."""
        self.reconnects += 1
        for boxes in self._listeners.values():
            for box in boxes:
                box.request_resync()
