"""The contract test app's switchable flaws, and the wire-level pieces a flaw changes: how a status is
framed and numbered, and what wraps the body (compression, a lifetime end, a cut).

Kept apart from ``contract_app`` (the routes) so that each flaw reads as one line of one declaration.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sse_contract.status import StatusUpdate
from sse_contract.wire import encode_event

CAP = 20
ID_OFFSET = 1000
#: the late_release flaw: how long a closed stream still counts (the checker waits 2 s)
LATE_RELEASE_S = 4.0
#: point 7: a stream write blocked this long ends the stream (the reference app's SSE_SEND_TIMEOUT_S)
SEND_TIMEOUT_S = 1.0
#: point 5: a stream ends cleanly after 80-100 % of this (longer than any other check holds a stream)
LIFETIME_S = 8.0


@dataclass(frozen=True)
class Flaws:
    # -- the stream's headers
    content_type: str = "text/event-stream; charset=utf-8"
    cache_control: str = "no-cache, no-transform"
    no_x_accel: bool = False
    content_length: bool = False
    gzip: bool = False
    #: gzip with a sync flush after every write: events arrive on time, but compressed
    gzip_flush: bool = False
    # -- authentication
    no_auth: bool = False
    no_www_authenticate: bool = False
    forbid_foreign: bool = False
    foreign_body_differs: bool = False
    malformed_id_500: bool = False
    # -- sessions and jobs
    no_409: bool = False
    session_without_created_at: bool = False
    no_etag: bool = False
    no_304: bool = False
    transcribe_html_422: bool = False
    poll_cache_control: str = "no-cache"
    # -- a status
    no_timestamp: bool = False
    event_name: str = "status"
    id_not_seq: bool = False
    # -- 1. at once
    no_retry: bool = False
    first_event_delay_s: float = 0.0
    reset_on_resume: bool = False
    bad_last_event_id_500: bool = False
    # -- 2. ids
    no_ids: bool = False
    id_step: int = 1
    drop_every: int = 0
    duplicate_live: bool = False
    duplicate_on_resume: bool = False
    replay_skips_one: bool = False
    # -- 3. heartbeat
    no_heartbeat: bool = False
    # -- 4. end
    keep_open_after_end: bool = False
    no_204: bool = False
    # -- 5. lifetime: the connection is cut (not ended) after this long; or streams live forever
    cut_after_s: float = 0.0
    no_lifetime: bool = False
    # -- 6. per-user cap
    no_cap: bool = False
    cap_no_retry_after: bool = False
    # -- 7. a write that blocks (the client stopped reading) never ends the stream
    no_send_timeout: bool = False
    # -- 7. the send timeout stops writing but leaves the connection open (uvicorn's close() waits to flush)
    send_timeout_leaves_open: bool = False
    #: a 422 for a job of more steps than this (0: any length): the slow reader's long job refused
    max_steps: int = 0
    #: GET .../status resets the connection once a job ran (a network error in the slow reader's poll)
    status_resets_after_job: bool = False
    # -- 9. a client that goes away is noticed only when the stream next writes
    late_release: bool = False
    # -- 10. no event: stalled for a silent job
    no_stalled: bool = False
    # -- 11. the status bus down (``POST /_test/bus/down`` and ``/up``)
    bus_down_streams_200: bool = False
    bus_down_no_retry_after: bool = False
    bus_down_no_reason: bool = False
    healthz_ignores_bus: bool = False
    bus_down_routes_500: bool = False
    #: once down, the bus never comes back (a subscriber that does not reconnect)
    no_recovery: bool = False
    #: after the bus came back, live statuses no longer reach streams (a pub/sub subscriber that never
    #: reconnected); snapshots and /healthz, plain reads, are fine
    no_live_after_bus: bool = False
    # -- 8. SIGTERM (only in its own process: tests/conformance/contract_server.py)
    #: the app never hears of SIGTERM: uvicorn waits for streams that never end
    ignore_sigterm: bool = False
    #: streams are broken off (no final chunk) instead of ended
    sigterm_cuts: bool = False
    #: new streams during shutdown are accepted (200) instead of 503
    shutdown_accepts_streams: bool = False
    #: streams end and new opens get 503 shutting_down, but the process never exits
    shutdown_never_exits: bool = False


#: the clean app: no flaw switched on
CLEAN = Flaws()


def frame(update: StatusUpdate, flaws: Flaws) -> bytes:
    data = update.model_dump(mode="json")
    if flaws.no_timestamp:
        data.pop("timestamp")
    seq = data["seq"] = update.seq * flaws.id_step
    if flaws.id_not_seq:
        seq += ID_OFFSET
    return encode_event(json.dumps(data), event=flaws.event_name, id=None if flaws.no_ids else seq)


def last_id(raw: str | None, flaws: Flaws) -> int | None:
    """The seq a Last-Event-ID names, read the way this (possibly flawed) server numbers its ids."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) >= 12:
        return None
    return (int(raw) - (ID_OFFSET if flaws.id_not_seq else 0)) // flaws.id_step


async def gzip_body(body: AsyncIterator[bytes], flush: bool = False) -> AsyncIterator[bytes]:
    """What a GZip middleware does to a stream: compress without flushing, so events wait in deflate
    (``flush``: a sync flush after every write, as nginx's gzip filter does)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    async for chunk in body:
        out = compressor.compress(chunk) + (compressor.flush(zlib.Z_SYNC_FLUSH) if flush else b"")
        if out:
            yield out
    yield compressor.flush()


async def end_after(body: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """The stream's lifetime: after ``seconds`` the body ends cleanly (the final chunk is sent)."""
    deadline = asyncio.get_running_loop().time() + seconds
    iterator = body.__aiter__()
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await iterator.__anext__()
            except (StopAsyncIteration, TimeoutError):
                return
            yield chunk
    finally:
        await iterator.aclose()  # type: ignore[attr-defined]


async def cut_after(body: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """A stream whose connection breaks (no clean end) after ``seconds``: raising mid-body makes uvicorn
    drop the connection without the final chunk."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    iterator = body.__aiter__()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ConnectionAbortedError("lifetime flaw: cut") from None
        yield chunk
