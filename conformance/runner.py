"""Runs the contract profile against one API base URL: sets up identities and sessions, makes events
happen, records streams concurrently, then hands the observations to the judges (``conformance.catalog``).

Phases that run at the same time (the default run takes about ``max(heartbeat, job)`` seconds):
* live: a fresh session, stream opened, then a short steady job started -> headers, timing, ids,
  payloads, buffering, terminal close; afterwards a reconnect past the end -> 204;
* idle: a session without a job held open for ``idle_s``, then until its next byte (the heartbeat) or
  ``idle_limit_s`` of silence -> heartbeat, idle survival;
* resume (header and query): a job, interrupted after a few events, resumed;
* probes: polling, auth, malformed input, CORS, the release of a closed stream.
The per-user cap probe runs last, alone, because the other phases hold streams of the same user.
Only the phases that a selected check declares (``Check.phase``) run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from conformance import checks, hooks, slow_reader
from conformance.catalog import BY_ID, select_checks
from conformance.client import Credentials, StreamRecord, make_client, record_stream
from conformance.contract_probes import API_PREFIX, ProbePhases
from conformance.jobs import JOB_SLACK_S, job_body, job_duration_s, job_params, stall_job
from conformance.model import CheckResult, Outcome, Report
from conformance.observations import Observations
from conformance.options import CheckOptions, SetupError
from conformance.probes import one_line
from simulators.profiles import build_steps
from sse_client import redact_url
from sse_contract.jobs import JobParams

__all__ = ["CheckOptions", "SetupError", "run", "run_sync"]

#: how long to wait for the snapshot before starting a job anyway (a buffering hop may hold it)
SNAPSHOT_WAIT_S = 2.0


def _jwt_subject(token: str) -> str | None:
    """The ``sub`` of a JWT, unverified: only to know whose sessions to create through Redis."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


