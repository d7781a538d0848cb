"""The scenarios, one user class each; ``loadtests.options.SCENARIOS`` maps names to these classes.

* ``SteadyUser`` (steady): its own account and session, one job at a time, watched to the end.
* ``FanoutUser`` (fanout): many viewers of ONE session per Locust process, all as its owner — the target
  needs ``SSE_MAX_STREAMS_PER_USER`` at least the number of viewers per process.
* ``ConnectStormUser`` (connect-storm): short jobs, so streams churn; run it with a high spawn rate.
* ``ReconnectStormUser`` (reconnect-storm): long jobs whose streams are cut (by the client every few
  seconds, and by the server whenever it restarts or its SSE_CONNECTION_TIMEOUT ends a stream); every
  watch must resume with Last-Event-ID without a gap or a duplicate.
* ``PollingUser`` (polling): the same jobs watched by ETag polling, to compare requests/s and server CPU.
* mixed: all of them, by ``weight``.
"""

from __future__ import annotations

import time
from typing import ClassVar

import gevent
from gevent.event import Event as GEvent
from locust import task
from locust.env import Environment

from loadtests.users import COUNTERS, SSEUser
from sse_contract.jobs import JobParams

__all__ = ["ConnectStormUser", "FanoutUser", "PollingUser", "ReconnectStormUser", "SteadyUser"]


class SteadyUser(SSEUser):
    weight = 4
    job = JobParams(profile="steady", steps=10, interval_ms=200)

    @task
    def follow_a_job(self) -> None:
        if self.quota_reached():
            self.idle()
            return
        session_id = self.create_session()
        if session_id is None:
            gevent.sleep(1.0)
            return
        self.watch(session_id, start_job=True)


class ConnectStormUser(SteadyUser):
    weight = 1
    job = JobParams(profile="steady", steps=2, interval_ms=100)


class ReconnectStormUser(SteadyUser):
    weight = 1
    job = JobParams(profile="steady", steps=60, interval_ms=250)
    cut_every_s = 5.0


class _FanoutRound:
    """One session (per Locust process) that every FanoutUser of the process watches."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.connected = 0
        self.finished = GEvent()


class FanoutUser(SSEUser):
    """Viewers of one shared session. The first viewer of a process becomes the coordinator: it logs in
    as the session owner, creates a session, waits until Locust has spawned every user and all of this
    process's viewers are connected (at most ``--sse-fanout-wait-s``), starts the job, waits for it to
    end, and starts the next round."""

    weight = 2
    job = JobParams(profile="steady", steps=10, interval_ms=200)

    _owner_token: ClassVar[str | None] = None
    #: Set when Locust has spawned every user: only then is the number of viewers here final.
    _spawned: ClassVar[bool] = False
    _round: ClassVar[_FanoutRound | None] = None
    _round_ready: ClassVar[GEvent | None] = None
    _coordinator: ClassVar[gevent.Greenlet | None] = None

    @classmethod
    def _viewers_here(cls, environment: Environment) -> int:
        runner = environment.runner
        counts = getattr(runner, "user_classes_count", None) or {}
        return max(1, int(counts.get(cls.__name__, 1)))

    def _coordinate(self) -> None:
        cls = type(self)
        while cls._owner_token is None:
            token = self.login(f"{self.options.user_prefix}-fanout-owner-{id(cls):x}")
            if token is None:
                gevent.sleep(1.0)
                continue
            cls._owner_token = token
        while True:
            session_id = self.create_session(cls._owner_token)
            if session_id is None:
                gevent.sleep(1.0)
                continue
            current = _FanoutRound(session_id)
            cls._round = current
            assert cls._round_ready is not None
            ready, cls._round_ready = cls._round_ready, GEvent()
            ready.set()
            deadline = time.monotonic() + self.options.fanout_wait_s
            while time.monotonic() < deadline and not (
                    cls._spawned and current.connected >= self._viewers_here(self.environment)):
                gevent.sleep(0.1)
            if not self.start_job(session_id, cls._owner_token):
                gevent.sleep(1.0)
            current.finished.wait(self.options.watch_timeout_s)

    def on_start(self) -> None:
        cls = type(self)
        if cls._round_ready is None:
            cls._round_ready = GEvent()
        if cls._coordinator is None or cls._coordinator.dead:
            cls._coordinator = gevent.spawn(self._coordinate)

    @classmethod
    def reset(cls) -> None:
        """Forget the previous test's round (a new test in the web UI starts fresh)."""
        if cls._coordinator is not None:
            cls._coordinator.kill(block=False)
        cls._coordinator = None
        cls._round = None
        cls._round_ready = None
        cls._spawned = False

    @classmethod
    def spawning_complete(cls) -> None:
        cls._spawned = True

    @task
    def view(self) -> None:
        cls = type(self)
        if self.quota_reached():
            self.idle()
            return
        current = cls._round
        if current is None or current.finished.is_set():
            assert cls._round_ready is not None
            cls._round_ready.wait(self.options.watch_timeout_s)
            return
        def connected() -> bool:
            current.connected += 1
            return True

        result = self.watcher.watch(self.stream_path(current.session_id), self.auth(cls._owner_token),
                                    on_open=connected)
        self.jobs_done += 1
        if result.terminal_status is not None:
            current.finished.set()


