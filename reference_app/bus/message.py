"""One published status as it travels through an API process, parsed once where it enters."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Final

from sse_contract.status import TERMINAL_STATES, StatusChange, StatusUpdate
from sse_contract.wire import encode_event

__all__ = ["CREATED", "BusMessage"]

#: The status every new session starts with.
CREATED: Final = StatusChange("pending", 0, "Waiting to start")


class BusMessage:
    """A status's seq, state, publish time and the exact JSON text, as read from Redis.

    The JSON is parsed once when it enters the process (from pub/sub or the log) for the fields the stream
    needs — the seq for ordering, the state for the end of the stream, the timestamp for stall checks — and is
    otherwise passed on as the text it is. The SSE frame is encoded once and shared by every listener, so a
    fan-out to 10,000 streams costs one parse and one encoding, not 10,000.
    """

    __slots__ = ("_frame", "payload", "published_at", "seq", "status")

    def __init__(self, seq: int, status: str, payload: str, published_at: float) -> None:
        self.seq = seq
        self.status = status
        self.payload = payload
        self.published_at = published_at  # epoch seconds
        self._frame: bytes | None = None

    @classmethod
    def from_payload(cls, payload: str | bytes) -> BusMessage:
        """Raises ``ValueError``/``KeyError`` on a payload that is not a status."""
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        data = json.loads(text)
        published = datetime.fromisoformat(data["timestamp"]).timestamp()
        return cls(int(data["seq"]), str(data["status"]), text, published)

    @classmethod
    def of(cls, update: StatusUpdate) -> BusMessage:
        """For a status made in this process (``MemoryBus``): nothing to parse."""
        return cls(update.seq, update.status.value, update.to_json(), update.timestamp.timestamp())

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    def silent_for_s(self) -> float:
        """Seconds since this status was published."""
        return time.time() - self.published_at

    def stalled(self, after_s: float) -> bool:
        """A job still ``processing`` with no status for ``after_s``: the worker may be gone."""
        return self.status == "processing" and self.silent_for_s() >= after_s

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = encode_event(self.payload, event="status", id=self.seq)
        return self._frame

    def __repr__(self) -> str:
        return f"BusMessage(seq={self.seq}, status={self.status!r})"
