"""What one idle SSE stream costs the server: the app's own lean response next to Starlette's
StreamingResponse and sse-starlette, on the same uvicorn, with no Redis and no per-client pub/sub.

Each variant runs in a uvicorn process of its own (httptools + uvloop, as ``sse-harness serve``); this
process opens N streams on raw sockets (cheap: one socket each), waits until every stream sent its first
bytes, lets the server settle and reads the server's RSS (/proc). The cost per stream is the RSS growth
from a warm server holding ``WARM`` streams to one holding ``WARM + N``, divided by N — interpreter,
imports and first-use allocations are in the warm figure, not in the per-stream one.

Variants (all send their headers and one comment, then wait, idle, until the client goes away):

* ``app``: the reference app itself (``create_app`` with ``MemoryBus``): its lean ASGI fast path, one
  mailbox per stream, the supervisor's timers, auth and the per-user cap — what production holds per stream.
* ``asgi``: a bare ASGI app awaiting a queue in the request's own task (the app's design, without the app).
* ``streaming``: Starlette's ``StreamingResponse`` over an async generator (a task group per response).
* ``sse-starlette``: ``EventSourceResponse`` over an async generator (its ping, disconnect and stream tasks).

Usage: ``python scripts/bench_idle_streams.py [--streams 2000] [--json out.json]``. Exit 1 when a variant
did not open every stream (nothing is estimated for it). Keep N modest on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

VARIANTS = ("app", "asgi", "streaming", "sse-starlette")
WARM = 50
SETTLE_S = 2.0
USER = "bench"


# -- the servers (run in a child: ``python bench_idle_streams.py --serve VARIANT --fd N``) -------------------


def _bare_asgi() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        await send({"type": "http.response.body", "body": b": open\n\n", "more_body": True})
        queue: asyncio.Queue[bytes] = asyncio.Queue()  # nothing is ever published: an idle stream
        waiter = asyncio.ensure_future(queue.get())
        disconnect = asyncio.ensure_future(receive())
        await asyncio.wait({waiter, disconnect}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})  # ignored once gone

    return app


async def _idle_events() -> Any:
    yield ": open\n\n"
    await asyncio.Event().wait()  # idle until the response is cancelled (client gone)


def _streaming() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def stream(request: Any) -> StreamingResponse:
        return StreamingResponse(_idle_events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/{path:path}", stream)])


def _sse_starlette() -> Any:
    from sse_starlette.sse import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def events() -> Any:
        yield {"comment": "open"}
        await asyncio.Event().wait()

    async def stream(request: Any) -> EventSourceResponse:
        return EventSourceResponse(events(), ping=15)

    return Starlette(routes=[Route("/{path:path}", stream)])


def _reference_app() -> Any:
    from reference_app.app import create_app
    from reference_app.bus.memory import MemoryBus
    from reference_app.settings import Settings

    settings = Settings(sse_max_streams_per_user=1_000_000, sse_heartbeat_s=15, auth_dev_login=True)
    return create_app(settings, bus=MemoryBus())


def serve(variant: str, fd: int) -> None:
    import uvicorn

    apps = {"app": _reference_app, "asgi": _bare_asgi, "streaming": _streaming, "sse-starlette": _sse_starlette}
    uvicorn.run(apps[variant](), fd=fd, loop="uvloop", http="httptools", log_level="warning", lifespan="on",
                backlog=4096, timeout_keep_alive=5)


# -- the measuring side -----------------------------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _request(port: int, path: str, token: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join([*lines, "", ""])).encode()


async def _open(port: int, path: str, token: str | None, held: list[asyncio.StreamWriter],
                gate: asyncio.Semaphore) -> None:
    async with gate:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_request(port, path, token))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            writer.close()
            status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
            raise RuntimeError(f"stream answered {status_line}")
        await reader.read(1)  # the first body byte: the stream is open and has sent something
        held.append(writer)


async def _hold(port: int, path: str, token: str | None, count: int, held: list[asyncio.StreamWriter]) -> None:
    gate = asyncio.Semaphore(100)
    async with asyncio.timeout(120):
        await asyncio.gather(*(_open(port, path, token, held, gate) for _ in range(count)))


def _setup_app(base: str) -> tuple[str, str]:
    """Log in and create one session through the app's own API; its stream path and the token."""
    import httpx

    login = httpx.post(f"{base}/api/v1/auth/dev-login", json={"username": USER}, timeout=10)
    token = login.json()["access_token"]
    sid = httpx.post(f"{base}/api/v1/sessions", json={"title": "idle"},
                     headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["id"]
    return f"/api/v1/sessions/{sid}/status/stream", token


def measure(variant: str, streams: int) -> dict[str, Any]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", variant, "--fd", str(sock.fileno())],
                              pass_fds=[sock.fileno()])
    sock.close()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{variant}: the server did not start") from None
                time.sleep(0.1)
        path, token = _setup_app(base) if variant == "app" else ("/stream", None)
        held: list[asyncio.StreamWriter] = []

        async def run() -> tuple[int, int]:
            await _hold(port, path, token, WARM, held)
            await asyncio.sleep(SETTLE_S)
            warm = _rss_kb(server.pid)
            await _hold(port, path, token, streams, held)
            await asyncio.sleep(SETTLE_S)
            loaded = _rss_kb(server.pid)
            for writer in held:
                writer.close()
            return warm, loaded

        warm_kb, loaded_kb = asyncio.run(run())
        return {"variant": variant, "streams": streams, "rss_warm_mb": round(warm_kb / 1024, 1),
                "rss_loaded_mb": round(loaded_kb / 1024, 1),
                "kb_per_stream": round((loaded_kb - warm_kb) / streams, 1)}
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--variant", action="append", choices=VARIANTS, help="repeatable; default: all")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.serve:
        serve(args.serve, args.fd)
        return 0
    if args.streams < 1 or args.streams + WARM + 100 > hard:
        print(f"error: --streams must be between 1 and {hard - WARM - 100} (the open-file limit)",
              file=sys.stderr)
        return 2
    try:
        import sse_starlette  # noqa: F401
    except ImportError:
        print("error: sse-starlette is not installed (pip install -e '.[dev]')", file=sys.stderr)
        return 2
    results = []
    failed = False
    for variant in args.variant or VARIANTS:
        try:
            result = measure(variant, args.streams)
        except (RuntimeError, OSError, TimeoutError) as exc:
            print(f"error: {variant}: {exc}", file=sys.stderr)
            failed = True
            continue
        results.append(result)
        print(f"{variant:>14}: {result['kb_per_stream']:6.1f} KB per idle stream "
              f"({result['streams']} streams, RSS {result['rss_warm_mb']} -> {result['rss_loaded_mb']} MB)",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps({"python": sys.version.split()[0], "results": results}, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
