"""Hostile and malformed requests against the real server (uvicorn + httptools, the API process as deployed),
sent byte for byte over raw sockets so no client library tidies them up first.

The promise: a 4xx, or the odd part ignored — never a 5xx, never a traceback, and the server keeps serving.
What uvicorn itself does is pinned too (docs/reliability.md quotes it): it refuses request lines over its
limit (400) but has no limit on header size, so a proxy in front must cap headers (nginx does by default).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import httpx
import pytest

from conftest import bearer
from reference_app.api_client import new_session
from reference_app.launcher import TEST_SECRET, ApiProcess
from sse_contract.wire import Event, SSEDecoder

pytestmark = pytest.mark.integration


def exchange(api: ApiProcess, data: bytes, timeout: float = 10.0) -> tuple[int | None, bytes]:
    """Send raw bytes; the response status (None if the server closed without one) and what came back
    before the body, plus the first body bytes."""
    with socket.create_connection((api.host, api.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        try:
            while b"\r\n\r\n" not in received or len(received) < received.find(b"\r\n\r\n") + 200:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
    if not received.startswith(b"HTTP/1.1 "):
        return None, received
    return int(received[9:12]), received


def request(api: ApiProcess, token: str, path: str, *headers: str, method: str = "GET", body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {api.host}:{api.port}", f"Authorization: Bearer {token}",
             "Connection: close", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_no_leak(raw: bytes) -> None:
    assert TEST_SECRET.encode() not in raw and b"Traceback" not in raw and b'File "' not in raw


MALFORMED_IDS = ["abc", "-1", "1.5", "1e3", "0x10", "+3", "\uff13", "9" * 19, "9" * 5000, "", " ", "1,2", "NaN",
                 "null", "0" * 64 + "x"]


@pytest.mark.parametrize("via", ["header", "query"])
def test_malformed_last_event_id_counts_as_absent(api: ApiProcess, token_for: Callable[[str], str], via: str) -> None:
    """Anything but a plain non-negative integer: a fresh connect (snapshot), on the real server too."""
    token = token_for("alice")
    sid = new_session(api.url, token)
    with httpx.Client(timeout=10) as http:
        for bad in MALFORMED_IDS:
            headers = bearer(token, {"Last-Event-ID": bad} if via == "header" else None)
            params = {"lastEventId": bad} if via == "query" else None
            if via == "header" and (not bad.isascii() or bad != bad.strip()):
                continue  # httpx will not send such a header; the raw-socket test below does
            with http.stream("GET", f"{api.url}/api/v1/sessions/{sid}/status/stream", headers=headers,
                             params=params) as response:
                assert response.status_code == 200, (bad, response.status_code)
                decoder = SSEDecoder()
                events: list[Event] = []
                for chunk in response.iter_raw():
                    events += [i for i in decoder.feed(chunk) if isinstance(i, Event)]
                    if events:
                        break
            assert (events[0].event, events[0].id) == ("status", "1"), f"{bad!r} was not ignored"


def test_a_valid_but_impossible_id_gets_reset_and_snapshot(api: ApiProcess, token_for: Callable[[str], str]) -> None:
    token = token_for("alice")
    sid = new_session(api.url, token)
    status, raw = exchange(api, request(api, token, f"/api/v1/sessions/{sid}/status/stream",
                                        "Last-Event-ID: 999999999999999999"))
    assert status == 200
    events = [i for i in SSEDecoder().feed(raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[1])
              if isinstance(i, Event)]
    assert events[0].event == "reset" and json.loads(events[0].data)["requested"] == 999999999999999999


def hostile_requests(api: ApiProcess, token: str, sid: str) -> dict[str, tuple[bytes, set[int]]]:
    """name -> (raw request, the statuses that are acceptable). 200 = the oddity was ignored."""
    status = f"/api/v1/sessions/{sid}/status"
    stream = f"{status}/stream"
    return {
        "header of 100 KB": (request(api, token, status, "X-Big: " + "a" * 100_000), {200, 400, 431}),
        "header of 1 MB": (request(api, token, status, "X-Big: " + "a" * 1_000_000), {200, 400, 431}),
        "2,000 headers": (request(api, token, status, *(f"X-H{i}: v" for i in range(2000))), {200, 400, 431}),
        "Last-Event-ID of 50 KB": (request(api, token, stream, "Last-Event-ID: " + "9" * 50_000), {200}),
        "Last-Event-ID with raw non-ASCII bytes": (request(api, token, stream, "Last-Event-ID: \xff\xfe1"), {200}),
        "Authorization of 100 KB": (request(api, "x" * 100_000, status), {401}),
        "query string of 100 KB": (request(api, token, f"{status}?q={'a' * 100_000}"), {400, 414}),
        "query string of 1 MB": (request(api, token, f"{stream}?lastEventId={'9' * 1_000_000}"), {400, 414}),
        "path of 100 KB": (request(api, token, "/api/v1/sessions/" + "a" * 100_000 + "/status"), {400, 404, 414}),
        "percent-encoded invalid UTF-8 id": (request(api, token, "/api/v1/sessions/%ff%fe/status/stream"), {422}),
        "raw 0xff byte in the path": (request(api, token, "/api/v1/sessions/\xff/status"), {400}),
        "NUL in a header value": (request(api, token, status, "X-A: a\x00b"), {400}),
        "CR injected in a header value": (request(api, token, status, "X-A: a\rb"), {400}),
        "garbage request line": (b"GARBAGE\r\n\r\n", {400}),
        "request line without a version": (b"GET /healthz\r\n\r\n", {200, 400}),  # llhttp reads it as 1.x
        "Content-Length with Transfer-Encoding (smuggling)": (request(
            api, token, "/api/v1/sessions", "Transfer-Encoding: chunked", "Content-Type: application/json",
            method="POST", body=b"{}"), {400}),
        "5 MB JSON body": (request(api, token, "/api/v1/sessions", "Content-Type: application/json", method="POST",
                                   body=b'{"title": "' + b"a" * 5_000_000 + b'"}'), {422}),
        "body that is not JSON": (request(api, token, "/api/v1/sessions", "Content-Type: application/json",
                                          method="POST", body=b"{not json"), {422}),
        "body that is not UTF-8": (request(api, token, "/api/v1/sessions", "Content-Type: application/json",
                                           method="POST", body=b"\xff\xfe\xfd"), {400, 422}),
        "deeply nested JSON": (request(api, token, f"{status[:-7]}/transcribe", "Content-Type: application/json",
                                       method="POST", body=b"[" * 100_000 + b"]" * 100_000), {400, 422}),
    }


def test_hostile_requests_get_4xx_or_are_ignored_never_5xx(api: ApiProcess, token_for: Callable[[str], str]) -> None:
    token = token_for("alice")
    sid = new_session(api.url, token)
    outcomes: dict[str, int | None] = {}
    for name, (data, acceptable) in hostile_requests(api, token, sid).items():
        status, raw = exchange(api, data)
        outcomes[name] = status
        assert status is not None and status in acceptable, f"{name}: {status} not in {acceptable}"
        assert_no_leak(raw)
    # the server is unharmed: it still answers and streams
    assert httpx.get(f"{api.url}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{api.url}/api/v1/sessions/{sid}/status", headers=bearer(token), timeout=10).json()["seq"] == 1
