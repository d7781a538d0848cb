"""SLO gates: ``NAME=VALUE`` limits evaluated against a load summary. Pure Python.

Most metrics are "at most" limits (latency, gaps, errors). A few measure how much load was achieved and
are "at least" limits (``streams_peak=500`` means at least 500 streams were open at once), so a run that
quietly failed to generate the load cannot pass its gate. A metric without samples fails its gate ("no
samples"): no latency without events, and ``gaps=0`` over zero status events or ``error_rate=0.001`` over
zero attempts says nothing — an SLO that cannot be checked has not been met.

The metric table is data: ``sse-harness load`` uses ``METRICS``, ``sse-harness bench capacity`` its own
table with the same syntax and the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["METRICS", "SLOError", "SLOSpec", "evaluate", "parse_slo", "parse_slos"]

Direction = Literal["max", "min"]


class SLOError(ValueError):
    """A malformed or unknown SLO; the message names the problem and the valid names."""


def _path(*keys: str) -> Callable[[Mapping[str, Any]], float | None]:
    def get(summary: Mapping[str, Any]) -> float | None:
        value: Any = summary
        for key in keys:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        return None if value is None else float(value)

    return get


Getter = Callable[[Mapping[str, Any]], float | None]


@dataclass(frozen=True)
class Metric:
    direction: Direction
    get: Getter
    help: str
    #: How many samples the value rests on (None: the value itself is the sample, e.g. a peak).
    samples: Getter | None = None


_STATUSES = _path("events_received")
_ATTEMPTS = _path("requests", "attempts")
_LATENCY = _path("latency_ms", "count")
_CONNECT = _path("connect_ms", "count")


METRICS: dict[str, Metric] = {
    "p50_latency_ms": Metric("max", _path("latency_ms", "p50"), "median publish-to-receive latency", _LATENCY),
    "p95_latency_ms": Metric("max", _path("latency_ms", "p95"), "95th percentile event latency", _LATENCY),
    "p99_latency_ms": Metric("max", _path("latency_ms", "p99"), "99th percentile event latency", _LATENCY),
    "max_latency_ms": Metric("max", _path("latency_ms", "max"), "worst event latency", _LATENCY),
    "p50_connect_ms": Metric("max", _path("connect_ms", "p50"), "median time to response headers", _CONNECT),
    "p95_connect_ms": Metric("max", _path("connect_ms", "p95"), "95th percentile time to headers", _CONNECT),
    "p99_connect_ms": Metric("max", _path("connect_ms", "p99"), "99th percentile time to headers", _CONNECT),
    "gaps": Metric("max", _path("gaps"), "event ids never received", _STATUSES),
    "duplicates": Metric("max", _path("duplicates"), "event ids received twice", _STATUSES),
    "out_of_order": Metric("max", _path("out_of_order"), "ids received after a higher id", _STATUSES),
    "errors": Metric("max", _path("errors"), "failed operations of any type", _ATTEMPTS),
    "error_rate": Metric("max", _path("error_rate"), "failed operations / attempted operations", _ATTEMPTS),
    "resets": Metric("max", _path("resets"), "'event: reset' (Last-Event-ID no longer retained)", _STATUSES),
    "unfinished": Metric("max", _path("watches", "open_at_stop"), "watches still without a terminal "
                         "status when the run stopped", _path("watches", "started")),
    "streams_peak": Metric("min", _path("streams_peak"), "at least this many streams open at once"),
    "events_received": Metric("min", _path("events_received"), "at least this many status events"),
    "watches_terminal": Metric("min", _path("watches", "terminal"), "at least this many jobs followed "
                               "to their terminal status"),
}


@dataclass(frozen=True)
class SLOSpec:
    name: str
    limit: float
    direction: Direction = "max"


def _known(metrics: Mapping[str, Metric] = METRICS) -> str:
    return ", ".join(metrics)


def parse_slo(text: str, metrics: Mapping[str, Metric] = METRICS) -> SLOSpec:
    """Parse ``NAME=VALUE``; raise ``SLOError`` naming what is wrong."""
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name or not raw:
        raise SLOError(f"SLO {text!r} is not NAME=VALUE (e.g. gaps=0); known names: {_known(metrics)}")
    if name not in metrics:
        raise SLOError(f"unknown SLO {name!r}; known names: {_known(metrics)}")
    try:
        limit = float(raw)
    except ValueError:
        raise SLOError(f"SLO {name}: {raw!r} is not a number") from None
    if not math.isfinite(limit) or limit < 0:
        raise SLOError(f"SLO {name}: the limit must be a finite number >= 0, got {raw!r}")
    return SLOSpec(name, limit, metrics[name].direction)


def parse_slos(items: Iterable[str], metrics: Mapping[str, Metric] = METRICS) -> list[SLOSpec]:
    """Parse several specs; each item may itself hold a comma-separated list. A name given twice is an
    error (which one would win is not obvious)."""
    specs: list[SLOSpec] = []
    for item in items:
        for part in item.split(","):
            if part.strip():
                specs.append(parse_slo(part, metrics))
    names = [s.name for s in specs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SLOError(f"SLO given more than once: {', '.join(duplicated)}")
    return specs


def evaluate(specs: Iterable[SLOSpec], summary: Mapping[str, Any],
             metrics: Mapping[str, Metric] = METRICS) -> dict[str, dict[str, Any]]:
    """``{name: {"limit", "value", "pass", "direction", "samples", "reason"}}``; a value without samples
    (or missing) fails with the reason "no samples"."""
    results: dict[str, dict[str, Any]] = {}
    for spec in specs:
        metric = metrics[spec.name]
        value = metric.get(summary)
        samples = None if metric.samples is None else metric.samples(summary)
        reason = ""
        if value is None or samples == 0:
            passed, reason = False, "no samples"
            value = None
        elif metric.direction == "max":
            passed = value <= spec.limit
        else:
            passed = value >= spec.limit
        results[spec.name] = {"limit": spec.limit, "value": value, "pass": passed,
                              "direction": metric.direction,
                              "samples": None if samples is None else int(samples), "reason": reason}
    return results
