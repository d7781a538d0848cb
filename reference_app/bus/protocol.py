"""What every bus provides (``RedisBus`` in production, ``MemoryBus`` in tests) and the session record."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from reference_app.bus.mailbox import Mailbox
from reference_app.bus.message import BusMessage
from sse_contract.status import StatusChange, StatusUpdate

__all__ = ["SessionRecord", "StatusBus"]


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

    async def publish(self, session_id: str, change: StatusChange, publish_id: str | None = None) -> StatusUpdate:
        """Give ``change`` the session's next seq and publish it to the log and to every listener, atomically;
        a ``publish_id`` seen before returns the first result and publishes nothing."""
        ...

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
