"""The stream side of the storm phase of ``sse-harness bench capacity``, run inside ``loadtests.bench_client``
(a gevent-patched process): cut every stream at once, then reconnect every viewer at once with its
Last-Event-ID, as browsers do after a deploy ends the old instance's streams.

Commands (answered with one JSON line each):

* ``storm_prepare``: a new measurement phase (events counted from here), baseline of gaps and duplicates;
* ``storm_cut TIMEOUT_S``: close every connection in the same instant, reconnect them all at once (no
  connect gate) with ``Last-Event-ID`` = the last id each received; answer when every viewer is live again
  (200 and the opening write received) or the timeout passed. A refused open (503, 429) is counted and
  retried after its ``Retry-After`` as the reference browser client does; "resumed" counts viewers live again.
* ``storm_check {"session_id": events_expected, ...} TIMEOUT_S``: wait until every stream has the events
  published during the phase, then the phase's lost events, and the gaps and duplicates added since
  ``storm_prepare`` (the replay across the cut must add neither).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import gevent

from loadtests.transport import ConnectFailed, RawConnection

if TYPE_CHECKING:
    from loadtests.bench_client import Client, Stream

__all__ = ["command"]

_baseline: dict[str, int] = {}


def command(client: Client, name: str, rest: str) -> dict[str, Any]:
    if name == "storm_prepare":
        client.new_phase()
        _baseline.update(gaps=_total(client, "gaps"), duplicates=_total(client, "duplicates"))
        return {"event": "ready", "phase": "storm"}
    if name == "storm_cut":
        return cut_and_resume(client, float(rest or 60))
    if name == "storm_check":
        payload, _, timeout = rest.rpartition(" ")
        report = client.report(json.loads(payload), float(timeout))
        report.update(event="storm_check", gaps=_total(client, "gaps") - _baseline.get("gaps", 0),
                      duplicates=_total(client, "duplicates") - _baseline.get("duplicates", 0))
        return report
    return {"event": "error", "detail": f"unknown storm command {name!r}"}


def _total(client: Client, field: str) -> int:
    return sum(getattr(s.tracker, field) for s in client.streams if s.connect_ms)


class _Outcome:
    __slots__ = ("attempts", "live_ms", "refused")

    def __init__(self) -> None:
        self.live_ms: float | None = None
        self.refused: Counter[str] = Counter()
        self.attempts = 0


def cut_and_resume(client: Client, timeout: float) -> dict[str, Any]:
    viewers = [s for s in client.streams if s.conn is not None and not s.ended]
    cut_started = time.perf_counter()
    for stream in viewers:
        if stream.conn is not None:
            stream.conn.close()  # the greenlet reading it gets an error at once and ends
    gevent.joinall(client.greenlets, timeout=30)
    cut_s = time.perf_counter() - cut_started
    for stream in viewers:
        stream.decode()  # whatever arrived before the cut counts
    outcomes = [_Outcome() for _ in viewers]
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    client.greenlets = [gevent.spawn(_resume, client, stream, outcome, started, deadline)
                        for stream, outcome in zip(viewers, outcomes, strict=True)]
    while time.monotonic() < deadline and any(o.live_ms is None for o in outcomes):
        gevent.sleep(0.01)
    live = sorted(o.live_ms for o in outcomes if o.live_ms is not None)
    refused: Counter[str] = Counter()
    for outcome in outcomes:
        refused.update(outcome.refused)

    def at(q: float) -> float | None:
        return round(live[min(len(live) - 1, int(q * len(live)))], 1) if live else None

    return {"event": "storm", "viewers": len(viewers), "resumed": len(live),
            "refused": sum(refused.values()), "refused_by": dict(refused),
            "first_try": sum(1 for o in outcomes if o.live_ms is not None and o.attempts == 1),
            "all_live_s": round(live[-1] / 1000, 3) if len(live) == len(viewers) and live else None,
            "live_ms": {"p50": at(0.5), "p99": at(0.99), "max": at(1.0)}, "cut_s": round(cut_s, 3)}


def _resume(client: Client, stream: Stream, outcome: _Outcome, started: float, deadline: float) -> None:
    """Reconnect one viewer with its Last-Event-ID until it is live (or the deadline), then follow it."""
    stream.ended, stream.error = False, ""
    path, headers = client.stream_request(stream)
    if stream.tracker.last_seq is not None:
        headers["Last-Event-ID"] = str(stream.tracker.last_seq)
    with client.ending(stream):
        while time.monotonic() < deadline:
            outcome.attempts += 1
            try:
                conn = RawConnection.open(client.target, path, headers, max(1.0, deadline - time.monotonic()))
            except ConnectFailed as exc:
                outcome.refused[f"connect_{exc.kind}"] += 1
                gevent.sleep(1.0)
                continue
            if conn.status != 200:
                outcome.refused[f"http_{conn.status}"] += 1
                retry_after = conn.headers.get("retry-after", "1")
                conn.close()
                gevent.sleep(float(retry_after) if retry_after.isdigit() else 1.0)
                continue
            stream.conn = conn
            data = conn.read(max(1.0, deadline - time.monotonic()))  # the opening write: retry + replay
            if not data:
                stream.error = "closed_before_opening"
                return
            outcome.live_ms = (time.perf_counter() - started) * 1000
            stream.chunks.append((time.time(), data))
            client.follow(stream, conn)
            return
