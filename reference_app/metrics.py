"""Prometheus metrics, one registry per app instance (tests build many apps in one process).

With ``sse-harness serve --workers N`` every worker is its own process and a scrape reaches whichever worker
accepts it, so the workers run in prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by
the parent): counters are summed over all workers, ``sse_active_streams`` is the sum over the live ones, and
the per-process figures that are computed at scrape time in a single process (CPU, RSS, asyncio tasks, the
shared subscriber's channels and connection) are sampled by each worker every second into gauges summed over
the live workers (``sse_subscriber_connected`` then counts the connected subscribers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Callable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _SubscriberCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self._stats = stats

    def collect(self):  # type: ignore[no-untyped-def]
        stats = self._stats()
        yield GaugeMetricFamily(
            "sse_subscribed_channels", "Redis channels the shared subscriber holds", value=stats["channels"]
        )
        yield GaugeMetricFamily(
            "sse_subscriber_connected", "1 when the shared subscriber is connected", value=stats["connected"]
        )


class _TaskCollector(Collector):
    """Live asyncio tasks of the serving loop, counted at scrape time: after every stream has ended it
    must fall back to its idle level (the fault suite checks it after 1,000 clients vanish at once)."""

    def collect(self):  # type: ignore[no-untyped-def]
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # rendered outside the event loop (tests): nothing to report
            return
        yield GaugeMetricFamily("sse_asyncio_tasks", "asyncio tasks alive in the serving event loop", value=tasks)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.multiprocess = multiprocess_dir() is not None
        self._samplers: dict[str, Callable[[], float]] = {}
        self._sampled: dict[str, Gauge] = {}
        if self.multiprocess:
            self._sample("process_cpu_seconds_total", "CPU seconds of the API workers (sampled every second)",
                         "sum", _cpu_seconds)
            self._sample("process_resident_memory_bytes", "RSS of the live API workers (sampled)", "livesum",
                         _rss_bytes)
            self._sample("sse_asyncio_tasks", "asyncio tasks alive in the live workers (sampled)", "livesum",
                         _task_count)
        else:
            # process_cpu_seconds_total / process_resident_memory_bytes: load tests compare server cost
            ProcessCollector(registry=r)
            r.register(_TaskCollector())
        self.active_streams = Gauge("sse_active_streams", "Open SSE status streams", registry=r,
                                    multiprocess_mode="livesum")
        self.streams_opened = Counter("sse_streams_opened", "SSE streams opened", registry=r)
        self.streams_rejected = Counter(
            "sse_streams_rejected", "SSE stream requests refused (429 per_user_cap; 503 queue_full, deadline, "
            "pool_saturated, redis_unreachable, bus_unavailable, shutting_down)", ["reason"], registry=r
        )
        self.opens_queued = Counter(
            "sse_stream_opens_queued", "Stream opens that waited in the admission queue for a Redis read slot",
            registry=r,
        )
        self.opens_admitted = Counter(
            "sse_stream_opens_admitted", "Stream opens admitted (their session view was read)", registry=r
        )
        self.redis_round_trips = Counter(
            "sse_redis_round_trips", "Redis round trips made by the stream path (open_view = record + snapshot "
            "+ replay in one MULTI/EXEC; lease_* = cap leases, batched)", ["op"], registry=r,
        )
        self.events_sent = Counter("sse_events_sent", "Status events written to streams", registry=r)
        self.events_replayed = Counter(
            "sse_events_replayed", "Status events replayed from the log (resume or resync)", registry=r
        )
        self.events_coalesced = Counter(
            "sse_events_coalesced",
            "Progress updates dropped for slow clients (latest wins); counted when each stream ends",
            registry=r,
        )
        self.heartbeats_sent = Counter("sse_heartbeats_sent", "Heartbeat comments written", registry=r)
        self.slow_clients_disconnected = Counter(
            "sse_slow_clients_disconnected", "Streams ended because a write blocked past the send timeout",
            registry=r,
        )
        self.redis_reconnects = Counter(
            "sse_redis_reconnects", "Reconnects of the shared Redis subscriber", registry=r
        )

    def _sample(self, name: str, doc: str, mode: Literal["sum", "livesum"], read: Callable[[], float]) -> None:
        self._sampled[name] = Gauge(name, doc, registry=self.registry, multiprocess_mode=mode)
        self._samplers[name] = read

    def watch_subscriber(self, stats: Callable[[], dict[str, int]]) -> None:
        if not self.multiprocess:
            self.registry.register(_SubscriberCollector(stats))
            return
        self._sample("sse_subscribed_channels", "Redis channels the shared subscribers hold (sampled)", "livesum",
                     lambda: stats()["channels"])
        self._sample("sse_subscriber_connected", "connected shared subscribers, one per live worker (sampled)",
                     "livesum", lambda: stats()["connected"])

    def sample(self) -> None:
        for name, read in self._samplers.items():
            with contextlib.suppress(Exception):  # a sample that cannot be read keeps its last value
                self._sampled[name].set(read())

    async def run_sampler(self, interval_s: float = 1.0) -> None:
        """Multiprocess mode only: keep this worker's sampled gauges current (started by the app)."""
        while self.multiprocess:
            self.sample()
            await asyncio.sleep(interval_s)

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        self.sample()
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_bytes() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _task_count() -> float:
    return len(asyncio.all_tasks())
