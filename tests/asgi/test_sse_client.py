"""The one async SSE reader (``sse_client``) against an in-process ASGI app: every item is reported with its
arrival time (comments and ``retry:`` too), a non-200 answer keeps its body, and ``Last-Event-ID`` is sent
when asked. A cut needs a real socket: tests/integration/test_sse_client_cut.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sse_client import open_stream
from sse_contract.wire import Comment, Event, Retry

pytestmark = pytest.mark.asgi

CHUNKS = [b"retry: 1500\n\n: ping\n\nid: 1\nevent: status\nda", b"ta: {\"a\":1}\r", b"\n\r\nid: 2\ndata: x\n\n"]


def app_sending(chunks: list[bytes], status: int = 200) -> Any:
    seen: dict[str, str] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update({k.decode(): v.decode() for k, v in scope["headers"]})
        content_type = b"text/event-stream" if status == 200 else b"application/json"
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    app.seen = seen  # type: ignore[attr-defined]
    return app


async def test_items_arrive_decoded_across_chunk_boundaries_with_comments_and_retry() -> None:
    app = app_sending(CHUNKS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client, \
            open_stream(client, "/s", last_event_id="7", headers={"Authorization": "Bearer x"}) as stream:
        assert stream.status_code == 200
        arrivals = [a async for a in stream.arrivals()]
    items = [a.item for a in arrivals]
    assert items == [Retry(1500), Comment("ping"), Event(data='{"a":1}', event="status", id="1", has_id=True),
                     Event(data="x", event="message", id="2", has_id=True)]
    assert all(a.at >= stream.opened_at for a in arrivals) and stream.first_byte_at is not None
    assert stream.ended_by_server and stream.retry_ms == 1500
    assert app.seen["last-event-id"] == "7" and app.seen["accept"] == "text/event-stream"
    assert app.seen["authorization"] == "Bearer x"


async def test_a_non_200_answer_keeps_its_body_and_no_last_event_id_unless_asked() -> None:
    app = app_sending([b'{"detail":"nope"}'], status=404)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client, \
            open_stream(client, "/s") as stream:
        assert stream.status_code == 404
        assert await stream.body() == b'{"detail":"nope"}'
    assert "last-event-id" not in app.seen
