"""``sse-harness bench capacity``: how many streams one API process holds, and at what cost.

It starts the reference stack locally (embedded Redis, one API process via ``ApiProcess``; no Celery:
events are published straight to Redis with the worker's own ``StatusPublisher``), opens N streams from a
separate gevent process (``loadtests.bench_client``) and measures:

1. time to connect all streams (headers + snapshot), and per-stream connect percentiles;
2. RSS per idle stream of the API process (RSS with the streams open minus RSS after warm-up, / N);
3. Redis connections held by the API process (``CLIENT LIST`` entries whose address is one of the API
   process's own sockets; pub/sub ones separately);
4. a fan-out burst: one event to every stream, p50/p99/max publish-to-receive latency, lost events;
5. a sustained phase: events at a fixed rate for a while, delivered events/s and latency;
6. the end: a terminal status to every session; every stream must get it and end.

A benchmark, not a test: it reports, it does not assert. The targets are printed next to the figures.
This module imports neither gevent nor Locust (the client process does).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
import redis
from rich.console import Console
from rich.table import Table

from loadtests.storm import ClientGroup, run_storm, storm_rows
from loadtests.system import raise_fd_limit
from reference_app.api_client import login, new_session
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, local_stack, wait_until
from reference_app.worker.publisher import StatusPublisher
from sse_contract.status import StatusChange

__all__ = ["TARGETS", "BenchUsageError", "run_capacity"]

#: The issue's targets (2-core machine, load generator and server on one box).
TARGETS = {
    "streams_per_process": 10_000,
    "redis_pubsub_connections_max": 2,
    "rss_per_idle_stream_kb_max": 16,
    "burst_p99_ms_max": 400,
}


class BenchUsageError(ValueError):
    pass


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


class _ClientProcess:
    """The gevent stream holder, spoken to over stdin/stdout JSON lines."""

    def __init__(self, args: list[str], stderr: IO[bytes]) -> None:
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the bench client said nothing for {timeout:.0f}s")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the bench client exited ({self.process.poll()}); see its stderr above")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send("quit")
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _tree(pid: int) -> list[psutil.Process]:
    """The process and its children (``serve --workers N`` runs the API in N child processes)."""
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def _cpu(pid: int) -> float:
    total = 0.0
    for process in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _rss(pid: int) -> int:
    return sum(int(p.memory_info().rss) for p in _tree(pid))


def redis_connections(redis_url: str, pid: int) -> dict[str, Any]:
    """Redis clients whose address is a socket of process ``pid`` (or its children): total, pub/sub, names."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    own = {f"{c.laddr.ip}:{c.laddr.port}" for p in _tree(pid) for c in p.net_connections(kind="tcp")
           if c.raddr and c.raddr.port == port}
    client = redis.Redis.from_url(redis_url)
    try:
        entries = [e for e in client.client_list() if e.get("addr") in own]
    finally:
        client.close()
    pubsub = [e for e in entries if int(e.get("sub", 0)) + int(e.get("psub", 0)) > 0 or "P" in e.get("flags", "")]
    return {"total": len(entries), "pubsub": len(pubsub),
            "names": sorted({str(e.get("name") or "-") for e in entries})}


def _metric(url: str, name: str) -> float | None:
    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


@contextlib.contextmanager
def _stack(streams: int, log_dir: Path, workers: int = 1) -> Iterator[tuple[EmbeddedRedis, ApiProcess]]:
    """Embedded Redis and the API (no Celery worker: the bench publishes itself), by the one launcher."""
    env = {"SSE_MAX_STREAMS_PER_USER": str(streams + 10), "SSE_CONNECTION_TIMEOUT": "3600", "SSE_HEARTBEAT_S": "15",
           "WEB_CONCURRENCY": str(workers)}
    with local_stack(env=env, worker=False, log_path=str(log_dir / "api.log"), timeout=60) as stack:
        assert stack.redis is not None
        yield stack.redis, stack.api


def _publish_burst(publisher: StatusPublisher, sessions: list[str], progress: float, message: str) -> None:
    for session_id in sessions:
        publisher.publish(session_id, StatusChange("processing", progress, message))


