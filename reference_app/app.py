"""Assembles the app: settings, bus, job queue, metrics, routers. No logic here.

Only pure-ASGI middleware may be added: ``BaseHTTPMiddleware`` wraps every response in a task group,
which breaks streaming disconnect handling and multiplies per-stream memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from reference_app import __version__
from reference_app.api import auth_routes, health, sessions, streams
from reference_app.auth import Authenticate, authenticate_jwt
from reference_app.bus.protocol import StatusBus
from reference_app.errors import store_unavailable, validation_error
from reference_app.job_queue import CeleryJobQueue, InlineJobQueue, JobQueue
from reference_app.metrics import Metrics
from reference_app.settings import Settings, get_settings
from reference_app.stream_endpoint import StreamFastPath
from reference_app.stream_leases import LeaseStore, LocalLeases, RedisLeases
from reference_app.stream_reads import OpenReads
from reference_app.stream_registry import StreamRegistry
from reference_app.streaming import StreamContext
from sse_client import redact_url

log = logging.getLogger(__name__)


async def redis_answers(url: str, timeout_s: float = 1.0) -> bool:
    """One PING with a short timeout, on a connection of its own (the bus's pool retries for seconds)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


def create_app(
    settings: Settings | None = None,
    *,
    bus: StatusBus | None = None,
    jobs: JobQueue | None = None,
    authenticate: Authenticate = authenticate_jwt,
    stream_fast_path: bool = True,
) -> FastAPI:
    """Build the API. Without ``bus`` it connects a ``RedisBus`` to ``REDIS_URL``; without ``jobs`` it
    sends jobs to Celery on the same Redis (or runs them in-process when given a bus but no queue).
    ``authenticate`` replaces the built-in JWT auth everywhere (routes and the stream)."""
    settings = settings or get_settings()
    settings.check_api_secrets()
    metrics = Metrics()

    owns_bus = bus is None
    if bus is None:
        if not settings.redis_url:
            raise RuntimeError("REDIS_URL is not set (or run `sse-harness demo` for an embedded Redis)")
        from reference_app.bus.redis_bus import RedisBus

        bus = RedisBus(
            settings.redis_url,
            maxlen=settings.status_stream_maxlen,
            ttl_s=settings.status_ttl_s,
            max_connections=settings.redis_max_connections,
            pool_timeout_s=settings.redis_pool_timeout_s,
            on_reconnect=metrics.redis_reconnects.inc,
        )
        if jobs is None:
            jobs = CeleryJobQueue(settings.redis_url, settings.celery_visibility_timeout_s)
    if jobs is None:
        jobs = InlineJobQueue(bus)

    the_bus = bus
    own_redis = settings.redis_url if owns_bus else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Redis down at start-up is not fatal (contract point 11): the API binds, answers 503 on /healthz and
        # on Redis-backed routes, and recovers by itself. The bus then starts in the background, so that
        # /healthz answers at once instead of after the subscriber's connect timeout.
        async def start() -> None:
            await the_bus.start()
            await app.state.streams.start()

        starting: asyncio.Task[None] | None = None
        if own_redis is not None and not await redis_answers(own_redis):
            log.warning("Redis at %s is unreachable: answering 503 on /healthz and Redis-backed routes "
                        "until it answers", redact_url(own_redis))
            starting = asyncio.create_task(start(), name="bus-start")
        else:
            await start()
        sampler = asyncio.ensure_future(metrics.run_sampler())  # multiprocess mode only; ends at once else
        try:
            yield
        finally:
            sampler.cancel()
            app.state.streams.begin_shutdown()
            await app.state.streams.stop()
            if starting is not None and not starting.done():
                starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                if starting is not None:
                    await starting
            await the_bus.stop()

    app = ReferenceAPI(title="SSE status reference app", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.bus = bus
    app.state.jobs = jobs
    app.state.metrics = metrics
    app.state.authenticate = authenticate
    app.state.streams = _registry(settings, bus, metrics)
    # fewer read slots than pooled connections: stream opens never exhaust the pool the other routes need
    reads = OpenReads(bus, metrics, slots=max(1, settings.redis_max_connections - 4),
                      queue_max=settings.sse_open_queue_max, deadline_s=settings.sse_open_deadline_s)
    app.state.stream_context = StreamContext(bus, reads, app.state.streams, settings, metrics)
    metrics.watch_subscriber(bus.subscriber_stats)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc.errors())

    @app.exception_handler(RedisError)
    async def _store_down(request: Request, exc: RedisError) -> JSONResponse:
        return store_unavailable(exc, what=f"{request.method} {request.url.path}")

    for router in (auth_routes.router, sessions.router, streams.router, health.router):
        app.include_router(router)

    from reference_app import pages

    pages.mount(app)

    cors: dict[str, Any] = {}
    if settings.cors_origins:
        cors = {"allow_origins": settings.cors_origins, "allow_credentials": True, "allow_methods": ["GET", "POST"],
                "allow_headers": ["Authorization", "Content-Type", "Last-Event-ID", "If-None-Match"],
                "expose_headers": ["ETag", "Retry-After"]}
        app.add_middleware(CORSMiddleware, **cors)
    if stream_fast_path:
        app.stream_fast_path = StreamFastPath(functools.partial(FastAPI.__call__, app), cors=cors)
    return app


class ReferenceAPI(FastAPI):
    """FastAPI whose stream route is served before FastAPI's and Starlette's own per-request machinery
    (native telemetry checks, ServerErrorMiddleware, exception telemetry, body limit, the router): an open
    stream keeps none of their frames alive, and no open or delivery goes through their wrappers
    (profiled: FastAPI's telemetry check alone was ~4 % of the API's CPU in a reconnect storm)."""

    stream_fast_path: StreamFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.stream_fast_path
        if fast is not None and scope["type"] == "http" and fast.matches(scope):
            scope["app"] = self
            await fast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _registry(settings: Settings, bus: StatusBus, metrics: Metrics) -> StreamRegistry:
    """The per-user cap lives in Redis when the bus does (it then holds across processes and instances)."""
    cap = settings.sse_max_streams_per_user
    redis = getattr(bus, "redis", None)
    owner = settings.sse_instance_id or f"{socket.gethostname()}:pid{os.getpid()}"
    leases: LeaseStore = LocalLeases(cap)
    if redis is not None:
        leases = RedisLeases(redis, cap, settings.sse_lease_ttl_s, owner,
                             on_round_trip=lambda op: metrics.redis_round_trips.labels(op).inc())
    heartbeat, send_timeout = settings.sse_heartbeat_s, settings.sse_send_timeout_s
    return StreamRegistry(leases, tick_s=max(0.02, min(1.0, heartbeat / 4, send_timeout / 4)),
                          refresh_s=settings.sse_lease_ttl_s / 3, owner=owner)
