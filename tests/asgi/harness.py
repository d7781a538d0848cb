"""Drive the ASGI app directly (no sockets): full control over receive/send to test the stream lifecycle."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from reference_app.app import create_app
from reference_app.auth import issue_token
from reference_app.bus.memory import MemoryBus
from reference_app.job_queue import InlineJobQueue
from reference_app.settings import Settings
from sse_contract.wire import Event, SSEDecoder


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"auth_dev_login": True, "auth_secret": "asgi-test-secret-0123456789abcdefghijklmnop",
                            "sse_heartbeat_s": 5.0, "sse_send_timeout_s": 2.0}
    return Settings(**{**base, **overrides})


def make_app(bus: MemoryBus | None = None, **overrides: Any) -> tuple[FastAPI, MemoryBus, Settings]:
    settings = make_settings(**overrides)
    bus = bus or MemoryBus()
    return create_app(settings, bus=bus, jobs=InlineJobQueue(bus)), bus, settings


def auth_header(settings: Settings, user: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {issue_token(user, settings.auth_secret, 600)}".encode())


@dataclass
class StreamCall:
    """One in-flight request against the app, with a controllable client side."""

    app: FastAPI
    path: str
    headers: list[tuple[bytes, bytes]]
    query: bytes = b""
    sent: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    send_gate: asyncio.Event | None = None  # when set, send() blocks until the gate opens (slow client)
    task: asyncio.Task[None] | None = None
    decoder: SSEDecoder = field(default_factory=SSEDecoder)
    body: bytearray = field(default_factory=bytearray)
    events: list[Event] = field(default_factory=list)

    def start(self) -> StreamCall:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": self.path, "raw_path": self.path.encode(), "query_string": self.query,
            "root_path": "", "headers": self.headers, "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 80), "state": {},
        }
        first = True

        async def receive() -> dict[str, Any]:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b"", "more_body": False}
            await self.disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if self.send_gate is not None and message["type"] == "http.response.body":
                await self.send_gate.wait()
            await self.sent.put(message)

        self.task = asyncio.create_task(self.app(scope, receive, send))  # type: ignore[arg-type]
        return self

    async def status(self, timeout: float = 2.0) -> int:
        async with asyncio.timeout(timeout):
            start = await self.sent.get()
        assert start["type"] == "http.response.start"
        self.start_message = start
        return int(start["status"])

    async def next_body(self, timeout: float = 2.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            message = await self.sent.get()
        self.body += message.get("body", b"")
        self.events += [i for i in self.decoder.feed(message.get("body", b"")) if isinstance(i, Event)]
        return message

    async def events_until(self, predicate: Any, timeout: float = 3.0) -> list[Event]:
        """All events so far, reading until ``predicate(events)`` holds or the response ends."""
        async with asyncio.timeout(timeout):
            while not predicate(self.events):
                message = await self.next_body(timeout)
                if not message.get("more_body", False):
                    break
        return self.events

    async def finished(self, timeout: float = 2.0) -> None:
        assert self.task is not None
        async with asyncio.timeout(timeout):
            await self.task
