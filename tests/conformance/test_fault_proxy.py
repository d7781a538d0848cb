"""The fault proxy does each fault for real (on real sockets), and only when asked.

The origin is a tiny raw-ASGI app on a real uvicorn that sends ``EVENTS`` events ``GAP_S`` apart and then
ends; arrival times at the client show whether the proxy passed them through, held them, or cut.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from reference_app.launcher import serve_asgi, wait_until
from simulators.fault_proxy import CONTROL_PATH, FaultProxy, ProxyMode, run_in_thread
from sse_contract.wire import Event, SSEDecoder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

EVENTS = 5
GAP_S = 0.15
#: the whole stream lasts EVENTS * GAP_S; "spread" means the first event came well before the end
STREAM_S = EVENTS * GAP_S
#: generous for a loaded 2-core box, still far below STREAM_S
MARGIN_S = 0.3


@dataclass
class Origin:
    """Remembers what the proxy sent it, so tests can check forwarding and disconnects."""

    requests: list[dict[str, object]] = field(default_factory=list)
    disconnects: int = 0

    async def __call__(self, scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        path = scope["path"]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"path": path, "query": scope["query_string"].decode(), "headers": headers,
                              "body": body.decode(), "method": scope["method"]})
        if path == "/slow-headers":
            await asyncio.sleep(1.0)
        if path.endswith("/stream") or path == "/slow-headers":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            for i in range(1, EVENTS + 1):
                frame = f"id: {i}\nevent: status\ndata: {{\"n\": {i}}}\n\n".encode()
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                await asyncio.sleep(GAP_S)
            await send({"type": "http.response.body", "body": b""})
        elif path == "/hang":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            await send({"type": "http.response.body", "body": b": hello\n\n", "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnects += 1
        else:
            data = json.dumps({"path": path, "body": body.decode()}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[str, Origin]]:
    app = Origin()
    with serve_asgi(app) as url:
        yield url, app


@pytest.fixture
async def proxy(origin: tuple[str, Origin]) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(origin[0]) as p:
        yield p


@dataclass
class Received:
    status: int
    headers: httpx.Headers
    events: list[tuple[float, Event]]
    started: float
    error: str | None = None

    def arrival(self, index: int) -> float:
        return self.events[index][0] - self.started


async def fetch_stream(url: str, path: str = "/api/v1/sessions/s/status/stream",
                       accept_encoding: str = "gzip, deflate, br") -> Received:
    """Read the stream like the checker does; httpx decodes gzip, so timing is what a client sees."""
    decoder = SSEDecoder()
    started = time.monotonic()
    events: list[tuple[float, Event]] = []
    async with httpx.AsyncClient(timeout=10, headers={"Accept-Encoding": accept_encoding}) as client:
        try:
            async with client.stream("GET", url + path) as response:
                result = Received(response.status_code, response.headers, events, started)
                async for chunk in response.aiter_bytes():
                    now = time.monotonic()
                    events.extend((now, item) for item in decoder.feed(chunk) if isinstance(item, Event))
        except httpx.HTTPError as exc:
            if "result" not in locals():
                return Received(0, httpx.Headers(), events, started, error=repr(exc))
            result.error = repr(exc)
    return result


async def test_pass_through_keeps_events_spread_out_and_headers_intact(proxy: FaultProxy) -> None:
    got = await fetch_stream(proxy.url)
    assert got.status == 200 and got.error is None
    assert got.headers["content-type"] == "text/event-stream"
    assert "content-encoding" not in got.headers
    assert [e.id for _, e in got.events] == [str(i) for i in range(1, EVENTS + 1)]
    assert got.arrival(0) < STREAM_S - MARGIN_S, "first event must not wait for the end"
    assert got.arrival(-1) - got.arrival(0) > (EVENTS - 1) * GAP_S * 0.7
    assert proxy.mode.passthrough and proxy.stats.requests == 1


async def test_buffer_until_close_delivers_everything_at_the_end(proxy: FaultProxy) -> None:
    proxy.set_mode(buffer_until_close=True)
    got = await fetch_stream(proxy.url)
    assert len(got.events) == EVENTS
    assert got.arrival(0) >= STREAM_S - GAP_S, "buffered: the first event arrives with the last"
    assert got.arrival(-1) - got.arrival(0) < 0.05


async def test_buffer_bytes_flushes_when_the_buffer_fills(proxy: FaultProxy) -> None:
    frame_size = len(b'id: 1\nevent: status\ndata: {"n": 1}\n\n')
    proxy.set_mode(buffer_bytes=frame_size * 3)
    got = await fetch_stream(proxy.url)
    times = [round(got.arrival(i), 2) for i in range(EVENTS)]
    assert len(got.events) == EVENTS
    # events 1-3 leave together when the third fills the buffer; 4 and 5 together at the end
    assert times[2] - times[0] < 0.05 and times[4] - times[3] < 0.05, times
    assert times[3] - times[2] > GAP_S * 0.7, times
    assert times[0] >= 2 * GAP_S * 0.8, times


async def test_gzip_compresses_and_holds_the_events(proxy: FaultProxy) -> None:
    proxy.set_mode(gzip=True)
    got = await fetch_stream(proxy.url)
    assert got.headers["content-encoding"] == "gzip"
    assert [e.id for _, e in got.events] == [str(i) for i in range(1, EVENTS + 1)]
    assert got.arrival(0) >= STREAM_S - GAP_S, "deflate holds small events until the end"


async def test_gzip_only_for_clients_that_accept_it(proxy: FaultProxy, origin: tuple[str, Origin]) -> None:
    proxy.set_mode(gzip=True)
    async with httpx.AsyncClient(headers={"Accept-Encoding": "identity"}) as client:
        response = await client.get(proxy.url + "/plain")
    assert "content-encoding" not in response.headers
    async with httpx.AsyncClient(headers={"Accept-Encoding": "gzip"}) as client:
        raw = await client.send(client.build_request("GET", proxy.url + "/plain"), stream=True)
        body = b"".join([chunk async for chunk in raw.aiter_raw()])
        await raw.aclose()
    assert raw.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["path"] == "/plain"


async def test_idle_timeout_after_headers_cuts_the_stream(proxy: FaultProxy) -> None:
    proxy.set_mode(idle_timeout_s=GAP_S / 3)
    got = await fetch_stream(proxy.url)
    assert got.status == 200 and got.error is not None, "the stream must be cut, not end cleanly"
    assert len(got.events) == 1
    assert proxy.stats.cut_idle == 1


async def test_idle_timeout_before_headers_answers_524(proxy: FaultProxy) -> None:
    proxy.set_mode(idle_timeout_s=0.3)
    started = time.monotonic()
    got = await fetch_stream(proxy.url, "/slow-headers")
    assert got.status == 524
    assert 0.3 <= time.monotonic() - started < 1.0
    assert proxy.stats.timeouts_524 == 1


async def test_kill_after_cuts_the_connection_in_time(proxy: FaultProxy) -> None:
    proxy.set_mode(kill_after_s=GAP_S * 2.5)
    got = await fetch_stream(proxy.url)
    assert got.error is not None
    assert 1 <= len(got.events) <= 3
    assert proxy.stats.cut_killed == 1


async def test_drop_every_nth_connection(proxy: FaultProxy) -> None:
    proxy.set_mode(drop_every=2)
    outcomes = []
    for _ in range(4):
        async with httpx.AsyncClient() as client:  # a fresh client = a fresh connection
            try:
                outcomes.append((await client.get(proxy.url + "/plain")).status_code)
            except httpx.HTTPError:
                outcomes.append("dropped")
    assert outcomes == [200, "dropped", 200, "dropped"]
    assert proxy.stats.dropped == 2


async def test_latency_delays_headers_and_events(proxy: FaultProxy) -> None:
    proxy.set_mode(latency_ms=400)
    delayed = await fetch_stream(proxy.url)
    assert delayed.arrival(0) >= 0.4, "the headers and the first event are held for the latency"
    # a constant delay keeps the spacing
    assert delayed.arrival(-1) - delayed.arrival(0) > (EVENTS - 1) * GAP_S * 0.7


async def test_error_status_only_on_the_stream_path_and_switchable_at_runtime(proxy: FaultProxy) -> None:
    proxy.set_mode(error_status=503)
    assert (await fetch_stream(proxy.url)).status == 503
    async with httpx.AsyncClient() as client:
        assert (await client.get(proxy.url + "/plain")).status_code == 200
    proxy.set_mode(error_status=None)
    got = await fetch_stream(proxy.url)
    assert got.status == 200 and len(got.events) == EVENTS
    assert proxy.stats.errors_injected == 1


async def test_forwards_method_query_body_and_credentials_and_keeps_alive(
    proxy: FaultProxy, origin: tuple[str, Origin]
) -> None:
    async with httpx.AsyncClient() as client:
        first = await client.post(proxy.url + "/echo?x=1", content=b"hello",
                                  headers={"Authorization": "Bearer t", "Last-Event-ID": "7",
                                           "Cookie": "access_token=c"})
        second = await client.get(proxy.url + "/echo2")
    assert first.json() == {"path": "/echo", "body": "hello"} and second.status_code == 200
    seen = origin[1].requests[-2]
    assert seen["method"] == "POST" and seen["query"] == "x=1"
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["authorization"] == "Bearer t" and headers["last-event-id"] == "7"
    assert headers["cookie"] == "access_token=c"
    assert proxy.stats.connections == 1 and proxy.stats.requests == 2, "keep-alive: one connection"


async def test_client_going_away_releases_the_origin_stream(proxy: FaultProxy, origin: tuple[str, Origin]) -> None:
    before = origin[1].disconnects
    async with httpx.AsyncClient() as client, client.stream("GET", proxy.url + "/hang") as response:
        async for chunk in response.aiter_bytes():
            assert chunk.startswith(b": hello")
            break
    await asyncio.to_thread(wait_until, lambda: origin[1].disconnects > before, 5,
                            message="origin to see the disconnect")
    await asyncio.to_thread(wait_until, lambda: proxy.stats.open_connections == 0, 5,
                            message="proxy to close the connection")


async def test_cut_all_ends_open_streams(proxy: FaultProxy) -> None:
    async with httpx.AsyncClient() as client, client.stream("GET", proxy.url + "/hang") as response:
        with pytest.raises(httpx.RemoteProtocolError):
            async for _ in response.aiter_bytes():
                assert await proxy.cut_all() == 1


def test_threaded_proxy_switches_from_503_to_pass_through_via_api_and_http(origin: tuple[str, Origin]) -> None:
    with run_in_thread(origin[0], ProxyMode(error_status=503)) as proxy:
        path = proxy.url + "/api/v1/sessions/s/status/stream"
        assert httpx.get(path).status_code == 503
        proxy.set_mode(error_status=None)
        assert httpx.get(path).status_code == 200
        response = httpx.put(proxy.url + CONTROL_PATH, json=["status=502", "latency=10"])
        assert response.json()["mode"] == ["latency=10", "status=502"]
        assert httpx.get(path).status_code == 502
        bad = httpx.put(proxy.url + CONTROL_PATH, json=["explode"])
        assert bad.status_code == 400 and "unknown proxy mode 'explode'" in bad.json()["detail"]
        assert httpx.put(proxy.url + CONTROL_PATH, json=[]).json()["description"] == "pass-through"
        assert httpx.get(path).status_code == 200


def test_cli_rejects_bad_input_without_a_traceback() -> None:
    run = subprocess.run([sys.executable, "-m", "sse_harness.cli", "proxy", "--upstream", "ftp://x",
                          "--port", "0"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "upstream must be an http:// or https:// URL" in run.stderr
    assert "Traceback" not in run.stderr
    run = subprocess.run([sys.executable, "-m", "sse_harness.cli", "proxy", "--upstream", "http://x",
                          "--mode", "nope"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "unknown proxy mode 'nope'" in run.stderr
