"""The contract profile's plain HTTP probes: polling, auth, malformed input, CORS, the release of a
closed stream (``/streams/me``) and the per-user cap. A mixin of ``conformance.runner.Runner``, which
owns the client, the credentials and the sessions."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from conformance.client import Credentials, make_client, open_streams
from conformance.observations import Observations
from conformance.options import CheckOptions
from conformance.probes import Probe

__all__ = ["API_PREFIX", "ProbePhases"]

API_PREFIX = "/api/v1"
#: stream.release: how long a closed stream may still count in /streams/me, polled this often
RELEASE_WAIT_S, RELEASE_POLL_S = 2.0, 0.1


class ProbePhases:
    o: CheckOptions
    client: httpx.AsyncClient
    root: str
    creds: Credentials
    other: Credentials | None
    obs: Observations

    async def new_session(self, title: str) -> str:
        raise NotImplementedError

    def stream_url(self, session: str, query: str = "") -> str:
        raise NotImplementedError

    async def _probe(self, label: str, method: str, path: str, *, headers: dict[str, str] | None = None,
                     body: Any = None, content: bytes | None = None, expect: str = "",
                     stream: bool = False, client: httpx.AsyncClient | None = None) -> Probe:
        probe = Probe(label, method, path, expect=expect)
        url = path if path.startswith("http") else self.root + path
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
        prefix = API_PREFIX
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
        if "sessions.api" in wanted and self.o.trigger == "http":
            tasks["api"] = self.api_phase()
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
        prefix = API_PREFIX
        stream_creds = self.creds.headers(for_stream=True)
        stream_path = f"{prefix}/sessions/{session}/status/stream"
        # factories, not coroutines: nothing is created that an early error could leave un-awaited
        probes: list[Callable[[], Awaitable[Probe]]] = [
            lambda: self._probe("session id 'not-a-uuid'", "GET", f"{prefix}/sessions/not-a-uuid/status/stream",
                                headers=stream_creds, expect="4xx", stream=True),
            lambda: self._probe("session id with ../", "GET", f"{prefix}/sessions/..%2F..%2Fetc%2Fpasswd/status",
                                headers=creds, expect="4xx"),
            lambda: self._probe("session id of 400 chars", "GET", f"{prefix}/sessions/{'a' * 400}/status/stream",
                                headers=stream_creds, expect="4xx", stream=True),
            lambda: self._probe("If-None-Match garbage", "GET", f"{prefix}/sessions/{session}/status",
                                headers={**creds, "If-None-Match": '"' + "x" * 300}, expect=""),
        ]
        for value in ("abc", "-1", "1e9", "9" * 40, "\u00e9t\u00e9"):
            header_value = value if value.isascii() else quote(value)
            probes.append(functools.partial(self._probe, f"Last-Event-ID {value!r}", "GET", stream_path,
                                            headers={**stream_creds, "Last-Event-ID": header_value}, expect="200",
                                            stream=True))
        probes.append(lambda: self._probe("?lastEventId=%00", "GET", f"{stream_path}?lastEventId=%00",
                                          headers=stream_creds, expect="200", stream=True))
        if self.o.trigger == "http":
            throwaway = await self.new_session("conformance: malformed")
            path = f"{prefix}/sessions/{throwaway}/transcribe"
            probes += [
                lambda: self._probe("transcribe: unknown profile", "POST", path, headers=creds,
                                    body={"profile": "nope"}, expect="4xx"),
                lambda: self._probe("transcribe: steps -1", "POST", path, headers=creds, body={"steps": -1},
                                    expect="4xx"),
                lambda: self._probe("transcribe: broken JSON", "POST", path,
                                    headers={**creds, "Content-Type": "application/json"}, content=b"{",
                                    expect="4xx"),
                lambda: self._probe("sessions: title not a string", "POST", f"{prefix}/sessions", headers=creds,
                                    body={"title": {"x": 1}}, expect="4xx"),
            ]
        # one at a time: each stream probe holds a stream of this user, and a deployment with a small
        # per-user cap (e.g. 5) would otherwise answer 429 instead of judging the input
        self.obs.malformed = [await make() for make in probes]

    async def api_phase(self) -> None:
        """The "Sessions and jobs" table as a client meets it: create, read, the first status, a job, a
        second job (409), /healthz. Stops at the first answer that is not the contract's."""
        creds = self.creds.headers()
        steps: list[Probe] = []
        created = await self._probe("POST /sessions", "POST", f"{API_PREFIX}/sessions", headers=creds,
                                    body={"title": "conformance: api"}, expect="201")
        steps.append(created)
        body = created.json()
        sid = body.get("id") if isinstance(body, dict) else None
        if created.status == 201 and isinstance(sid, str):
            base = f"{API_PREFIX}/sessions/{sid}"
            steps.append(await self._probe("GET the session", "GET", base, headers=creds, expect="200"))
            steps.append(await self._probe("its first status", "GET", f"{base}/status", headers=creds,
                                           expect="200"))
            job = {"profile": "steady", "steps": 3, "interval_ms": 50}
            steps.append(await self._probe("POST .../transcribe", "POST", f"{base}/transcribe", headers=creds,
                                           body=job, expect="202"))
            steps.append(await self._probe("a second job", "POST", f"{base}/transcribe", headers=creds,
                                           body=job, expect="409"))
        steps.append(await self._probe("GET /healthz", "GET", "/healthz", expect="200"))
        self.obs.api = steps

    async def _open_count(self) -> int | None:
        probe = await self._probe("streams/me", "GET", f"{API_PREFIX}/streams/me", headers=self.creds.headers())
        data = probe.json() if probe.status == 200 else None
        value = data.get("open") if isinstance(data, dict) else None
        if not isinstance(value, int):
            self.obs.release_reason = f"GET {API_PREFIX}/streams/me answered {probe.short()}"
            return None
        return value

    async def release_phase(self, session: str) -> None:
        """Open one stream, see it counted in /streams/me, close it, poll until it no longer counts.

        The other phases' streams were closed a moment ago: wait until the count holds still, so that
        their release is not mistaken for this stream's."""
        before = await self._open_count()
        deadline = time.monotonic() + RELEASE_WAIT_S
        while before is not None and time.monotonic() < deadline:
            await asyncio.sleep(2 * RELEASE_POLL_S)
            again = await self._open_count()
            if again == before:
                break
            before = again
        if before is None:
            return
        async with (make_client(http2=self.o.http2, verify=self.o.verify) as client,
                    open_streams(client, self.stream_url(session), self.creds.headers(for_stream=True),
                                 1) as responses):
            if not responses or responses[0].status_code != 200:
                self.obs.release_reason = "the stream did not open"
                return
            during = await self._open_count()
        after: list[int] = []
        deadline = time.monotonic() + RELEASE_WAIT_S
        while during is not None and time.monotonic() < deadline:
            count = await self._open_count()
            if count is None:
                return
            after.append(count)
            if count <= before:
                break
            await asyncio.sleep(RELEASE_POLL_S)
        self.obs.release = (before, during, after)

    async def cap_phase(self, session: str) -> None:
        """Open ``expect_cap`` + 1 streams of one user: the last must be refused with 429."""
        count = self.o.expect_cap + 1
        async with make_client(http2=self.o.http2, verify=self.o.verify, max_connections=count + 5) as client:
            try:
                async with open_streams(client, self.stream_url(session), self.creds.headers(for_stream=True),
                                        count) as responses:
                    statuses = [r.status_code for r in responses]
                    retry_after = responses[-1].headers.get("retry-after") if responses else None
            except (httpx.HTTPError, TimeoutError) as exc:
                self.obs.skipped["cap.per-user"] = f"not measured: opening streams failed ({exc!r})"
                return
        self.obs.cap = (statuses, retry_after)
