"""Operator hooks (contract profile): the checks a black-box checker cannot provoke by itself.

Contract point 11 (the status bus down) and point 8 (SIGTERM) only happen when something is done to the
target: the user supplies the shell commands that do it (``--bus-down-cmd``/``--bus-up-cmd``,
``--shutdown-cmd``), the way ``--trigger-cmd`` makes events happen in the sse profile. Both phases are
opt-in and disturb the target, so they run after every other phase: the outage first (it ends with the
target recovered), SIGTERM last (it stops the target). A command that fails, cannot start or runs past
``HOOK_TIMEOUT_S`` is a ``SetupError`` (exit 2, one line naming the option): what it should have caused
was not checked.
"""

from __future__ import annotations

import asyncio
import email.utils
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from conformance.client import Credentials, StreamRecord, record_stream
from conformance.model import CheckResult, Outcome
from conformance.options import CheckOptions, SetupError
from conformance.probes import Probe
from sse_contract.constants import UNAVAILABLE_REASONS as REASONS

__all__ = ["BusOutage", "Shutdown", "bus_down", "bus_phase", "run_command", "shutdown_phase", "sigterm"]

#: a hook command that runs longer than this is stopped (docker compose stop waits ~10 s for a container)
HOOK_TIMEOUT_S = 60.0
#: how long the target may take to notice that Redis went away, polled this often
NOTICE_S, POLL_S = 10.0, 0.5
#: streams must end within --shutdown-grace-s plus this (the signal's delivery, scheduling)
SHUTDOWN_MARGIN_S = 1.0
#: new opens during shutdown: one every so often, from the command's return until the streams ended + this
OPEN_EVERY_S, OPEN_AFTER_END_S = 0.1, 0.5
SHUTDOWN_STREAMS = 2


