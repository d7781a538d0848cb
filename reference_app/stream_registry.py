"""Who has which streams open: enforces the per-user cap and ends every stream on shutdown.

The cap is checked and taken in one synchronous step (no ``await`` in between), so concurrent opens in
one process can never overshoot it. The registry is per API process: with N processes behind a load
balancer a user can hold up to N x cap streams (see docs/contract.md).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

from reference_app.bus.base import Mailbox


@dataclass(eq=False, slots=True)
class StreamLease:
    user: str
    session_id: str
    id: int
    mailbox: Mailbox | None = None


@dataclass
class StreamRegistry:
    cap_per_user: int
    _open: dict[str, set[StreamLease]] = field(default_factory=dict)
    opened_total: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    shutting_down: bool = False

    def acquire(self, user: str, session_id: str) -> StreamLease | None:
        leases = self._open.setdefault(user, set())
        if len(leases) >= self.cap_per_user or self.shutting_down:
            return None
        lease = StreamLease(user, session_id, next(self._ids))
        leases.add(lease)
        self.opened_total[user] += 1
        return lease

    def release(self, lease: StreamLease) -> None:
        leases = self._open.get(lease.user)
        if leases is not None:
            leases.discard(lease)
            if not leases:
                del self._open[lease.user]

    def open_count(self, user: str | None = None) -> int:
        if user is not None:
            return len(self._open.get(user, ()))
        return sum(len(v) for v in self._open.values())

    def begin_shutdown(self) -> int:
        """Refuse new streams and wake every open one so it ends; returns how many were open."""
        self.shutting_down = True
        count = 0
        for leases in self._open.values():
            for lease in leases:
                if lease.mailbox is not None:
                    lease.mailbox.close()
                count += 1
        return count
