"""What the e2e suite's old stream gate did, now in the one fault proxy: a log of the requests it saw with
the status it answered (injected errors too), and cutting only the open streams."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reference_app.launcher import serve_asgi
from simulators.fault_proxy import STREAM_PATH, run_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def origin(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"].endswith("/status/stream"):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b": open\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_request_log_and_cutting_only_streams() -> None:
    with serve_asgi(origin) as url, run_in_thread(url) as proxy, \
            httpx.Client(base_url=proxy.url, timeout=10) as http:
        assert http.get("/api/v1/sessions/a/status?x=1").status_code == 200
        proxy.set_mode(error_status=503)
        assert http.get("/api/v1/sessions/a/status/stream").status_code == 503
        assert http.get("/api/v1/sessions/a/status").status_code == 200  # other paths still pass
        proxy.set_mode(error_status=None)
        with http.stream("GET", "/api/v1/sessions/a/status/stream") as stream, \
                httpx.stream("GET", f"{proxy.url}/api/v1/sessions/b/status") as plain:
            assert stream.status_code == 200 and plain.status_code == 200
            chunks = stream.iter_raw()  # one iterator: dropping it would close the response
            assert next(chunks) == b": open\n\n"
            assert proxy.cut_all(STREAM_PATH) == 1  # the stream, not the plain request's connection
            with pytest.raises(httpx.HTTPError):
                for _ in chunks:
                    pass
        seen = proxy.seen()
        assert [(r.method, r.path, r.status) for r in seen] == [
            ("GET", "/api/v1/sessions/a/status?x=1", 200),
            ("GET", "/api/v1/sessions/a/status/stream", 503),
            ("GET", "/api/v1/sessions/a/status", 200),
            ("GET", "/api/v1/sessions/a/status/stream", 200),
            ("GET", "/api/v1/sessions/b/status", 200),
        ]
        assert [r.path for r in proxy.seen(STREAM_PATH)] == ["/api/v1/sessions/a/status/stream"] * 2
        assert seen[0].headers["host"]
