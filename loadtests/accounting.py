"""Per-stream sequence accounting and the per-process load counters. Pure Python, no I/O, no gevent.

A "watch" is one client following one session until its terminal status, across any number of HTTP
connections (a browser's EventSource is one watch that reconnects with Last-Event-ID). Sequence numbers
are per session and strictly increasing by one, so every id a watch receives is one of:

* the next one (``last + 1``) or the first one of the watch (the snapshot may start anywhere): in order;
* higher than the next one: the ids in between are *missing* (counted as gaps);
* a missing id arriving late: out of order (it fills its gap, so it stops counting as a gap);
* any other id at or below the last one: a duplicate.

Only the missing ids are kept per watch (empty in a healthy run), so 10,000 watches cost a few integers
each. Server-side coalescing for a client that fell behind also shows up as gaps: from the client's side
an event it never got is lost, whatever the reason, and the server's ``sse_events_coalesced_total`` metric
says which it was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

__all__ = ["LoadCounters", "SeqVerdict", "StreamTracker", "merge_counters"]


class SeqVerdict(Enum):
    IN_ORDER = "in_order"
    GAP = "gap"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"


@dataclass(slots=True)
class StreamTracker:
    """Sequence bookkeeping of one watch. ``observe`` returns the verdict and the change in gaps."""

    last_seq: int | None = None
    missing: set[int] = field(default_factory=set)
    events: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    resets: int = 0

    @property
    def gaps(self) -> int:
        return len(self.missing)

    def observe(self, seq: int) -> tuple[SeqVerdict, int]:
        """Account for one received id; returns ``(verdict, gaps_delta)``."""
        self.events += 1
        last = self.last_seq
        if last is None or seq == last + 1:
            self.last_seq = seq
            return SeqVerdict.IN_ORDER, 0
        if seq > last + 1:
            skipped = range(last + 1, seq)
            self.missing.update(skipped)
            self.last_seq = seq
            return SeqVerdict.GAP, len(skipped)
        if seq in self.missing:
            self.missing.discard(seq)
            self.out_of_order += 1
            return SeqVerdict.OUT_OF_ORDER, -1
        self.duplicates += 1
        return SeqVerdict.DUPLICATE, 0

    def reset(self) -> None:
        """The server said our Last-Event-ID is no longer retained (``event: reset``): what it skips next
        is lost to this client, so it still counts as gaps; this only records that it was announced."""
        self.resets += 1


#: Counter fields that add up across users and processes.
SUM_FIELDS: tuple[str, ...] = (
    "watches_started",
    "watches_terminal",
    "watches_abandoned",
    "watches_open",
    "watches_interrupted",
    "streams_opened",
    "streams_open",
    "events_received",
    "snapshots",
    "latency_unknown",
    "heartbeats",
    "gaps",
    "duplicates",
    "out_of_order",
    "resets",
    "reconnects",
    "polls",
    "polls_not_modified",
)
#: Dict fields (name -> count) that add up key by key.
DICT_FIELDS: tuple[str, ...] = ("errors", "terminal", "stream_ends", "events_by_type")


@dataclass(slots=True)
class LoadCounters:
    """What one Locust process counted. Gauges (``*_open``) go up and down; ``streams_peak`` is the most
    streams this process held at once; everything else only grows during a run."""

    watches_started: int = 0
    watches_terminal: int = 0
    watches_abandoned: int = 0
    watches_open: int = 0
    watches_interrupted: int = 0
    streams_opened: int = 0
    streams_open: int = 0
    streams_peak: int = 0
    #: ``event: status`` frames (snapshots included); every frame of any type is in ``events_by_type``.
    events_received: int = 0
    #: The state sent on a fresh connect (first status of a watch): no delivery time.
    snapshots: int = 0
    #: Statuses without a usable publish ``timestamp``: counted, their latency unknown (never the parse time).
    latency_unknown: int = 0
    heartbeats: int = 0
    gaps: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    resets: int = 0
    reconnects: int = 0
    polls: int = 0
    polls_not_modified: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    terminal: Counter[str] = field(default_factory=Counter)
    stream_ends: Counter[str] = field(default_factory=Counter)
    events_by_type: Counter[str] = field(default_factory=Counter)
    #: Highest ``streams_open`` since the last ``take_interval_peak`` (for cross-process peaks).
    interval_peak: int = 0

    def stream_opened(self) -> None:
        self.streams_opened += 1
        self.streams_open += 1
        if self.streams_open > self.streams_peak:
            self.streams_peak = self.streams_open
        if self.streams_open > self.interval_peak:
            self.interval_peak = self.streams_open

    def stream_closed(self, reason: str) -> None:
        self.streams_open -= 1
        self.stream_ends[reason] += 1

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    def apply(self, verdict: SeqVerdict, gaps_delta: int) -> None:
        self.gaps += gaps_delta
        if verdict is SeqVerdict.DUPLICATE:
            self.duplicates += 1
        elif verdict is SeqVerdict.OUT_OF_ORDER:
            self.out_of_order += 1

    def take_interval_peak(self) -> int:
        """The peak since the previous call, then start a new interval at the current level."""
        peak = max(self.interval_peak, self.streams_open)
        self.interval_peak = self.streams_open
        return peak

    def reset_all(self) -> None:
        fresh = LoadCounters()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON / msgpack safe) for reports to the Locust master and the summary."""
        out: dict[str, Any] = {name: getattr(self, name) for name in SUM_FIELDS}
        out["streams_peak"] = self.streams_peak
        for name in DICT_FIELDS:
            out[name] = dict(getattr(self, name))
        return out


def merge_counters(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Add up the ``as_dict`` of several processes. ``streams_peak`` becomes the largest single-process
    peak; the cross-process peak needs time-aligned samples, which the plugin tracks separately."""
    total: dict[str, Any] = {name: 0 for name in SUM_FIELDS}
    total["streams_peak"] = 0
    dicts: dict[str, Counter[str]] = {name: Counter() for name in DICT_FIELDS}
    for part in parts:
        for name in SUM_FIELDS:
            total[name] += int(part.get(name, 0))
        total["streams_peak"] = max(total["streams_peak"], int(part.get("streams_peak", 0)))
        for name in DICT_FIELDS:
            dicts[name].update({str(k): int(v) for k, v in dict(part.get(name) or {}).items()})
    for name in DICT_FIELDS:
        total[name] = dict(dicts[name])
    return total