async def run_command(cmd: str, timeout_s: float = HOOK_TIMEOUT_S) -> str | None:
    """Run ``cmd`` through the shell, bounded: None when it exited 0, else what went wrong (one line)."""
    try:
        process = await asyncio.create_subprocess_shell(cmd, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        return f"could not start: {exc}"
    try:
        async with asyncio.timeout(timeout_s):
            _, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return f"still running after {timeout_s:g} s: stopped"
    if process.returncode:
        tail = " ".join(err.decode("utf-8", "replace").split())[-200:]
        return f"exited {process.returncode}: {tail}".rstrip(": ")
    return None


def hook_failed(flag: str, cmd: str, problem: str, consequence: str) -> SetupError:
    return SetupError(f"{flag} {shlex.quote(cmd)[:60]} {problem}: {consequence}")


async def _run_hook(flag: str, cmd: str, consequence: str) -> None:
    problem = await run_command(cmd)
    if problem is not None:
        raise hook_failed(flag, cmd, problem, consequence)


# -- what was observed --------------------------------------------------------------------------------------

@dataclass
class BusOutage:
    """Answers while Redis was down (the last polling round), and how the target came back."""

    stream: Probe | None = None
    healthz: Probe | None = None
    route: Probe | None = None
    #: seconds after --bus-down-cmd returned until every answer was a 503 (None: never)
    noticed_after_s: float | None = None
    #: seconds after --bus-up-cmd returned until /healthz 200 and a stream with its snapshot (None: never)
    recovered_after_s: float | None = None
    recovery: list[str] = field(default_factory=list)


@dataclass
class Shutdown:
    """The streams open when --shutdown-cmd ran, and the new opens tried during the shutdown."""

    streams: list[StreamRecord] = field(default_factory=list)
    #: per stream: seconds after the command started until the stream ended (None: still open at the deadline)
    ended_after_s: list[float | None] = field(default_factory=list)
    opens: list[Probe] = field(default_factory=list)
    not_run: str | None = None


# -- the judges ---------------------------------------------------------------------------------------------

def _r(check_id: str, outcome: Outcome, message: str, metric: float | None = None, /,
       **evidence: Any) -> CheckResult:
    return CheckResult(check_id, outcome, message, evidence, metric)


def _retry_after_ok(value: str | None) -> bool:
    if not value:
        return False
    if value.strip().isdigit():
        return True
    return email.utils.parsedate_tz(value) is not None


def refusal_problem(probe: Probe, what: str) -> str | None:
    """Why ``probe`` is not a contract 503 (Retry-After, a JSON body with one of the reasons), or None."""
    if probe.status is None:
        return f"{what}: no answer ({probe.error})"
    if probe.status != 503:
        return f"{what} answered {probe.status}, not 503"
    if not _retry_after_ok(probe.headers.get("retry-after")):
        return f"{what}: 503 without Retry-After (clients and load balancers do not know when to retry)"
    body = probe.json()
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is None:
        return f"{what}: no reason in the 503 body (the contract's: {', '.join(REASONS)})"
    if reason not in REASONS:
        return f"{what}: 503 reason {reason!r} is not one of the contract's ({', '.join(REASONS)})"
    return None


def bus_down(outage: BusOutage | None, o: CheckOptions) -> CheckResult:
    cid = "bus.down-503"
    if outage is None:
        return _r(cid, Outcome.SKIP, "not measured: opt-in (--bus-down-cmd/--bus-up-cmd)")
    evidence = {"stream": outage.stream.short() if outage.stream else None,
                "healthz": outage.healthz.short() if outage.healthz else None,
                "route": outage.route.short() if outage.route else None,
                "noticed_after_s": outage.noticed_after_s, "recovered_after_s": outage.recovered_after_s,
                "recovery": outage.recovery}
    stream, health, route = outage.stream, outage.healthz, outage.route
    if stream is None or health is None or route is None:
        return _r(cid, Outcome.SKIP, "not measured: no answer recorded while Redis was down", **evidence)
    window = f"(within {NOTICE_S:g} s after --bus-down-cmd)"
    if stream.status == 200:
        return _r(cid, Outcome.FAIL, f"a stream opened with 200 while Redis was down {window}: it would never "
                  "receive anything — 11. says 503 with Retry-After", **evidence)
    problem = refusal_problem(stream, "the stream open while Redis was down")
    if problem is None and health.status == 200:
        problem = (f"/healthz answered 200 while Redis was down {window}: a load balancer keeps sending traffic "
                   "to an instance that cannot stream; answer 503 {\"status\": \"degraded\"}")
    elif problem is None and health.status != 503:
        problem = f"/healthz answered {health.status or health.error} while Redis was down, not 503"
    elif problem is None and not (isinstance(health.json(), dict) and health.json().get("status") == "degraded"):
        problem = f"/healthz answered 503 without {{\"status\": \"degraded\"}}: {health.body[:80]!r}"
    if problem is None:
        problem = refusal_problem(route, f"GET {route.path} (needs Redis) while Redis was down")
    if problem is not None:
        return _r(cid, Outcome.FAIL, problem + " — 11.", **evidence)
    if outage.recovered_after_s is None:
        last = outage.recovery[-1] if outage.recovery else "no answer"
        return _r(cid, Outcome.FAIL, f"did not recover within {o.recover_s:g} s after --bus-up-cmd (last: {last}): "
                  "the target must come back by itself when Redis returns", **evidence)
    return _r(cid, Outcome.PASS, f"503 with Retry-After and reason {stream.json().get('reason')!r} while Redis was "
              f"down, /healthz 503; recovered {outage.recovered_after_s:.1f} s after --bus-up-cmd",
              outage.recovered_after_s, **evidence)


def sigterm(shutdown: Shutdown | None, o: CheckOptions) -> CheckResult:
    cid = "shutdown.sigterm"
    if shutdown is None:
        return _r(cid, Outcome.SKIP, "not measured: opt-in (--shutdown-cmd)")
    if shutdown.not_run is not None:
        return _r(cid, Outcome.SKIP, f"not measured: {shutdown.not_run}")
    grace = o.shutdown_grace_s
    evidence = {"ended_after_s": shutdown.ended_after_s, "ends": [r.end for r in shutdown.streams],
                "errors": [r.error for r in shutdown.streams if r.error], "opens": [p.short() for p in shutdown.opens],
                "grace_s": grace}
    latest = max((t for t in shutdown.ended_after_s if t is not None), default=None)
    for record, after in zip(shutdown.streams, shutdown.ended_after_s, strict=True):
        if after is None:
            return _r(cid, Outcome.FAIL, f"stream still open {grace + SHUTDOWN_MARGIN_S:g} s after SIGTERM (grace "
                      f"{grace:g} s) — 8.: end every stream on SIGTERM so the process can exit (a deploy otherwise "
                      "waits for streams that never finish)", **evidence)
        if record.end == "cut":
            return _r(cid, Outcome.FAIL, f"the stream was cut (reset), not ended: clients see an error ({record.error}"
                      ") — 8.: end the response (the final chunk) so clients resume elsewhere", **evidence)
        if after > grace + SHUTDOWN_MARGIN_S:
            return _r(cid, Outcome.FAIL, f"a stream ended {after:.1f} s after SIGTERM, past the grace of {grace:g} s"
                      " — 8.", after, **evidence)
    for probe in shutdown.opens:
        if probe.status == 200:
            return _r(cid, Outcome.FAIL, "a stream was accepted (200) during shutdown — 8.: new stream requests get "
                      "503 with Retry-After", latest, **evidence)
        if probe.status is None and probe.error and probe.error.startswith("no answer"):
            return _r(cid, Outcome.FAIL, f"a new stream open during shutdown got {probe.error}: refuse it (503 with "
                      "Retry-After) or stop listening — 8.", latest, **evidence)
        if probe.status is not None:
            problem = refusal_problem(probe, "a new stream open during shutdown")
            if problem is not None:
                return _r(cid, Outcome.FAIL, problem + " — 8.", latest, **evidence)
    refusals = sorted({"refused" if p.status is None else f"503 {p.json().get('reason')}" for p in shutdown.opens})
    return _r(cid, Outcome.PASS, f"{len(shutdown.streams)} open streams ended cleanly {latest or 0:.2f} s after "
              f"SIGTERM (grace {grace:g} s); new opens: {', '.join(refusals) or 'none tried'}", latest, **evidence)


# -- the phases ---------------------------------------------------------------------------------------------

class HookRunner(Protocol):
    o: CheckOptions
    client: httpx.AsyncClient
    creds: Credentials

    async def new_session(self, title: str) -> str: ...
    def stream_url(self, session: str, query: str = "") -> str: ...
    async def _probe(self, label: str, method: str, path: str, *, headers: dict[str, str] | None = None,
                     body: Any = None, content: bytes | None = None, expect: str = "",
                     stream: bool = False, client: httpx.AsyncClient | None = None) -> Probe: ...


async def _outage_round(runner: HookRunner, session: str) -> tuple[Probe, Probe, Probe]:
    status_path = runner.stream_url(session).removesuffix("/stream")
    stream, health, route = await asyncio.gather(
        runner._probe("stream", "GET", runner.stream_url(session), headers=runner.creds.headers(for_stream=True),
                      stream=True),
        runner._probe("healthz", "GET", _origin(runner) + "/healthz"),
        runner._probe("status", "GET", status_path, headers=runner.creds.headers()))
    return stream, health, route


def _origin(runner: HookRunner) -> str:
    return runner.o.url.rstrip("/") + runner.o.base_path.rstrip("/")


async def _snapshot_stream(runner: HookRunner, session: str, window_s: float) -> StreamRecord:
    return await record_stream(runner.client, runner.stream_url(session), headers=runner.creds.headers(for_stream=True),
                               window_s=window_s, stop_when=lambda record: bool(record.events))


async def bus_phase(runner: HookRunner) -> BusOutage:
    """Redis down (polled until the target answers 503 everywhere, at most NOTICE_S), then up again (always),
    then /healthz 200 and a stream with its snapshot within --recover-s."""
    o = runner.o
    assert o.bus_down_cmd is not None and o.bus_up_cmd is not None
    session = await runner.new_session("conformance: bus outage")
    outage = BusOutage()
    try:
        await _run_hook("--bus-down-cmd", o.bus_down_cmd, "the outage was not checked")
        down = time.monotonic()
        while True:
            outage.stream, outage.healthz, outage.route = await _outage_round(runner, session)
            if all(p.status == 503 for p in (outage.stream, outage.healthz, outage.route)):
                outage.noticed_after_s = round(time.monotonic() - down, 2)
                break
            if time.monotonic() - down >= NOTICE_S:
                break
            await asyncio.sleep(POLL_S)
    finally:
        await _run_hook("--bus-up-cmd", o.bus_up_cmd, "the target's Redis may still be down; recovery was not checked")
    up = time.monotonic()
    while time.monotonic() - up < o.recover_s:
        health = await runner._probe("healthz", "GET", _origin(runner) + "/healthz")
        if health.status == 200:
            remaining = max(0.5, o.recover_s - (time.monotonic() - up))
            record = await _snapshot_stream(runner, session, min(5.0, remaining))
            if record.status == 404 and o.trigger != "none":
                # Redis came back without its data (no persistence): the session is gone, a new one must work
                sessions = runner.stream_url("x").split("/sessions/")[0] + "/sessions"
                created = await runner._probe("create", "POST", sessions, headers=runner.creds.headers(),
                                              body={"title": "conformance: after the outage"})
                outage.recovery.append(f"the session is gone after the outage (404); POST /sessions: "
                                       f"{created.status or created.error}")
                body = created.json() if created.status == 201 else None
                new_id = body.get("id") if isinstance(body, dict) else None
                if new_id:
                    session = str(new_id)
                    record = await _snapshot_stream(runner, session, min(5.0, remaining))
            if record.opened and record.events:
                outage.recovered_after_s = round(time.monotonic() - up, 2)
                return outage
            failure = record.describe_failure() if not record.opened else "sent no snapshot"
            outage.recovery.append(f"/healthz 200 but the stream {failure}")
        else:
            outage.recovery.append(f"/healthz {health.status or health.error}")
        await asyncio.sleep(POLL_S)
    return outage


async def shutdown_phase(runner: HookRunner) -> Shutdown:
    """Open streams, wait for their snapshots, run --shutdown-cmd; every stream must end cleanly within the grace
    period, and new opens meanwhile must be refused (503 with Retry-After, or no connection)."""
    o = runner.o
    assert o.shutdown_cmd is not None
    result = Shutdown()
    session = await runner.new_session("conformance: shutdown")
    records: dict[int, StreamRecord] = {}
    snapshots = [asyncio.Event() for _ in range(SHUTDOWN_STREAMS)]
    budget = 5.0 + HOOK_TIMEOUT_S + o.shutdown_grace_s + SHUTDOWN_MARGIN_S

    def watcher(i: int) -> Any:
        def seen(record: StreamRecord) -> None:
            records[i] = record
            if record.events:
                snapshots[i].set()
        return seen

    tasks = [asyncio.ensure_future(record_stream(
        runner.client, runner.stream_url(session), headers=runner.creds.headers(for_stream=True),
        window_s=budget, on_chunk=watcher(i))) for i in range(SHUTDOWN_STREAMS)]
    finished: dict[int, float] = {}

    def note_end(i: int) -> Any:
        return lambda _task: finished.setdefault(i, time.monotonic())

    for i, task in enumerate(tasks):
        task.add_done_callback(note_end(i))
    try:
        waiting = asyncio.gather(*(s.wait() for s in snapshots))
        try:
            await asyncio.wait_for(waiting, 5.0)
        except TimeoutError:
            done = [t.result() for t in tasks if t.done()]
            why = done[0].describe_failure() if done and not done[0].opened else "sent no snapshot within 5 s"
            result.not_run = f"a stream opened before --shutdown-cmd {why}; the command was not run"
            return result
        started = time.monotonic()
        command = asyncio.ensure_future(run_command(o.shutdown_cmd))
        deadline = started + o.shutdown_grace_s + SHUTDOWN_MARGIN_S
        await asyncio.wait({command, *tasks}, timeout=max(0.0, deadline - time.monotonic()),
                           return_when=asyncio.FIRST_COMPLETED)
        # the streams are watched from the command's start; new opens only once it returned (the signal was sent)
        await asyncio.wait({command}, timeout=max(0.0, deadline - time.monotonic()))
        if command.done() and (problem := command.result()) is not None:
            raise hook_failed("--shutdown-cmd", o.shutdown_cmd, problem, "SIGTERM was not checked")
        ended_at: float | None = None
        while command.done() and time.monotonic() < deadline:
            if ended_at is None and all(t.done() for t in tasks):
                ended_at = time.monotonic()
            if ended_at is not None and time.monotonic() - ended_at >= OPEN_AFTER_END_S and result.opens:
                break
            await asyncio.sleep(OPEN_EVERY_S)
            probe = await runner._probe("open during shutdown", "GET", runner.stream_url(session),
                                        headers=runner.creds.headers(for_stream=True), stream=True)
            result.opens.append(probe)
        await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        for i, task in enumerate(tasks):
            if task.done() and not task.cancelled():
                result.streams.append(task.result())
                result.ended_after_s.append(round(finished[i] - started, 2))
            else:
                result.streams.append(records.get(i) or StreamRecord(runner.stream_url(session), {}))
                result.ended_after_s.append(None)
        if not command.done():
            problem = await command
            if problem is not None:
                raise hook_failed("--shutdown-cmd", o.shutdown_cmd, problem, "SIGTERM was not checked")
        return result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
