"""Runs the checks against one base URL: sets up identities and sessions, makes events happen, records
streams concurrently, then hands the recordings to the pure checks in ``conformance.checks``.

Phases that run at the same time (the default run takes about ``max(idle_s, job)`` seconds):
* live: a fresh session, stream opened, then a short steady job started -> headers, timing, ids,
  payloads, buffering, terminal close; afterwards a reconnect past the end -> 204;
* idle: a session without a job held open for ``idle_s`` -> heartbeat, idle survival;
* resume (header and query): a job, interrupted after a few events, resumed;
* probes: polling, auth, malformed input, CORS.
The per-user cap probe runs last, alone, because the other phases hold streams of the same user.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from conformance import checks
from conformance.client import Credentials, StreamRecord, make_client, open_streams, record_stream
from conformance.model import CheckResult, Outcome, Report, select_checks
from simulators.profiles import build_steps
from sse_contract.jobs import JobParams

__all__ = ["CheckOptions", "SetupError", "run", "run_sync"]

Trigger = Literal["http", "redis", "none"]

LIVE_CHECKS = {"stream.open", "headers.content-type", "headers.cache-control", "headers.content-encoding",
               "headers.content-length", "headers.x-accel-buffering", "headers.connection-h2", "timing.headers",
               "timing.first-event", "stream.retry", "stream.ids", "stream.payload", "stream.not-buffered",
               "stream.terminal-close", "resume.after-end-204"}
#: live checks that need a job's events (the others are judged on the opening of the stream)
JOB_CHECKS = {"stream.ids", "stream.payload", "stream.not-buffered", "stream.terminal-close", "resume.after-end-204"}
IDLE_CHECKS = {"heartbeat.interval", "idle.survival", "timing.first-event"}
PROBE_CHECKS = {"poll.etag", "auth.unauthenticated", "auth.cross-user", "input.malformed", "cors.credentials"}
#: how long to wait for the snapshot before starting a job anyway (a buffering hop may hold it)
SNAPSHOT_WAIT_S = 2.0
#: extra window beyond the job's own duration (queueing, a slow worker)
JOB_SLACK_S = 15.0


class SetupError(Exception):
    """The run could not start (unreachable target, login refused, bad options): a message, not a verdict."""


@dataclass
class CheckOptions:
    url: str
    token: str | None = None
    dev_login: str | None = None
    other_token: str | None = None
    session: str | None = None
    trigger: Trigger = "http"
    redis_url: str | None = None
    #: owner of sessions created through Redis (default: the dev-login user, or the token's ``sub``)
    user: str | None = None
    idle_s: float = 5.0
    #: idle timeout of the strictest intermediary (Cloudflare 100 s, nginx proxy_read_timeout 60 s)
    idle_limit_s: float = checks.CLOUDFLARE_IDLE_S
    only: list[str] | None = None
    origin: str | None = None
    steps: int = 8
    interval_ms: int = 250
    http2: bool = True
    verify: bool = True
    cap_probe: int = 25
    api_prefix: str = "/api/v1"

    def validate(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SetupError(f"URL must be http(s)://host[:port], got {self.url!r}")
        if self.token and self.dev_login:
            raise SetupError("use either --token or --dev-login, not both")
        if self.trigger == "redis" and not self.redis_url:
            raise SetupError("--trigger redis needs --redis-url (the target's Redis)")
        if self.trigger == "none" and not self.session:
            raise SetupError("--trigger none needs --session ID (an existing session to watch)")
        if self.idle_s <= 0:
            raise SetupError(f"--idle-s must be > 0, got {self.idle_s}")
        if self.idle_limit_s <= 0:
            raise SetupError(f"--idle-limit-s must be > 0, got {self.idle_limit_s}")
        if not 3 <= self.steps <= 500:
            raise SetupError(f"--steps must be within 3..500, got {self.steps}")
        if not 50 <= self.interval_ms <= 10_000:
            raise SetupError(f"--interval-ms must be within 50..10000, got {self.interval_ms}")
        if self.cap_probe < 0:
            raise SetupError(f"--cap-probe must be >= 0, got {self.cap_probe}")
        if self.origin is not None:
            origin = urlsplit(self.origin)
            if origin.scheme not in ("http", "https") or not origin.netloc or origin.path not in ("", "/"):
                raise SetupError(f"--origin must look like https://app.example.com, got {self.origin!r}")
        try:
            select_checks(self.only)
        except ValueError as exc:
            raise SetupError(str(exc)) from None

    def job(self) -> JobParams:
        return JobParams(profile="steady", steps=self.steps, interval_ms=self.interval_ms)

    def job_duration_s(self) -> float:
        return sum(step.delay_s for step in build_steps(self.job()))

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        for secret in ("token", "other_token"):
            if data[secret]:
                data[secret] = "***"
        if data["redis_url"]:
            data["redis_url"] = _redact_url(data["redis_url"])
        return data


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _jwt_subject(token: str) -> str | None:
    """The ``sub`` of a JWT, unverified: only to know whose sessions to create through Redis."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


