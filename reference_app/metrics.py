"""Prometheus metrics, one registry per app instance (tests build many apps in one process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # process_cpu_seconds_total / process_resident_memory_bytes: load tests compare server cost
        ProcessCollector(registry=r)
        r.register(_TaskCollector())
        self.active_streams = Gauge("sse_active_streams", "Open SSE status streams", registry=r)
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

    def watch_subscriber(self, stats: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_SubscriberCollector(stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)
