"""Operator hooks (contract profile): the checks a black-box checker cannot provoke by itself.

Contract point 11 (the status bus down) and point 8 (SIGTERM) only happen when something is done to the
target: the user supplies the shell commands that do it (``--bus-down-cmd``/``--bus-up-cmd``,
``--shutdown-cmd``), the way ``--trigger-cmd`` makes events happen in the sse profile. Both phases are
opt-in and disturb the target, so they run after every other phase: the outage first (it ends with the
target recovered), SIGTERM last (it stops the target). A command that fails, cannot start or runs past
``HOOK_TIMEOUT_S`` is a ``SetupError`` (exit 2, one line naming the option): what it should have caused
was not checked. The judges are in conformance/hook_verdicts.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import tempfile
import time
from typing import Any, Protocol

import httpx

from conformance.client import Credentials, StreamRecord, record_stream
from conformance.hook_verdicts import (
    NOTICE_S,
    POLL_S,
    SHUTDOWN_MARGIN_S,
    BusOutage,
    Shutdown,
    bus_down,
    lifetime_problem,
    refusal_problem,
    sigterm,
)
from conformance.options import CheckOptions, SetupError
from conformance.probes import Probe
from sse_contract.constants import EVENT_STATUS
from sse_contract.jobs import JobParams

__all__ = ["BusOutage", "Shutdown", "bus_down", "bus_phase", "refusal_problem", "run_command", "shutdown_phase",
           "sigterm"]

#: a hook command that runs longer than this is stopped (docker compose stop waits ~10 s for a container)
HOOK_TIMEOUT_S = 60.0
#: new opens during shutdown: one every so often, from the first sign of it (the command returned or a stream
#: ended) until the streams ended + this
OPEN_EVERY_S, OPEN_AFTER_END_S = 0.1, 0.5
SHUTDOWN_STREAMS = 2


async def run_command(cmd: str, timeout_s: float = HOOK_TIMEOUT_S) -> str | None:
    """Run ``cmd`` through the shell, bounded: None when it exited 0, else what went wrong (one line).

    Waits for the shell's exit, not for EOF on its pipes: stderr goes to a file, so a background child the
    command leaves running (``redis-server … &``) cannot hold the hook open. The shell gets a session of its
    own, so a timeout kills its whole process group, not only the shell."""
    with tempfile.TemporaryFile() as err:
        try:
            process = await asyncio.create_subprocess_shell(
                cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=err,
                start_new_session=True)
        except OSError as exc:
            return f"could not start: {exc}"
        try:
            async with asyncio.timeout(timeout_s):
                await process.wait()
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return f"still running after {timeout_s:g} s: stopped"
        if process.returncode:
            err.seek(0)
            tail = " ".join(err.read()[-4000:].decode("utf-8", "replace").split())[-200:]
            return f"exited {process.returncode}: {tail}".rstrip(": ")
    return None


def hook_failed(flag: str, cmd: str, problem: str, consequence: str) -> SetupError:
    return SetupError(f"{flag} {shlex.quote(cmd)[:60]} {problem}: {consequence}")


async def _run_hook(flag: str, cmd: str, consequence: str) -> None:
    problem = await run_command(cmd)
    if problem is not None:
        raise hook_failed(flag, cmd, problem, consequence)


# -- the phases ---------------------------------------------------------------------------------------------

class HookRunner(Protocol):
    o: CheckOptions
    client: httpx.AsyncClient
    creds: Credentials

    async def new_session(self, title: str) -> str: ...
    async def start_job(self, session: str, params: JobParams | None = None) -> None: ...
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


def _live(record: StreamRecord) -> bool:
    """A status after the snapshot: the pub/sub path delivers again (a snapshot is a plain Redis read)."""
    return any(getattr(a.item, "event", None) == EVENT_STATUS for a in record.events[1:])


async def _recovered_stream(runner: HookRunner, session: str, window_s: float) -> tuple[StreamRecord, str | None]:
    """A stream with its snapshot on ``session``, then a live status from a short job on a new session (each try
    its own: one job per session), started once that stream's snapshot came. With --trigger none no job can
    be started: the snapshot is all that is checked."""
    record = await record_stream(runner.client, runner.stream_url(session),
                                 headers=runner.creds.headers(for_stream=True), window_s=window_s,
                                 stop_when=lambda r: bool(r.events))
    if not record.opened or not record.events or runner.o.trigger == "none":
        return record, None
    try:
        fresh = await runner.new_session("conformance: live after the outage")
    except SetupError as exc:  # after the outage this is the target's answer, not the user's setup
        return record, f"a new session: {exc}"
    snapshot = asyncio.Event()
    task = asyncio.ensure_future(record_stream(
        runner.client, runner.stream_url(fresh), headers=runner.creds.headers(for_stream=True), window_s=window_s,
        stop_when=_live, on_chunk=lambda r: snapshot.set() if r.events else None))
    try:
        waiter = asyncio.ensure_future(snapshot.wait())
        await asyncio.wait({task, waiter}, timeout=window_s, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not task.done():
            try:
                await runner.start_job(fresh, JobParams(profile="steady", steps=3, interval_ms=50))
            except SetupError as exc:
                return record, f"a new job: {exc}"
        return await task, None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def bus_phase(runner: HookRunner) -> BusOutage:
    """Redis down (polled until the target answers 503 everywhere, at most NOTICE_S), then up again (always),
    then /healthz 200, a stream with its snapshot and a live status from a new job within --recover-s."""
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
    while (remaining := o.recover_s - (time.monotonic() - up)) > 0:
        health = await runner._probe("healthz", "GET", _origin(runner) + "/healthz")
        if health.status == 200:
            record, note = await _recovered_stream(runner, session, max(0.5, min(5.0, remaining)))
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
                    record, note = await _recovered_stream(runner, session, max(0.5, min(5.0, remaining)))
            outage.live_checked = o.trigger != "none"
            if record.opened and record.events and (_live(record) or not outage.live_checked):
                outage.recovered_after_s = round(time.monotonic() - up, 2)
                return outage
            failure = note or (record.describe_failure() if not record.opened
                               else "sent no snapshot" if not record.events
                               else "sent its snapshot but no live status of a new job (the live delivery, "
                               "pub/sub, did not come back)")
            outage.recovery.append(f"/healthz 200 but the stream {failure}")
        else:
            outage.recovery.append(f"/healthz {health.status or health.error}")
        await asyncio.sleep(POLL_S)
    return outage


async def _open_during_shutdown(runner: HookRunner, session: str) -> Probe:
    return await runner._probe("open during shutdown", "GET", runner.stream_url(session),
                               headers=runner.creds.headers(for_stream=True), stream=True)


async def shutdown_phase(runner: HookRunner) -> Shutdown:
    """Open streams, wait for their snapshots, start --shutdown-cmd; every stream must end cleanly within the
    grace period, new opens meanwhile must be refused (503 with Retry-After, or connection refused), and at
    grace + margin nothing may answer any more (the process exited)."""
    o = runner.o
    assert o.shutdown_cmd is not None
    result = Shutdown()
    if (problem := lifetime_problem(o)) is not None:
        result.not_run = problem
        return result
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
    command: asyncio.Future[str | None] | None = None
    try:
        waiting = asyncio.gather(*(s.wait() for s in snapshots))
        try:
            await asyncio.wait_for(waiting, 5.0)
        except TimeoutError:
            done = [t.result() for t in tasks if t.done()]
            why = done[0].describe_failure() if done and not done[0].opened else "sent no snapshot within 5 s"
            result.not_run = f"a stream opened before --shutdown-cmd {why}; the command was not run"
            return result
        if any(t.done() for t in tasks):
            result.not_run = "a stream ended before --shutdown-cmd started (not by SIGTERM); the command was not run"
            return result
        started = time.monotonic()
        command = asyncio.ensure_future(run_command(o.shutdown_cmd))
        deadline = started + o.shutdown_grace_s + SHUTDOWN_MARGIN_S
        ended_at: float | None = None
        # new opens from the first sign that the signal landed: the command returned, or a stream ended
        while time.monotonic() < deadline:
            if command.done() and (problem := command.result()) is not None:
                raise hook_failed("--shutdown-cmd", o.shutdown_cmd, problem, "SIGTERM was not checked")
            if ended_at is None and all(t.done() for t in tasks):
                ended_at = time.monotonic()
            if ended_at is not None and time.monotonic() - ended_at >= OPEN_AFTER_END_S and result.opens:
                break
            await asyncio.sleep(OPEN_EVERY_S)
            if command.done() or any(t.done() for t in tasks):
                result.opens.append(await _open_during_shutdown(runner, session))
        await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        for i, task in enumerate(tasks):
            if task.done() and not task.cancelled():
                result.streams.append(task.result())
                after = finished[i] - started  # negative (before the command started): not by SIGTERM
                result.ended_after_s.append(round(after, 3) if after >= 0 else min(round(after, 3), -0.001))
            else:
                result.streams.append(records.get(i) or StreamRecord(runner.stream_url(session), {}))
                result.ended_after_s.append(None)
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        result.after_grace = await _open_during_shutdown(runner, session)
        problem = await command
        if problem is not None:
            raise hook_failed("--shutdown-cmd", o.shutdown_cmd, problem, "SIGTERM was not checked")
        return result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if command is not None and not command.done():
            command.cancel()
            await asyncio.gather(command, return_exceptions=True)
