"""HTTP/2 forbids the ``Connection`` header (RFC 9113 8.2.2); servers that copy their HTTP/1.1 headers
send it anyway and some clients then reject the response (NestJS #17588). No real server here sends
it on HTTP/2 (nginx strips it), so this test speaks HTTP/2 itself with the ``h2`` library — outbound
header validation switched off — to show that ``headers.connection-h2`` fails on exactly that."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest

from conformance import CheckOptions, Outcome, run

pytestmark = [
    pytest.mark.integration, pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed for a test certificate"),
]

SESSION = "00000000-0000-4000-8000-000000000000"
FRAME = (b"retry: 1000\n\nid: 1\nevent: status\ndata: {\"session_id\":\"s\",\"seq\":1,\"status\":\"pending\","
         b"\"progress\":0,\"message\":\"\",\"timestamp\":\"2026-01-01T00:00:00.000000Z\"}\n\n")


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, send_connection: bool) -> None:
    config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8",
                                       validate_outbound_headers=False, normalize_outbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    try:
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if not isinstance(event, h2.events.RequestReceived):
                    continue
                path = dict(event.headers)[":path"]
                headers = [(":status", "200"), ("content-type", "text/event-stream; charset=utf-8"),
                           ("cache-control", "no-cache, no-transform")]
                if "/status/stream" in path:
                    if send_connection:
                        headers.append(("connection", "keep-alive"))
                    conn.send_headers(event.stream_id, headers)
                    conn.send_data(event.stream_id, FRAME)
                else:
                    conn.send_headers(event.stream_id, [(":status", "200"), ("content-length", "0")], end_stream=True)
            writer.write(conn.data_to_send())
            await writer.drain()
    except (ConnectionError, h2.exceptions.ProtocolError):
        pass
    finally:
        writer.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    return cert, key


@pytest.fixture
async def h2_server(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[str, dict[str, bool]]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    settings = {"send_connection": True}
    server = await asyncio.start_server(lambda r, w: _handle(r, w, settings["send_connection"]),
                                        "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"https://127.0.0.1:{port}", settings
    server.close()


async def check(url: str) -> dict[str, tuple[Outcome, str]]:
    report = await run(CheckOptions(url, trigger="none", session=SESSION, insecure=True, idle_s=1.0,
                                    idle_limit_s=2.0,
                                    only=["stream.open", "headers.connection-h2"]))
    return {r.id: (r.outcome, r.message) for r in report.results}


async def test_connection_header_on_http2_fails(h2_server: tuple[str, dict[str, bool]]) -> None:
    url, settings = h2_server
    results = await check(url)
    outcome, message = results["headers.connection-h2"]
    assert outcome is Outcome.FAIL
    assert message.startswith("Connection: keep-alive on HTTP/2: forbidden (RFC 9113 8.2.2)")

    settings["send_connection"] = False
    results = await check(url)
    assert results["headers.connection-h2"] == (Outcome.PASS, "HTTP/2 without a Connection header")
    assert results["stream.open"] == (Outcome.PASS, "200 over HTTP/2")