def run_capacity(*, streams: int, sessions: int, sustain_rate: float, sustain_s: float, transport: str,
                 json_file: Path | None, console: Console, storm: bool = False, storm_rate: float = 2.0,
                 workers: int = 1, clients: int = 1) -> int:
    if sessions > streams:
        raise BenchUsageError(f"--sessions ({sessions}) cannot exceed --streams ({streams})")
    if transport not in ("raw", "fasthttp"):
        raise BenchUsageError("--transport must be raw or fasthttp")
    if sustain_rate <= 0 or sustain_s < 0:
        raise BenchUsageError("--sustain-rate must be > 0 and --sustain-s >= 0")
    fd_limit = raise_fd_limit()
    if fd_limit < streams // clients + 200:
        raise BenchUsageError(f"the open-files limit is {fd_limit}: too low for {streams} streams "
                              f"(raise the hard limit, e.g. ulimit -Hn)")
    results: dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                               "machine": machine(), "streams_requested": streams, "sessions": sessions,
                               "transport": transport, "targets": TARGETS, "api_workers": workers,
                               "client_processes": clients}
    with tempfile.TemporaryDirectory(prefix="sse-bench-") as tmp, \
            _stack(streams, Path(tmp), workers) as (server, api):
        token = login(api.url, "bench")
        session_ids = [new_session(api.url, token, f"bench {i}") for i in range(sessions)]
        # Warm-up: a few streams opened and closed, so baseline RSS includes the code paths.
        for session_id in session_ids[:3]:
            with httpx.stream("GET", f"{api.url}/api/v1/sessions/{session_id}/status/stream",
                              headers={"Authorization": f"Bearer {token}"}, timeout=10) as response:
                next(response.iter_bytes())
        wait_until(lambda: _metric(api.url, "sse_active_streams") == 0, 10, message="warm-up streams to close")
        rss_base = _rss(api.pid)
        publisher = StatusPublisher(server.url)
        client_log = open(Path(tmp) / "client.log", "wb")  # noqa: SIM115
        # several client processes when one cannot hold every socket (loadtests/storm.py: ClientGroup)
        client = ClientGroup([_ClientProcess([sys.executable, "-m", "loadtests.bench_client", "--host", api.url,
                                              "--token", token, "--transport", transport, "--streams",
                                              str(streams // clients + (i < streams % clients)),
                                              "--sessions", *session_ids], client_log) for i in range(clients)])
        try:
            cpu0 = _cpu(api.pid)
            connected = client.receive(timeout=600)
            results["connect"] = {k: connected[k] for k in ("streams", "failed", "seconds", "connect_ms",
                                                            "errors")}
            results["connect"]["api_cpu_s"] = round(_cpu(api.pid) - cpu0, 2)
            open_streams = connected["streams"]
            wait_until(lambda: _metric(api.url, "sse_active_streams") == open_streams, 30,
                       message="the API to count every stream")
            rss_streams = _rss(api.pid)
            results["memory"] = {
                "api_rss_base_mb": round(rss_base / 2**20, 1),
                "api_rss_with_streams_mb": round(rss_streams / 2**20, 1),
                "api_rss_per_stream_kb": round((rss_streams - rss_base) / max(1, open_streams) / 1024, 1),
                "client_rss_mb": round(sum(map(_rss, client.pids)) / 2**20, 1),
                "client_rss_per_stream_kb": round(sum(map(_rss, client.pids)) / max(1, open_streams) / 1024, 1),
            }
            results["redis_connections"] = redis_connections(server.url, api.pid)

            # Fan-out burst: one event to every stream.
            client.send("burst")
            client.receive(60)
            cpu_api, cpu_client = _cpu(api.pid), sum(map(_cpu, client.pids))
            _publish_burst(publisher, session_ids, 50, "burst")
            client.send(f"report {json.dumps(dict.fromkeys(session_ids, 1))} 60")
            burst = client.receive(120)
            burst["api_cpu_s"] = round(_cpu(api.pid) - cpu_api, 2)
            burst["client_cpu_s"] = round(sum(map(_cpu, client.pids)) - cpu_client, 2)
            results["burst"] = burst

            # Sustained: a fixed publish rate, round-robin over the sessions.
            client.send("sustain")
            client.receive(60)
            expected = dict.fromkeys(session_ids, 0)
            cpu_api, cpu_client = _cpu(api.pid), sum(map(_cpu, client.pids))
            started = time.monotonic()
            count = 0
            while time.monotonic() - started < sustain_s:
                due = started + count / sustain_rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # pacing of the generator, not waiting for a condition
                session_id = session_ids[count % len(session_ids)]
                publisher.publish(session_id, StatusChange("processing", 60 + (count % 30), f"sustained {count}"))
                expected[session_id] += 1
                count += 1
            publish_s = time.monotonic() - started
            client.send(f"report {json.dumps(expected)} 60")
            sustained = client.receive(120)
            elapsed = publish_s + sustained["waited_s"]
            sustained.update({
                "publish_rate": sustain_rate, "published": count, "seconds": round(elapsed, 2),
                "delivered_per_s": round(sustained["received"] / elapsed, 1) if elapsed else None,
                "api_cpu_s": round(_cpu(api.pid) - cpu_api, 2),
                "client_cpu_s": round(sum(map(_cpu, client.pids)) - cpu_client, 2),
            })
            results["sustained"] = sustained

            if storm:  # the deploy's reconnect storm (loadtests/storm.py)
                results["storm"] = run_storm(client=client, publisher=publisher, sessions=session_ids,
                                             redis_url=server.url, api_cpu=lambda: _cpu(api.pid),
                                             rate=storm_rate)

            # The end: every stream must get its terminal status and be closed by the server.
            for session_id in session_ids:
                publisher.publish(session_id, StatusChange("completed", 100, "bench done"))
            client.send("finish 120")
            results["finish"] = client.receive(180)
            wait_until(lambda: _metric(api.url, "sse_active_streams") == 0, 30,
                       message="the API to close every stream")
            results["finish"]["api_streams_after"] = 0
        finally:
            client.close()
            client_log.close()
            publisher.close()
            log_text = (Path(tmp) / "client.log").read_text(errors="replace")[-2000:]
    if log_text.strip():
        results["client_log_tail"] = log_text
    _print(results, console)
    rendered = json.dumps(results, indent=2)
    print(rendered)
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(rendered + "\n")
    return 0


def _verdict(ok: bool) -> str:
    return "[green]met[/green]" if ok else "[red]missed[/red]"


def _print(results: dict[str, Any], console: Console) -> None:
    connect, memory = results["connect"], results["memory"]
    conns, burst, sustained = results["redis_connections"], results["burst"], results["sustained"]
    table = Table(title=f"capacity: {results['streams_requested']:,} streams, {results['sessions']} session(s), "
                        f"{results['machine']['cores']} cores", header_style="bold")
    for column in ("measure", "value", "target"):
        table.add_column(column)
    burst_lat = burst["latency_ms"]
    sus_lat = sustained["latency_ms"]
    table.add_row("streams open / failed", f"{connect['streams']:,} / {connect['failed']}",
                  f">= {TARGETS['streams_per_process']:,} "
                  + _verdict(connect["streams"] >= TARGETS["streams_per_process"]))
    table.add_row("time to connect all", f"{connect['seconds']} s "
                  f"(p50 {connect['connect_ms']['p50']} ms, p99 {connect['connect_ms']['p99']} ms)", "")
    table.add_row("API RSS per idle stream", f"{memory['api_rss_per_stream_kb']} KB "
                  f"({memory['api_rss_base_mb']} -> {memory['api_rss_with_streams_mb']} MB)",
                  f"<= {TARGETS['rss_per_idle_stream_kb_max']} KB "
                  + _verdict(memory["api_rss_per_stream_kb"] <= TARGETS["rss_per_idle_stream_kb_max"]))
    table.add_row("Redis connections of the API", f"{conns['pubsub']} pub/sub, {conns['total']} total",
                  f"pub/sub <= {TARGETS['redis_pubsub_connections_max']} "
                  + _verdict(conns["pubsub"] <= TARGETS["redis_pubsub_connections_max"]))
    burst_ok = burst_lat["p99"] is not None and burst_lat["p99"] <= TARGETS["burst_p99_ms_max"]
    table.add_row("fan-out burst p50 / p99 / max", f"{burst_lat['p50']} / {burst_lat['p99']} / "
                  f"{burst_lat['max']} ms, lost {burst['lost']}",
                  f"p99 <= {TARGETS['burst_p99_ms_max']} ms, 0 lost "
                  + _verdict(burst_ok and burst["lost"] == 0))
    table.add_row("sustained delivered", f"{sustained['delivered_per_s']:,} events/s at "
                  f"{sustained['publish_rate']} publishes/s, p99 {sus_lat['p99']} ms, lost {sustained['lost']}", "")
    table.add_row("client RSS per stream", f"{memory['client_rss_per_stream_kb']} KB "
                  f"({results['transport']} transport)", "")
    finish = results["finish"]
    table.add_row("terminal status delivered", f"{finish['terminal']:,} of {finish['streams']:,} streams, "
                  f"gaps {finish['gaps']}, duplicates {finish['duplicates']}", "")
    for row in storm_rows(results["storm"]) if "storm" in results else []:
        table.add_row(*row)
    console.print(table)
