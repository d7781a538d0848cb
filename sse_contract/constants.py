"""The contract's fixed names and numbers (docs/contract.md), declared once for the app, checker and load harness."""

from __future__ import annotations

__all__ = [
    "EVENT_RESET",
    "EVENT_STALLED",
    "EVENT_STATUS",
    "LAST_EVENT_ID_HEADER",
    "LAST_EVENT_ID_QUERY",
    "SSE_MEDIA_TYPE",
    "STREAM_HEADERS",
    "UNAVAILABLE_REASONS",
    "parse_last_event_id",
]

SSE_MEDIA_TYPE = "text/event-stream"
#: Response headers of the status stream, as the ASGI server sends them (contract: headers).
STREAM_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
)
EVENT_STATUS = "status"
EVENT_RESET = "reset"
EVENT_STALLED = "stalled"
LAST_EVENT_ID_HEADER = "Last-Event-ID"
LAST_EVENT_ID_QUERY = "lastEventId"


#: docs/contract.md point 11: the ``reason`` every 503 body carries (and its log line says)
UNAVAILABLE_REASONS = ("redis_unreachable", "pool_saturated", "queue_full", "deadline", "bus_unavailable",
                       "shutting_down")

def parse_last_event_id(header: str | None, query: str | None) -> int | None:
    """The resume point: header first (what a reconnecting browser sends), then ``?lastEventId=``.
    Anything that is not a plain non-negative integer counts as absent, as the contract says."""
    for raw in (header, query):
        if raw is None:
            continue
        text = raw.strip()
        if text.isascii() and text.isdigit() and len(text) <= 18:
            return int(text)
    return None