@dataclass
class Observations:
    live: StreamRecord | None = None
    after_end: StreamRecord | None = None
    final_id: int | None = None
    idle: StreamRecord | None = None
    resumes: dict[str, tuple[StreamRecord, StreamRecord | None, int | None]] = field(default_factory=dict)
    poll: tuple[checks.Probe | None, checks.Probe | None] = (None, None)
    unauth: list[checks.Probe] = field(default_factory=list)
    cross: list[checks.Probe] = field(default_factory=list)
    cross_reason: str | None = None
    malformed: list[checks.Probe] = field(default_factory=list)
    cap: tuple[list[int], str | None] = ([], None)
    cors: tuple[checks.Probe | None, checks.Probe | None] = (None, None)
    skipped: dict[str, str] = field(default_factory=dict)


class Runner:
    def __init__(self, options: CheckOptions, client: httpx.AsyncClient) -> None:
        self.o = options
        self.client = client
        self.base = options.url.rstrip("/")
        self.api = self.base + options.api_prefix
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
            raise SetupError(f"dev login as {username!r} failed: {response.status_code} {response.text[:200]}")
        try:
            token = str(response.json().get("access_token", ""))
        except (ValueError, AttributeError):
            raise SetupError(f"dev login answered 200 without a JSON token: {response.text[:200]!r}") from None
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
                raise SetupError(f"cannot reach Redis at {_redact_url(o.redis_url or '')}: {exc}") from None

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
            raise SetupError(f"POST {self.api}/sessions answered {response.status_code} {response.text[:200]}: "
                             "cannot create sessions (use --trigger redis or --trigger none --session ID)")
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise SetupError(f"POST {self.api}/sessions answered 201 without an id: {response.text[:200]!r}") from None

    async def start_job(self, session: str) -> None:
        params = self.o.job()
        if self.o.trigger == "redis":
            from reference_app.job_runs import run_job

            bus = self._bus
            self._jobs.append(asyncio.ensure_future(
                run_job(bus.publish, session, params, f"check-{uuid.uuid4().hex}")))
            return
        response = await self.client.post(f"{self.api}/sessions/{session}/transcribe",
                                          json=params.model_dump(exclude_none=True), headers=self.creds.headers())
        if response.status_code != 202:
            raise SetupError(f"POST .../transcribe answered {response.status_code} {response.text[:200]}: cannot "
                             "start a job (use --trigger redis or --trigger none --session ID)")

    # -- phases -------------------------------------------------------------------------------------------

    async def _job_stream(self, session: str, window_s: float,
                          stop_when: Callable[[StreamRecord], bool] | None = None) -> StreamRecord:
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
        await self.start_job(session)
        return await recording

    async def live_phase(self, wanted: set[str]) -> None:
        if self.o.trigger == "none":
            return
        session = await self.new_session("conformance: live")
        if not wanted & JOB_CHECKS:
            # headers and timing only (e.g. --only headers): the snapshot is enough, no job to wait for
            self.obs.live = await record_stream(
                self.client, self.stream_url(session), headers=self.creds.headers(for_stream=True),
                window_s=self.o.idle_s, stop_when=lambda record: bool(record.events))
            return
        window = self.o.job_duration_s() + JOB_SLACK_S
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
        self.obs.idle = await record_stream(self.client, self.stream_url(session),
                                            headers=self.creds.headers(for_stream=True), window_s=self.o.idle_s)
        return self.obs.idle

    async def resume_phase(self, kind: Literal["header", "query"]) -> None:
        if self.o.trigger == "none":
            return
        session = await self.new_session(f"conformance: resume {kind}")
        window = self.o.job_duration_s() + JOB_SLACK_S

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

    async def _probe(self, label: str, method: str, path: str, *, headers: dict[str, str] | None = None,
                     body: Any = None, content: bytes | None = None, expect: str = "",
                     stream: bool = False, client: httpx.AsyncClient | None = None) -> checks.Probe:
        probe = checks.Probe(label, method, path, expect=expect)
        url = path if path.startswith("http") else self.base + path
        client = client or self.client
        try:
            async with asyncio.timeout(10):
                request = client.build_request(method, url, headers=headers or {}, json=body, content=content)
                response = await client.send(request, stream=True)
                try:
                    probe.status = response.status_code
                    probe.headers = {k.lower(): v for k, v in response.headers.items()}
                    # an open stream: the status and headers are the answer (a buffering hop may hold
                    # the body for as long as the stream lasts), so let go at once
                    if not stream or response.status_code != 200:
                        probe.body = (await response.aread()).decode("utf-8", "replace")[:2000]
                finally:
                    await response.aclose()
        except TimeoutError:
            probe.error = "no answer within 10 s"
        except httpx.HTTPError as exc:
            probe.error = f"{type(exc).__name__}: {exc}"
        return probe

    async def probes_phase(self, wanted: set[str], session: str) -> None:
        prefix = self.o.api_prefix
        stream_path = f"{prefix}/sessions/{session}/status/stream"
        status_path = f"{prefix}/sessions/{session}/status"
        creds = self.creds.headers()
        tasks: dict[str, Awaitable[Any]] = {}
        if "poll.etag" in wanted:
            async def poll() -> None:
                first = await self._probe("status", "GET", status_path, headers=creds)
                second = None
                if first.status == 200 and first.headers.get("etag"):
                    second = await self._probe("status If-None-Match", "GET", status_path,
                                               headers={**creds, "If-None-Match": first.headers["etag"]})
                self.obs.poll = (first, second)
            tasks["poll"] = poll()
        if "auth.unauthenticated" in wanted:
            async def unauth() -> None:
                # a client of its own: no cookie jar, no default credentials
                async with make_client(http2=self.o.http2, verify=self.o.verify) as anonymous:
                    self.obs.unauth = [
                        await self._probe("stream", "GET", stream_path, stream=True, client=anonymous),
                        await self._probe("status", "GET", status_path, client=anonymous),
                        await self._probe("stream, bad token", "GET", stream_path, stream=True, client=anonymous,
                                          headers={"Authorization": "Bearer not-a-valid-token"}),
                    ]
            tasks["unauth"] = unauth()
        if "auth.cross-user" in wanted and self.other is not None:
            other = self.other.headers()
            missing = str(uuid.uuid4())

            async def cross() -> None:
                self.obs.cross = [
                    await self._probe("other user's stream", "GET", stream_path, headers=other, stream=True),
                    await self._probe("other user's status", "GET", status_path, headers=other),
                    await self._probe("missing session", "GET", f"{prefix}/sessions/{missing}/status/stream",
                                      headers=creds, stream=True),
                ]
            tasks["cross"] = cross()
        if "input.malformed" in wanted:
            tasks["malformed"] = self._malformed(session, creds)
        if "cors.credentials" in wanted and self.o.origin:
            origin = self.o.origin.rstrip("/")

            async def cors() -> None:
                preflight = await self._probe("preflight", "OPTIONS", stream_path, headers={
                    "Origin": origin, "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "last-event-id"})
                actual = await self._probe("stream", "GET", stream_path, stream=True,
                                           headers={**self.creds.headers(for_stream=True), "Origin": origin})
                self.obs.cors = (preflight, actual)
            tasks["cors"] = cors()
        await asyncio.gather(*tasks.values())

    async def _malformed(self, session: str, creds: dict[str, str]) -> None:
        prefix = self.o.api_prefix
        stream_creds = self.creds.headers(for_stream=True)
        probes = [
            self._probe("session id 'not-a-uuid'", "GET", f"{prefix}/sessions/not-a-uuid/status/stream",
                        headers=stream_creds, expect="4xx", stream=True),
            self._probe("session id with ../", "GET", f"{prefix}/sessions/..%2F..%2Fetc%2Fpasswd/status",
                        headers=creds, expect="4xx"),
            self._probe("session id of 400 chars", "GET", f"{prefix}/sessions/{'a' * 400}/status/stream",
                        headers=stream_creds, expect="4xx", stream=True),
            self._probe("If-None-Match garbage", "GET", f"{prefix}/sessions/{session}/status",
                        headers={**creds, "If-None-Match": '"' + "x" * 300}, expect=""),
        ]
        for value in ("abc", "-1", "1e9", "9" * 40, "\u00e9t\u00e9"):
            header_value = value if value.isascii() else quote(value)
            probes.append(self._probe(f"Last-Event-ID {value!r}", "GET", f"{prefix}/sessions/{session}/status/stream",
                                      headers={**stream_creds, "Last-Event-ID": header_value}, expect="200",
                                      stream=True))
        probes.append(self._probe("?lastEventId=%00", "GET",
                                  f"{prefix}/sessions/{session}/status/stream?lastEventId=%00",
                                  headers=stream_creds, expect="200", stream=True))
        if self.o.trigger == "http":
            throwaway = await self.new_session("conformance: malformed")
            path = f"{prefix}/sessions/{throwaway}/transcribe"
            probes += [
                self._probe("transcribe: unknown profile", "POST", path, headers=creds, body={"profile": "nope"},
                            expect="4xx"),
                self._probe("transcribe: steps -1", "POST", path, headers=creds, body={"steps": -1}, expect="4xx"),
                self._probe("transcribe: broken JSON", "POST", path,
                            headers={**creds, "Content-Type": "application/json"}, content=b"{", expect="4xx"),
            ]
            probes.append(self._probe("sessions: title not a string", "POST", f"{prefix}/sessions",
                                      headers=creds, body={"title": {"x": 1}}, expect="4xx"))
        # one at a time: each stream probe holds a stream of this user, and a deployment with a small
        # per-user cap (e.g. 5) would otherwise answer 429 instead of judging the input
        self.obs.malformed = [await probe for probe in probes]

    async def cap_phase(self, session: str) -> None:
        """Open streams of one user until the cap answers (or ``cap_probe`` are open)."""
        async with make_client(http2=self.o.http2, verify=self.o.verify,
                               max_connections=self.o.cap_probe + 5) as client:
            try:
                async with open_streams(client, self.stream_url(session), self.creds.headers(for_stream=True),
                                        self.o.cap_probe + 1) as responses:
                    statuses = [r.status_code for r in responses]
                    retry_after = responses[-1].headers.get("retry-after") if responses else None
            except (httpx.HTTPError, TimeoutError) as exc:
                self.obs.skipped["cap.per-user"] = f"not measured: opening streams failed ({exc!r})"
                return
        self.obs.cap = (statuses, retry_after)

    # -- the run ------------------------------------------------------------------------------------------

    async def run(self) -> list[CheckResult]:
        selected = select_checks(self.o.only)
        wanted = set(selected)
        await self.prepare()
        phases: list[Coroutine[Any, Any, Any]] = []
        if wanted & LIVE_CHECKS:
            phases.append(self.live_phase(wanted))
        idle_needed = bool(wanted & IDLE_CHECKS) or self.o.trigger == "none"
        idle_session: str | None = self.o.session
        if idle_needed:
            phases.append(self.idle_phase())
        for kind in ("header", "query"):
            if f"resume.{kind}" in wanted:
                phases.append(self.resume_phase(kind))
        probe_wanted = wanted & PROBE_CHECKS
        if probe_wanted or "cap.per-user" in wanted:
            idle_session = idle_session or await self.new_session("conformance: probes")
        if probe_wanted:
            assert idle_session is not None
            phases.append(self.probes_phase(probe_wanted, idle_session))
        try:
            # one phase that cannot proceed (e.g. sessions cannot be created) stops the others
            async with asyncio.TaskGroup() as group:
                for phase in phases:
                    group.create_task(phase)
        except* SetupError as errors:
            raise errors.exceptions[0] from None
        if "cap.per-user" in wanted and self.o.cap_probe > 0:
            assert idle_session is not None
            await self.cap_phase(idle_session)
        return [self.judge(check_id) for check_id in selected]

    def judge(self, check_id: str) -> CheckResult:
        obs = self.obs
        if check_id in obs.skipped:
            return CheckResult(check_id, Outcome.SKIP, obs.skipped[check_id])
        # with --trigger none the idle recording of the given session stands in for the live one
        primary = obs.live or obs.idle
        no_events = "not measured: needs events (--trigger http or redis)"
        if check_id in LIVE_CHECKS - {"timing.first-event", "resume.after-end-204"}:
            if primary is None:
                return CheckResult(check_id, Outcome.SKIP, "not measured: no stream recorded")
            if obs.live is None and check_id in ("stream.not-buffered", "stream.terminal-close"):
                return CheckResult(check_id, Outcome.SKIP, no_events)
            judge: Callable[[StreamRecord], CheckResult] = {
                "stream.open": checks.stream_open, "headers.content-type": checks.content_type,
                "headers.cache-control": checks.cache_control, "headers.content-encoding": checks.content_encoding,
                "headers.content-length": checks.content_length,
                "headers.x-accel-buffering": checks.x_accel_buffering,
                "headers.connection-h2": checks.connection_h2, "timing.headers": checks.time_to_headers,
                "stream.retry": checks.retry_field, "stream.ids": checks.event_ids,
                "stream.payload": checks.payloads, "stream.not-buffered": checks.not_buffered,
                "stream.terminal-close": checks.terminal_close,
            }[check_id]
            return judge(primary)
        if check_id == "timing.first-event":
            return checks.time_to_first_event([obs.live, obs.idle])
        if check_id == "resume.after-end-204":
            if obs.live is None:
                return CheckResult(check_id, Outcome.SKIP, no_events)
            return checks.after_end(obs.after_end, obs.final_id)
        if check_id == "heartbeat.interval":
            return checks.heartbeat(obs.idle, self.o.idle_s, self.o.idle_limit_s)
        if check_id == "idle.survival":
            return checks.idle_survival(obs.idle, self.o.idle_s)
        if check_id.startswith("resume."):
            kind = check_id.split(".")[1]
            if kind not in obs.resumes:
                return CheckResult(check_id, Outcome.SKIP, no_events)
            return checks.resume(kind, *obs.resumes[kind])
        if check_id == "poll.etag":
            return checks.poll_etag(*obs.poll)
        if check_id == "auth.unauthenticated":
            return checks.unauthenticated(obs.unauth)
        if check_id == "auth.cross-user":
            return checks.cross_user(obs.cross, obs.cross_reason)
        if check_id == "input.malformed":
            return checks.malformed(obs.malformed)
        if check_id == "cap.per-user":
            return checks.per_user_cap(obs.cap[0], obs.cap[1], self.o.cap_probe)
        if check_id == "cors.credentials":
            return checks.cors(self.o.origin, *obs.cors)
        raise AssertionError(f"no judge for {check_id}")


async def run(options: CheckOptions) -> Report:
    """Run the selected checks against ``options.url``. Raises ``SetupError`` when the run cannot start."""
    options.validate()
    started = time.monotonic()
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with make_client(http2=options.http2, verify=options.verify) as client:
        runner = Runner(options, client)
        try:
            results = await runner.run()
        finally:
            await runner.close()
    primary = runner.obs.live or runner.obs.idle
    return Report(url=options.url, results=results, http_version=primary.http_version if primary else None,
                  duration_s=time.monotonic() - started, started_at=started_at, settings=options.public())


def run_sync(options: CheckOptions) -> Report:
    """``run`` for synchronous callers (scripts, pytest)."""
    return asyncio.run(run(options))