class Runner(ProbePhases):
    def __init__(self, options: CheckOptions, client: httpx.AsyncClient) -> None:
        self.o = options
        self.client = client
        self.base = options.url.rstrip("/")
        self.root = self.base + options.base_path.rstrip("/")
        self.api = self.root + API_PREFIX
        self.creds = Credentials()
        self.other: Credentials | None = None
        self.owner: str | None = options.user
        self.obs = Observations()
        self._bus: Any = None
        self._jobs: list[asyncio.Task[Any]] = []

    # -- set-up -------------------------------------------------------------------------------------------

    async def login(self, username: str) -> Credentials:
        url = f"{self.api}/auth/dev-login"
        try:
            response = await self.client.post(url, json={"username": username})
        except httpx.HTTPError as exc:
            raise SetupError(f"cannot reach {self.base}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 404:
            raise SetupError(f"dev login is not enabled on {self.base} (POST {url} answered 404): start the "
                             "target with AUTH_DEV_LOGIN=1 or pass --token")
        if response.status_code != 200:
            raise SetupError(f"dev login as {username!r} failed: {response.status_code}: {one_line(response.text)}")
        try:
            token = str(response.json().get("access_token", ""))
        except (ValueError, AttributeError):
            raise SetupError(f"dev login answered 200 without a JSON token: {one_line(response.text)!r}") from None
        cookie = response.cookies.get("access_token")
        self.client.cookies.clear()  # credentials go explicitly on each request, never via the jar
        return Credentials(token=token or None, cookie=cookie)

    async def prepare(self) -> None:
        o = self.o
        if o.dev_login:
            self.creds = await self.login(o.dev_login)
            self.owner = self.owner or o.dev_login
            try:
                self.other = await self.login(f"{o.dev_login}-other"[:64])
            except SetupError as exc:
                self.obs.cross_reason = str(exc)
        else:
            if o.token:
                self.creds = Credentials(token=o.token)
                self.owner = self.owner or _jwt_subject(o.token)
            try:
                await self.client.get(self.base + "/", headers=self.creds.headers())
            except httpx.HTTPError as exc:
                raise SetupError(f"cannot reach {self.base}: {type(exc).__name__}: {exc}") from None
        if o.other_token:
            self.other = Credentials(token=o.other_token)
        if self.other is None and self.obs.cross_reason is None:
            self.obs.cross_reason = "no second identity (use --dev-login, or --other-token)"
        if o.trigger != "none" and self.creds.kind == "none":
            raise SetupError("creating sessions needs credentials: pass --dev-login USER or --token T "
                             "(or --trigger none --session ID for passive checks)")
        if o.trigger == "redis":
            if not self.owner:
                raise SetupError("--trigger redis needs to know the user who owns the sessions: pass --user")
            from reference_app.bus.redis_bus import RedisBus

            self._bus = RedisBus(o.redis_url or "", max_connections=4)
            try:
                await self._bus.redis.ping()
            except Exception as exc:
                raise SetupError(f"cannot reach Redis at {redact_url(o.redis_url or '')}: {exc}") from None

    async def close(self) -> None:
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        if self._bus is not None:
            await self._bus.stop()

    def stream_url(self, session: str, query: str = "") -> str:
        return f"{self.api}/sessions/{session}/status/stream" + (f"?{query}" if query else "")

    async def new_session(self, title: str) -> str:
        if self.o.trigger == "redis":
            record = await self._bus.create_session(self.owner, title)
            return str(record.id)
        if self.o.trigger == "none":
            assert self.o.session is not None
            return self.o.session
        response = await self.client.post(f"{self.api}/sessions", json={"title": title},
                                          headers=self.creds.headers())
        if response.status_code != 201:
            raise SetupError(f"POST {self.api}/sessions answered {response.status_code}: {one_line(response.text)}: "
                             "cannot create sessions (use --trigger redis or --trigger none --session ID)")
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise SetupError(f"POST {self.api}/sessions answered 201 without an id: {one_line(response.text)!r}"
                             ) from None

    async def start_job(self, session: str, params: JobParams | None = None) -> None:
        params = params or job_params(self.o)
        if self.o.trigger == "redis":
            from reference_app.job_runs import run_job

            bus = self._bus
            self._jobs.append(asyncio.ensure_future(
                run_job(bus.publish, session, params, f"check-{uuid.uuid4().hex}")))
            return
        response = await self.client.post(f"{self.api}/sessions/{session}/transcribe",
                                          json=job_body(params), headers=self.creds.headers())
        if response.status_code != 202:
            raise SetupError(f"POST .../transcribe answered {response.status_code}: {one_line(response.text)}: cannot "
                             "start a job (use --trigger redis or --trigger none --session ID)")

    # -- phases -------------------------------------------------------------------------------------------

    async def _job_stream(self, session: str, window_s: float,
                          stop_when: Callable[[StreamRecord], bool] | None = None,
                          params: JobParams | None = None) -> StreamRecord:
        """Open the stream, start the job once the snapshot arrived (or after SNAPSHOT_WAIT_S), record."""
        got_snapshot = asyncio.Event()

        def seen(record: StreamRecord) -> None:
            if record.events:
                got_snapshot.set()

        recording = asyncio.ensure_future(record_stream(
            self.client, self.stream_url(session), headers=self.creds.headers(for_stream=True),
            window_s=window_s, stop_when=stop_when, on_chunk=seen,
            linger_after_terminal_s=checks.TERMINAL_LINGER_S))
        waiter = asyncio.ensure_future(got_snapshot.wait())
        try:
            await asyncio.wait({recording, waiter}, timeout=SNAPSHOT_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if recording.done() and not recording.result().opened:
            return recording.result()
        await self.start_job(session, params)
        return await recording

    async def live_phase(self, wanted: set[str]) -> None:
        if self.o.trigger == "none":
            return
        session = await self.new_session("conformance: live")
        if not any(BY_ID[c].events for c in wanted):
            # headers and timing only (e.g. --only headers): the snapshot is enough, no job to wait for
            self.obs.live = await record_stream(
                self.client, self.stream_url(session), headers=self.creds.headers(for_stream=True),
                window_s=self.o.idle_s, stop_when=lambda record: bool(record.events))
            return
        window = job_duration_s(self.o) + JOB_SLACK_S
        record = await self._job_stream(session, window)
        self.obs.live = record
        final = record.terminal_event()
        if "resume.after-end-204" in wanted and final is not None and (final_id := checks.int_id(final)) is not None:
            self.obs.final_id = final_id
            self.obs.after_end = await record_stream(
                self.client, self.stream_url(session),
                headers={**self.creds.headers(for_stream=True), "Last-Event-ID": str(final_id)},
                window_s=checks.TERMINAL_LINGER_S)

    async def idle_phase(self) -> StreamRecord:
        session = self.o.session or await self.new_session("conformance: idle")
        self.obs.idle = await record_idle(self.client, self.stream_url(session),
                                          self.creds.headers(for_stream=True), self.o)
        return self.obs.idle

    async def stall_phase(self) -> None:
        session = await self.new_session("conformance: stall")
        params = stall_job(self.o)
        window = sum(step.delay_s for step in build_steps(params)) + JOB_SLACK_S
        self.obs.stall = await self._job_stream(session, window, params=params)

    async def lifetime_phase(self) -> None:
        assert self.o.max_lifetime_s is not None
        session = self.o.session or await self.new_session("conformance: lifetime")
        self.obs.lifetime = await record_stream(
            self.client, self.stream_url(session), headers=self.creds.headers(for_stream=True),
            window_s=self.o.max_lifetime_s + checks.LIFETIME_SLACK_S)

    async def resume_phase(self, kind: Literal["header", "query"]) -> None:
        if self.o.trigger == "none":
            return
        session = await self.new_session(f"conformance: resume {kind}")
        window = job_duration_s(self.o) + JOB_SLACK_S

        def enough(record: StreamRecord) -> bool:
            ids = [i for i in map(checks.int_id, checks.status_events(record)) if i is not None]
            return len(ids) >= 3

        first = await self._job_stream(session, window, stop_when=enough)
        ids = [i for i in map(checks.int_id, checks.status_events(first)) if i is not None]
        last_id = ids[-1] if ids else None
        second = None
        if first.opened and last_id is not None and first.terminal_event() is None:
            headers = self.creds.headers(for_stream=True)
            query = ""
            if kind == "header":
                headers["Last-Event-ID"] = str(last_id)
            else:
                query = f"lastEventId={last_id}"
            second = await record_stream(self.client, self.stream_url(session, query), headers=headers,
                                         window_s=window, linger_after_terminal_s=checks.TERMINAL_LINGER_S)
        self.obs.resumes[kind] = (first, second, last_id)

    async def slow_phase(self) -> None:
        """Point 7, alone (it reads /streams/me): a stream that reads nothing while a long job runs."""
        assert self.o.send_timeout_s is not None
        session = await self.new_session("conformance: slow reader")
        params = JobParams(profile="steady", steps=slow_reader.STEPS, interval_ms=slow_reader.INTERVAL_MS)
        status_url = f"{self.api}/sessions/{session}/status"

        async def job_ended() -> bool:
            try:
                response = await self.client.get(status_url, headers=self.creds.headers())
            except httpx.HTTPError as exc:
                raise slow_reader.NotMeasured(f"GET {status_url} failed while the job ran: "
                                              f"{type(exc).__name__}: {exc}") from None
            try:
                return response.status_code == 200 and response.json().get("status") in slow_reader.TERMINAL
            except (ValueError, AttributeError):
                return False

        async def start_job() -> None:
            try:
                await self.start_job(session, params)
            except SetupError as exc:
                raise slow_reader.NotMeasured(f"the target refused a {slow_reader.STEPS:,}-status job ({exc})"
                                              ) from None
            except httpx.HTTPError as exc:
                raise slow_reader.NotMeasured(f"POST .../transcribe failed: {type(exc).__name__}: {exc}") from None

        self.obs.slow_reader = await slow_reader.read_stalled(
            self.stream_url(session), self.creds.headers(for_stream=True), self.o.verify, self.o.send_timeout_s,
            start_job=start_job, job_ended=job_ended, open_count=self._open_count,
            job_window_s=sum(step.delay_s for step in build_steps(params)) + JOB_SLACK_S,
            max_lifetime_s=self.o.max_lifetime_s)

    # -- the run ------------------------------------------------------------------------------------------

    async def run(self) -> list[CheckResult]:
        selected = select_checks(self.o.only, "contract")
        wanted = set(selected)
        phases_wanted = {BY_ID[c].phase for c in selected}
        await self.prepare()
        probe_wanted = {c for c in wanted if BY_ID[c].phase == "probe"}
        idle_session: str | None = self.o.session
        # before any phase coroutine exists: a refusal here must not leave coroutines never awaited
        if probe_wanted or "cap" in phases_wanted:
            idle_session = idle_session or await self.new_session("conformance: probes")
        phases: list[Callable[[], Coroutine[Any, Any, Any]]] = []
        if "live" in phases_wanted or "timing.first-event" in wanted:
            phases.append(lambda: self.live_phase(wanted))
        if "idle" in phases_wanted or "timing.first-event" in wanted or self.o.trigger == "none":
            phases.append(self.idle_phase)
        for kind in ("header", "query"):
            if f"resume-{kind}" in phases_wanted:
                phases.append(lambda kind=kind: self.resume_phase(kind))  # type: ignore[misc]
        if probe_wanted:
            assert idle_session is not None
            phases.append(lambda: self.probes_phase(probe_wanted, idle_session))
        if "stall" in phases_wanted and self.o.stall_after_s is not None and self.o.trigger != "none":
            phases.append(self.stall_phase)
        if "lifetime" in phases_wanted and self.o.max_lifetime_s is not None:
            phases.append(self.lifetime_phase)
        try:
            # one phase that cannot proceed (e.g. sessions cannot be created) stops the others
            async with asyncio.TaskGroup() as group:
                for phase in phases:
                    group.create_task(phase())
        except* SetupError as errors:
            raise errors.exceptions[0] from None
        if "slow" in phases_wanted and self.o.send_timeout_s is not None:
            if self.o.trigger == "none":
                self.obs.skipped["stream.slow-reader"] = "not measured: needs events (--trigger http or redis)"
            else:
                await self.slow_phase()  # alone: other phases' streams would blur the /streams/me count
        if "stream.release" in wanted:
            assert idle_session is not None
            await self.release_phase(idle_session)  # alone: other phases' streams would blur the count
        if "cap" in phases_wanted and self.o.expect_cap > 0:
            assert idle_session is not None
            await self.cap_phase(idle_session)
        # the operator hooks disturb the target: after everything else, the outage first, SIGTERM last
        if "bus" in phases_wanted and self.o.bus_down_cmd:
            self.obs.bus = await hooks.bus_phase(self)
        if "shutdown" in phases_wanted and self.o.shutdown_cmd:
            self.obs.shutdown = await hooks.shutdown_phase(self)
        return [self.judge(check_id) for check_id in selected]

    def judge(self, check_id: str) -> CheckResult:
        if check_id in self.obs.skipped:
            return CheckResult(check_id, Outcome.SKIP, self.obs.skipped[check_id])
        return BY_ID[check_id].judge(self.obs, self.o)


async def record_idle(client: httpx.AsyncClient, url: str, headers: dict[str, str], o: CheckOptions) -> StreamRecord:
    """The idle stream: held ``idle_s``, then to its next byte, or given up on after the allowed silence."""
    allowed = checks.heartbeat_allowed_s(o.idle_limit_s, o.expect_heartbeat_s)
    return await record_stream(client, url, headers=headers, window_s=o.idle_s + allowed + 2.0,
                               hold_s=o.idle_s, silence_limit_s=allowed + 0.2, hold_until_event=True)


async def run(options: CheckOptions) -> Report:
    """Run the selected checks of the options' profile. Raises ``SetupError`` when the run cannot start."""
    options.validate()
    profile = options.resolved_profile()
    started = time.monotonic()
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with make_client(http2=options.http2, verify=options.verify) as client:
        if profile == "sse":
            from conformance.sse_runner import SseRunner

            sse = SseRunner(options, client)
            results = await sse.run()
            obs = sse.obs
        else:
            runner = Runner(options, client)
            try:
                results = await runner.run()
            finally:
                await runner.close()
            obs = runner.obs
    primary = obs.live or obs.idle
    return Report(url=options.url, results=results, http_version=primary.http_version if primary else None,
                  duration_s=time.monotonic() - started, started_at=started_at, settings=options.public(),
                  profile=profile)


def run_sync(options: CheckOptions) -> Report:
    """``run`` for synchronous callers (scripts, pytest)."""
    return asyncio.run(run(options))
