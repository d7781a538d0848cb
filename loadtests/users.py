"""``SSEUser``: the abstract Locust user that follows status streams and drives jobs on the target.

Scenario classes (``loadtests/scenarios.py``) only choose what to watch and how often. This class owns:
dev-login (every user is its own account, so the per-user stream cap applies per user, as in production),
session creation, starting a job through the target's hook or straight through Redis, and the stream
client, which reports through Locust's request event (request type ``SSE``).

Counters are per process (``COUNTERS``); ``loadtests/plugin.py`` ships them to the master.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, cast

import gevent
from gevent.lock import BoundedSemaphore
from locust import FastHttpUser, constant
from locust.env import Environment

from loadtests.accounting import LoadCounters
from loadtests.client import StreamError, StreamWatcher, WatchOptions, WatchResult
from loadtests.options import LoadOptions
from loadtests.transport import Connection, FastHttpConnection, RawConnection, Target
from sse_contract.jobs import JobParams
from sse_contract.status import StatusChange, StatusUpdate

__all__ = ["COUNTERS", "SSEUser", "load_options"]

log = logging.getLogger(__name__)

#: This process's stream counters (one Locust process = one environment).
COUNTERS = LoadCounters()

_options_cache: dict[int, LoadOptions] = {}
_publisher: Any = None


def load_options(environment: Environment) -> LoadOptions:
    key = id(environment.parsed_options)
    if key not in _options_cache:
        _options_cache.clear()
        _options_cache[key] = LoadOptions.from_namespace(environment.parsed_options)
    return _options_cache[key]


#: Concurrent publishes per process. redis-py's pool allows 100 connections and raises (not waits)
#: past that; hundreds of simulated jobs share one publisher, so they queue here instead.
PUBLISH_CONCURRENCY = 32
_publish_gate = BoundedSemaphore(PUBLISH_CONCURRENCY)


def _redis_publisher(url: str) -> Any:
    global _publisher
    if _publisher is None:
        from reference_app.worker.publisher import StatusPublisher

        _publisher = StatusPublisher(url)
    return _publisher


def _publish(session_id: str, change: StatusChange, publish_id: str | None = None) -> StatusUpdate:
    with _publish_gate:
        return cast("StatusUpdate", _redis_publisher_instance().publish(session_id, change, publish_id))


def _redis_publisher_instance() -> Any:
    assert _publisher is not None
    return _publisher


class SSEUser(FastHttpUser):
    """Abstract base of every SSE scenario user."""

    abstract = True
    wait_time = constant(0)
    #: The hooks (login, sessions, polling) go through ``self.client``; streams through ``watcher``.
    network_timeout = 120.0
    connection_timeout = 30.0
    #: One retry on a connection-level failure: a pooled keep-alive connection the server closed while
    #: this user was busy with its stream (uvicorn drops idle ones after 5 s) fails on reuse, and a
    #: browser would transparently retry on a fresh connection too. HTTP error statuses are not retried.
    max_retries = 1
    #: Job parameters of this scenario (``--sse-steps`` etc. override them).
    job: ClassVar[JobParams] = JobParams(profile="steady", steps=10, interval_ms=200)
    #: Scenario defaults for the options the user did not set.
    cut_every_s: ClassVar[float | None] = None

    token: str = ""
    username: str = ""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.options = load_options(environment)
        if not self.host:
            raise ValueError("no target: pass --host http://HOST:PORT")
        self.target = Target.parse(self.host)
        self.jobs_done = 0
        fire: Callable[..., Any] = environment.events.request.fire

        def report(name: str, response_time_ms: float, length: int = 0,
                   exception: BaseException | None = None) -> None:
            fire(request_type="SSE", name=name, response_time=response_time_ms, response_length=length,
                 exception=exception, context={})

        opts = self.options
        cut = opts.cut_every_s if opts.cut_every_s is not None else self.cut_every_s
        self.watcher = StreamWatcher(
            self._open, report, COUNTERS,
            WatchOptions(
                connect_timeout_s=self.connection_timeout,
                idle_timeout_s=opts.idle_timeout_s,
                watch_timeout_s=opts.watch_timeout_s,
                reconnect_delay_s=None if opts.reconnect_delay_ms is None else opts.reconnect_delay_ms / 1000,
                cut_every_s=cut or None,
            ),
            sleep=gevent.sleep,
        )
        self.report = report

    def on_start(self) -> None:
        """Every user is its own account (so the per-user stream cap applies per user)."""
        while not self.login():
            gevent.sleep(1.0)

    # -- the stream ---------------------------------------------------------------------------------

    def _open(self, path: str, headers: Any, timeout: float) -> Connection:
        if self.options.transport == "fasthttp":
            return FastHttpConnection.open(self.client, self.target, path, headers, timeout)
        return RawConnection.open(self.target, path, headers, timeout)

    @staticmethod
    def stream_path(session_id: str) -> str:
        return f"/api/v1/sessions/{session_id}/status/stream"

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def watch(self, session_id: str, token: str | None = None, start_job: bool = False) -> WatchResult:
        """Follow one session to its end; with ``start_job`` the job starts once the stream is open."""
        on_open = (lambda: self.start_job(session_id)) if start_job else None
        result = self.watcher.watch(self.stream_path(session_id), self.auth(token), on_open=on_open)
        self.jobs_done += 1
        return result

    # -- the target's hooks -------------------------------------------------------------------------

    def _failed(self, kind: str) -> None:
        COUNTERS.error(kind)

    @staticmethod
    def _kind(prefix: str, response: Any) -> str:
        """``transcribe_http_409``, or for no response at all the error's type
        (``transcribe_ConnectionResetError``)."""
        if response.status_code:
            return f"{prefix}_http_{response.status_code}"
        return f"{prefix}_{type(getattr(response, 'error', None)).__name__}"

    def login(self, username: str | None = None) -> str | None:
        name = username or f"{self.options.user_prefix}-{uuid.uuid4().hex[:12]}"
        with self.client.post("/api/v1/auth/dev-login", json={"username": name}, name="dev-login",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"dev-login answered {response.status_code}")
                self._failed(self._kind("login", response))
                return None
            token = str(response.json()["access_token"])
        if username is None:
            self.username, self.token = name, token
        return token

    def create_session(self, token: str | None = None) -> str | None:
        with self.client.post("/api/v1/sessions", json={"title": "load test"}, headers=self.auth(token),
                              name="create-session", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"create session answered {response.status_code}")
                self._failed(self._kind("create_session", response))
                return None
            return str(response.json()["id"])

    def job_params(self) -> JobParams:
        return self.options.job(self.job)

    def start_job(self, session_id: str, token: str | None = None) -> bool:
        """Start the session's job: through the API (Celery) or by publishing from here to Redis."""
        params = self.job_params()
        if self.options.source == "redis":
            if not self.options.redis_url:
                self._failed("no_redis_url")
                self.report("start-job", 0.0, 0, StreamError("no_redis_url", "--sse-source redis needs "
                                                             "--sse-redis-url"))
                return False
            _redis_publisher(self.options.redis_url)
            gevent.spawn(self._simulate, session_id, params)
            return True
        with self.client.post(f"/api/v1/sessions/{session_id}/transcribe", json=params.model_dump(exclude_unset=True),
                              headers=self.auth(token), name="transcribe", catch_response=True) as response:
            if response.status_code != 202:
                response.failure(f"transcribe answered {response.status_code}")
                self._failed(self._kind("transcribe", response))
                return False
        return True

    def _simulate(self, session_id: str, params: JobParams) -> None:
        """The simulator's job, published straight to Redis (what ``sse-harness simulate`` does)."""
        from reference_app.job_runs import run_job_sync

        started = time.perf_counter()
        try:
            run_job_sync(_publish, session_id, params, uuid.uuid4().hex, sleep=gevent.sleep)
        except Exception as exc:  # a job that dies mid-way must show up, not vanish in a greenlet log
            COUNTERS.error(f"publish_{type(exc).__name__}")
            self.report("simulated-job", (time.perf_counter() - started) * 1000, 0,
                        StreamError("publish_failed", str(exc)))

    def quota_reached(self) -> bool:
        """``--sse-jobs-per-user``: after that many jobs the user idles until the run ends."""
        limit = self.options.jobs_per_user
        return bool(limit) and self.jobs_done >= limit

    def idle(self) -> None:
        gevent.sleep(3600)
