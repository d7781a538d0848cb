"""Assembles the app: settings, bus, job queue, metrics, routers. No logic here.

Only pure-ASGI middleware may be added: ``BaseHTTPMiddleware`` wraps every response in a task group,
which breaks streaming disconnect handling and multiplies per-stream memory.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from reference_app import __version__
from reference_app.api import auth_routes, health, sessions, streams
from reference_app.auth import Authenticate, authenticate_jwt
from reference_app.bus.protocol import StatusBus
from reference_app.job_queue import CeleryJobQueue, InlineJobQueue, JobQueue
from reference_app.metrics import Metrics
from reference_app.settings import Settings, get_settings
from reference_app.stream_endpoint import StreamFastPath, store_unavailable
from reference_app.stream_registry import StreamRegistry

log = logging.getLogger(__name__)


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

    if bus is None:
        if not settings.redis_url:
            raise RuntimeError("REDIS_URL is not set (or run `sse-harness demo` for an embedded Redis)")
        from reference_app.bus.redis_bus import RedisBus

        bus = RedisBus(
            settings.redis_url,
            maxlen=settings.status_stream_maxlen,
            ttl_s=settings.status_ttl_s,
            max_connections=settings.redis_max_connections,
            on_reconnect=metrics.redis_reconnects.inc,
        )
        if jobs is None:
            jobs = CeleryJobQueue(settings.redis_url, settings.celery_visibility_timeout_s)
    if jobs is None:
        jobs = InlineJobQueue(bus)

    the_bus = bus

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await the_bus.start()
        try:
            yield
        finally:
            app.state.streams.begin_shutdown()
            await app.state.streams.stop()
            await the_bus.stop()

    app = FastAPI(title="SSE status reference app", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.bus = bus
    app.state.jobs = jobs
    app.state.metrics = metrics
    app.state.authenticate = authenticate
    app.state.streams = StreamRegistry(cap_per_user=settings.sse_max_streams_per_user)
    metrics.watch_subscriber(bus.subscriber_stats)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back (it may hold a token); say which field is wrong and why.
        # "type" too: the OpenAPI ValidationError schema requires it (schemathesis flagged its absence).
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(RedisError)
    async def _store_down(request: Request, exc: RedisError) -> JSONResponse:
        log.warning("%s %s: Redis unavailable (%s)", request.method, request.url.path, type(exc).__name__)
        return store_unavailable()

    for router in (auth_routes.router, sessions.router, streams.router, health.router):
        app.include_router(router)

    from reference_app import pages

    pages.mount(app)

    if stream_fast_path:
        app.add_middleware(StreamFastPath)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "If-None-Match"],
            expose_headers=["ETag", "Retry-After"],
        )
    return app