class PollingUser(SSEUser):
    """The same jobs, watched by ``GET .../status`` with ``If-None-Match`` (304 while unchanged).

    Not a subclass of ``SteadyUser``: Locust collects ``@task``s from base classes too, so overriding
    ``SteadyUser``'s task would run both."""

    weight = 2
    job = SteadyUser.job
    poll_interval_ms = 1000

    @task
    def follow_a_job(self) -> None:
        if self.quota_reached():
            self.idle()
            return
        session_id = self.create_session()
        if session_id is None or not self.start_job(session_id):
            gevent.sleep(1.0)
            return
        self.jobs_done += 1
        self.poll_until_done(session_id)

    def poll_until_done(self, session_id: str) -> None:
        from loadtests.observed import ObservedStatus, latency_ms

        interval = (self.options.poll_interval_ms or self.poll_interval_ms) / 1000
        deadline = time.monotonic() + self.options.watch_timeout_s
        etag = ""
        last_seq: int | None = None
        COUNTERS.watches_started += 1
        COUNTERS.watches_open += 1
        ended = False
        try:
            while time.monotonic() < deadline:
                headers = {**self.auth(), **({"If-None-Match": etag} if etag else {})}
                with self.client.get(f"/api/v1/sessions/{session_id}/status", headers=headers,
                                     name="poll-status", catch_response=True) as response:
                    COUNTERS.polls += 1
                    if response.status_code == 304:
                        COUNTERS.polls_not_modified += 1
                        response.success()
                    elif response.status_code == 200:
                        received = time.time()
                        etag = response.headers.get("etag") or ""
                        try:
                            update = ObservedStatus.from_json(response.content or b"")
                        except ValueError:
                            response.failure("poll answered a body that is not a status")
                            COUNTERS.error("poll_bad_status")
                            gevent.sleep(interval)
                            continue
                        COUNTERS.events_by_type["poll_status"] += 1
                        if last_seq is None or update.seq != last_seq:
                            if last_seq is not None:  # a job that moved between two polls
                                COUNTERS.events_by_type["poll_change"] += 1
                            last_seq = update.seq
                            latency = latency_ms(received, update.published)
                            if latency is None:
                                COUNTERS.latency_unknown += 1
                            else:
                                self.environment.events.request.fire(
                                    request_type="POLL", name="change",
                                    response_time=latency,
                                    response_length=0, exception=None, context={})
                        if update.terminal:
                            COUNTERS.watches_terminal += 1
                            COUNTERS.terminal[update.status.value] += 1
                            break
                    else:
                        response.failure(f"poll answered {response.status_code}")
                        COUNTERS.error(self._kind("poll", response))
                gevent.sleep(interval)
            else:
                COUNTERS.error("watch_timeout")
                COUNTERS.watches_abandoned += 1
            ended = True
        finally:
            COUNTERS.watches_open -= 1
            if not ended:
                COUNTERS.watches_interrupted += 1
