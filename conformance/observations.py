"""What a run observed: the recordings and probe answers the judges read (``conformance.catalog``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.client import StreamRecord
from conformance.hooks import BusOutage, Shutdown
from conformance.probes import Probe
from conformance.slow_reader import SlowReading

__all__ = ["Observations"]


@dataclass
class Observations:
    #: contract: the stream of a fresh session whose job the checker started; sse: the one stream
    live: StreamRecord | None = None
    after_end: StreamRecord | None = None
    final_id: int | None = None
    #: contract: an idle session held until its next byte; sse: the same stream as ``live``
    idle: StreamRecord | None = None
    resumes: dict[str, tuple[StreamRecord, StreamRecord | None, int | None]] = field(default_factory=dict)
    #: sse: the reconnect with Last-Event-ID, the id sent, the ids seen before it
    sse_resume: tuple[StreamRecord | None, str | None, list[str]] = (None, None, [])
    poll: tuple[Probe | None, Probe | None] = (None, None)
    unauth: list[Probe] = field(default_factory=list)
    cross: list[Probe] = field(default_factory=list)
    cross_reason: str | None = None
    malformed: list[Probe] = field(default_factory=list)
    #: sessions.api: the "Sessions and jobs" requests in order
    api: list[Probe] = field(default_factory=list)
    cap: tuple[list[int], str | None] = ([], None)
    cors: tuple[Probe | None, Probe | None] = (None, None)
    #: open-stream counts from /streams/me: before, with one stream open, and polled after closing it
    release: tuple[int | None, int | None, list[int]] = (None, None, [])
    release_reason: str | None = None
    #: the stream of a job that goes silent longer than --stall-after-s
    stall: StreamRecord | None = None
    #: contract point 7: a stream that read nothing during a long job (None: not run)
    slow_reader: SlowReading | None = None
    #: an idle stream held up to --max-lifetime-s (and a little more) for the server to end it
    lifetime: StreamRecord | None = None
    #: --bus-down-cmd/--bus-up-cmd: the answers while Redis was down and the recovery (bus.down-503)
    bus: BusOutage | None = None
    #: --shutdown-cmd: the streams open at SIGTERM and the opens tried meanwhile (shutdown.sigterm)
    shutdown: Shutdown | None = None
    #: a precondition that failed: check id -> why it was not measured
    skipped: dict[str, str] = field(default_factory=dict)
