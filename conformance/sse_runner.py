"""The ``sse`` profile: any SSE stream URL, any payload.

One stream is opened with the user's credentials (``--header``, ``--cookie``, ``--token``); once its
headers arrive, ``--trigger-cmd`` (if any) runs so that events happen; the stream is held for
``--idle-s`` and then until its next byte (the heartbeat, or the next event) or until the idle limit
passed in silence. That one recording is judged for headers, timing, ids, buffering, heartbeat and idle
survival. When the stream carried ids, a second request reconnects with ``Last-Event-ID`` set to an id
a few events old and reports whether the server replays, restarts or ignores it.
"""

from __future__ import annotations

import asyncio
import shlex

import httpx

from conformance import checks
from conformance.catalog import BY_ID, select_checks
from conformance.client import StreamRecord, record_stream
from conformance.hooks import run_command
from conformance.model import CheckResult
from conformance.observations import Observations
from conformance.options import CheckOptions, SetupError

__all__ = ["SseRunner"]

#: how long the reconnect with Last-Event-ID is watched for its first events
RESUME_WINDOW_S = 3.0
#: a trigger command that runs longer than this is stopped (it should start something, not run it)
TRIGGER_TIMEOUT_S = 60.0


class SseRunner:
    def __init__(self, options: CheckOptions, client: httpx.AsyncClient) -> None:
        self.o = options
        self.client = client
        self.obs = Observations()
        self.trigger_result: str | None = None

    def request_headers(self) -> dict[str, str]:
        headers = self.o.parsed_headers()
        cookies = self.o.parsed_cookies()
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if self.o.token:
            headers["Authorization"] = f"Bearer {self.o.token}"
        return headers

    async def _trigger(self) -> None:
        """Run ``--trigger-cmd`` once; its failure is reported, it does not stop the observation."""
        assert self.o.trigger_cmd is not None
        self.trigger_result = await run_command(self.o.trigger_cmd, TRIGGER_TIMEOUT_S)

    async def record(self) -> StreamRecord:
        trigger: asyncio.Task[None] | None = None

        def on_chunk(record: StreamRecord) -> None:
            nonlocal trigger
            if trigger is None and self.o.trigger_cmd:
                trigger = asyncio.ensure_future(self._trigger())

        allowed = checks.heartbeat_allowed_s(self.o.idle_limit_s, self.o.expect_heartbeat_s)
        # the trigger starts at the first byte; a stream that sends nothing before its first event
        # would never see it, so start it with the headers at the latest
        headers_seen = asyncio.Event()
        recording = asyncio.ensure_future(record_stream(
            self.client, self.o.url, headers=self.request_headers(), window_s=self.o.idle_s + allowed + 2.0,
            hold_s=self.o.idle_s, silence_limit_s=allowed + 0.2, on_chunk=on_chunk,
            on_headers=lambda record: headers_seen.set()))
        waiter = asyncio.ensure_future(headers_seen.wait())
        try:
            await asyncio.wait({recording, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if trigger is None and self.o.trigger_cmd and not recording.done():
            trigger = asyncio.ensure_future(self._trigger())
        record = await recording
        if trigger is not None:
            await trigger
        return record

    async def resume(self, record: StreamRecord) -> None:
        ids = [a.event.id for a in record.events if a.event is not None and a.event.has_id and a.event.id]
        if not ids:
            return
        # an id a few events old: replay then differs from a server that just goes on live
        sent = ids[-3] if len(ids) >= 3 else ids[0]
        headers = {**self.request_headers(), "Last-Event-ID": sent}

        def got_events(r: StreamRecord) -> bool:
            return sum(1 for a in r.events if a.event is not None and a.event.has_id) >= 2

        again = await record_stream(self.client, self.o.url, headers=headers, window_s=RESUME_WINDOW_S,
                                    stop_when=got_events)
        self.obs.sse_resume = (again, sent, ids)

    async def run(self) -> list[CheckResult]:
        selected = select_checks(self.o.only, "sse")
        phases = {BY_ID[c].phase for c in selected}
        self.request_headers()  # raises SetupError naming a malformed --header or --cookie
        record = await self.record()
        self.obs.live = self.obs.idle = record
        if "resume-sse" in phases and record.opened:
            await self.resume(record)
        if self.o.trigger_cmd and self.trigger_result:
            # the events the user asked for did not happen as asked: judging a stream without them is no verdict
            raise SetupError(f"--trigger-cmd {shlex.quote(self.o.trigger_cmd)[:60]} {self.trigger_result}: "
                             "the events it should cause were not checked")
        return [BY_ID[c].judge(self.obs, self.o) for c in selected]
