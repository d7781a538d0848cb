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

A benchmark reports figures; it gates only when asked (``--slo``, the syntax of ``sse-harness load``;
``loadtests.bench_gate`` has the names and the issue's targets). It fails (exit 1) when it measured nothing
(no stream opened). Each phase is one entry of ``PHASES`` (name, function): it prints when it starts and
ends, and stores its figures under its name; a new phase is one more entry.
This module imports neither gevent nor Locust (the client process does).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from loadtests.bench_gate import BENCH_METRICS, TARGETS, print_table
from loadtests.bench_probes import ClientProcess, machine, metric, redis_connections
from loadtests.bench_probes import cpu_s as _cpu
from loadtests.bench_probes import rss as _rss
from loadtests.options import TRANSPORTS, UsageError, check_output_path, check_rows, option
from loadtests.slo import SLOError, evaluate, parse_slos
from loadtests.storm import ClientGroup, run_storm
from loadtests.system import raise_fd_limit
from reference_app.api_client import login, new_session
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, local_stack, wait_until
from reference_app.worker.publisher import StatusPublisher
from sse_contract.status import StatusChange

__all__ = ["PHASES", "TARGETS", "Bench", "CapacityRequest", "Phase", "run_capacity"]


@dataclass
class CapacityRequest:
    """The options of ``bench capacity``, each one row (the CLI is made from them)."""

    streams: int = option(1000, "concurrent streams to open", ge=1, le=100_000)
    sessions: int = option(1, "sessions the streams watch (1 = pure fan-out)", ge=1)
    sustain_rate: float = option(5.0, "sustained phase: events published per second", gt=0)
    sustain_s: float = option(10.0, "sustained phase duration", ge=0)
    transport: str = option("raw", "client transport", choices=TRANSPORTS)
    storm: bool = option(False, "add the deploy's reconnect storm: cut every stream at once, every viewer "
                         "resumes at once with its Last-Event-ID")
    storm_rate: float = option(2.0, "storm phase: statuses published per second while it runs (the jobs keep "
                               "running)", ge=0.1)
    workers: int = option(1, "API processes (serve --workers)", ge=1, le=64)
    clients: int = option(1, "client processes holding the streams (one process holds at most its open-files "
                          "limit)", ge=1, le=16)
    slo: list[str] = option(  # noqa: RUF009  (option() is a dataclasses.field with a command-line row)
        help="gate NAME=VALUE, repeatable (" + ", ".join(BENCH_METRICS) + "); without it the targets are "
        "figures, not verdicts", factory=list, metavar="NAME=VALUE")
    json_file: Path | None = option(None, "write the results JSON here", flag="--json")  # noqa: RUF009
    html_file: Path | None = option(None, "write the HTML report here", flag="--html")  # noqa: RUF009

    def validate(self) -> None:
        check_rows(self)
        if self.sessions > self.streams:
            raise UsageError(f"--sessions ({self.sessions}) cannot exceed --streams ({self.streams})")
        try:
            parse_slos(self.slo, BENCH_METRICS)
        except SLOError as exc:
            raise UsageError(str(exc)) from None
        check_output_path(self.json_file, "--json")
        check_output_path(self.html_file, "--html")


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


@dataclass
class Bench:
    """What every phase may use; ``results[phase]`` is where a phase puts its figures."""

    request: CapacityRequest
    server: EmbeddedRedis
    api: ApiProcess
    token: str
    session_ids: list[str]
    publisher: StatusPublisher
    client: ClientGroup
    results: dict[str, Any]
    rss_base: int = 0
    samples: list[dict[str, float]] = field(default_factory=list)


def _client_cpu(bench: Bench) -> float:
    return sum(map(_cpu, bench.client.pids))


def _ms_per(cpu_s: float, deliveries: int) -> float | None:
    return round(cpu_s * 1000 / deliveries, 4) if deliveries else None


def phase_connect(bench: Bench) -> str:
    """All streams: headers and snapshot; RSS of the API sampled against the streams it counts."""
    cpu0 = _cpu(bench.api.pid)
    started = time.monotonic()
    bench.samples.append({"t": 0.0, "streams": 0.0, "rss_mb": round(bench.rss_base / 2**20, 1)})
    while True:
        try:
            connected = bench.client.receive(timeout=0.5)
            break
        except TimeoutError:
            if time.monotonic() - started > 600:
                raise
            streams = metric(bench.api.url, "sse_active_streams")
            bench.samples.append({"t": round(time.monotonic() - started, 2), "streams": streams or 0.0,
                                  "rss_mb": round(_rss(bench.api.pid) / 2**20, 1)})
    result = {k: connected[k] for k in ("streams", "failed", "seconds", "connect_ms", "errors")}
    result["api_cpu_s"] = round(_cpu(bench.api.pid) - cpu0, 2)
    bench.results["connect"] = result
    if result["streams"]:
        wait_until(lambda: metric(bench.api.url, "sse_active_streams") == result["streams"], 30,
                   message="the API to count every stream")
    bench.samples.append({"t": round(time.monotonic() - started, 2), "streams": float(result["streams"]),
                          "rss_mb": round(_rss(bench.api.pid) / 2**20, 1)})
    return f"{result['streams']:,} open, {result['failed']} failed in {result['seconds']} s"


def nothing_measured(results: dict[str, Any], request: CapacityRequest) -> str | None:
    """Why the run measured nothing it reports, or None: streams that opened but never received a burst,
    sustained or terminal status measured no delivery at all (the API not subscribed, a wrong Redis)."""
    if not results.get("connect", {}).get("streams", 0):
        return "no stream opened"
    if "burst" in results and not results["burst"].get("received"):
        return "no burst event arrived on any stream"
    if "sustained" in results and request.sustain_s > 0 and not results["sustained"].get("received"):
        return "no sustained event arrived on any stream"
    if "finish" in results and not results["finish"].get("terminal"):
        return "no stream received its terminal status"
    return None


def phase_memory(bench: Bench) -> str:
    open_streams = bench.results["connect"]["streams"]
    rss_streams = _rss(bench.api.pid)
    client_rss = sum(map(_rss, bench.client.pids))
    grown = rss_streams - bench.rss_base
    # an RSS that did not grow (the allocator returned warm-up memory) measured nothing per stream: unknown
    per_stream = round(grown / open_streams / 1024, 1) if open_streams and grown > 0 else None
    bench.results["memory"] = {
        "api_rss_base_mb": round(bench.rss_base / 2**20, 1),
        "api_rss_with_streams_mb": round(rss_streams / 2**20, 1),
        "api_rss_per_stream_kb": per_stream,
        "client_rss_mb": round(client_rss / 2**20, 1),
        "client_rss_per_stream_kb": round(client_rss / open_streams / 1024, 1) if open_streams else None,
        "rss_by_streams": bench.samples,
    }
    return f"API {per_stream} KB per idle stream"


def phase_redis(bench: Bench) -> str:
    conns = redis_connections(bench.server.url, bench.api.pid)
    bench.results["redis_connections"] = conns
    return f"{conns['pubsub']} pub/sub, {conns['total']} total"


def phase_burst(bench: Bench) -> str:
    """One event to every stream at once: the fan-out latency and its CPU per delivery."""
    client, api = bench.client, bench.api
    client.send("burst")
    client.receive(60)
    cpu_api, cpu_client = _cpu(api.pid), _client_cpu(bench)
    _publish_burst(bench.publisher, bench.session_ids, 50, "burst")
    client.send(f"report {json.dumps(dict.fromkeys(bench.session_ids, 1))} 60")
    burst = client.receive(120)
    api_cpu = _cpu(api.pid) - cpu_api
    burst["api_cpu_s"] = round(api_cpu, 2)
    burst["client_cpu_s"] = round(_client_cpu(bench) - cpu_client, 2)
    burst["api_cpu_ms_per_delivery"] = _ms_per(api_cpu, burst["received"])
    bench.results["burst"] = burst
    return f"p99 {burst['latency_ms']['p99']} ms, lost {burst['lost']}"


def phase_sustained(bench: Bench) -> str:
    """A fixed publish rate, round-robin over the sessions."""
    client, api, request = bench.client, bench.api, bench.request
    client.send("sustain")
    client.receive(60)
    expected = dict.fromkeys(bench.session_ids, 0)
    cpu_api, cpu_client = _cpu(api.pid), _client_cpu(bench)
    started = time.monotonic()
    count = 0
    while time.monotonic() - started < request.sustain_s:
        due = started + count / request.sustain_rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # pacing of the generator, not waiting for a condition
        session_id = bench.session_ids[count % len(bench.session_ids)]
        bench.publisher.publish(session_id, StatusChange("processing", 60 + (count % 30), f"sustained {count}"))
        expected[session_id] += 1
        count += 1
    publish_s = time.monotonic() - started
    client.send(f"report {json.dumps(expected)} 60")
    sustained = client.receive(120)
    elapsed = publish_s + sustained["waited_s"]
    api_cpu = _cpu(api.pid) - cpu_api
    sustained.update({
        "publish_rate": request.sustain_rate, "published": count, "seconds": round(elapsed, 2),
        "delivered_per_s": round(sustained["received"] / elapsed, 1) if elapsed else None,
        "api_cpu_s": round(api_cpu, 2),
        "client_cpu_s": round(_client_cpu(bench) - cpu_client, 2),
    })
    sustained["api_cpu_ms_per_delivery"] = _ms_per(api_cpu, sustained["received"])
    bench.results["sustained"] = sustained
    return f"{sustained['delivered_per_s']} events/s delivered, lost {sustained['lost']}"


def phase_storm(bench: Bench) -> str:
    """The deploy's reconnect storm (``--storm``, loadtests/storm.py)."""
    storm = run_storm(client=bench.client, publisher=bench.publisher, sessions=bench.session_ids,
                      redis_url=bench.server.url, api_cpu=lambda: _cpu(bench.api.pid), rate=bench.request.storm_rate)
    bench.results["storm"] = storm
    return (f"{storm['resumed']:,} of {storm['viewers']:,} resumed, all live after {storm['all_live_s']} s, "
            f"gaps {storm['gaps']}, duplicates {storm['duplicates']}")


def phase_finish(bench: Bench) -> str:
    """Every stream must get its terminal status and be closed by the server."""
    for session_id in bench.session_ids:
        bench.publisher.publish(session_id, StatusChange("completed", 100, "bench done"))
    bench.client.send("finish 120")
    finish = bench.client.receive(180)
    finish["missing"] = finish["streams"] - finish["terminal"]
    bench.results["finish"] = finish
    wait_until(lambda: metric(bench.api.url, "sse_active_streams") == 0, 30,
               message="the API to close every stream")
    finish["api_streams_after"] = 0
    return f"terminal status on {finish['terminal']:,} of {finish['streams']:,} streams"


Phase = tuple[str, Callable[[Bench], str]]
#: The phases in order; each prints when it starts and ends and stores its figures under its name.
PHASES: list[Phase] = [
    ("connect", phase_connect), ("memory", phase_memory), ("redis_connections", phase_redis),
    ("burst", phase_burst), ("sustained", phase_sustained), ("storm", phase_storm), ("finish", phase_finish),
]
#: Phases that run only when asked for (the option of the same name).
OPTIONAL_PHASES = frozenset({"storm"})


def phases_for(request: CapacityRequest) -> list[Phase]:
    return [(name, run) for name, run in PHASES if name not in OPTIONAL_PHASES or getattr(request, name)]


def _run_phases(bench: Bench, console: Console, phases: list[Phase]) -> None:
    for name, run in phases:
        console.print(f"phase {name}: started", soft_wrap=True, highlight=False)
        started = time.monotonic()
        outcome = run(bench)
        console.print(f"phase {name}: ended in {time.monotonic() - started:.1f} s: {outcome}", soft_wrap=True,
                      highlight=False)
        if name == "connect" and not bench.results["connect"]["streams"]:
            console.print("phase connect: no stream opened, the other phases are skipped", soft_wrap=True)
            return


def run_capacity(request: CapacityRequest, console: Console, out: Console | None = None,
                 phases: list[Phase] | None = None) -> int:
    """Run the benchmark; 0 when it measured (and every ``--slo`` held), 1 otherwise. Bad input raises
    ``UsageError`` before the stack starts."""
    request.validate()
    fd_limit = raise_fd_limit()
    if fd_limit < request.streams // request.clients + 200:
        raise UsageError(f"the open-files limit is {fd_limit}: too low for {request.streams} streams "
                         f"(raise the hard limit, e.g. ulimit -Hn)")
    out = out or console
    results: dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                               "machine": machine(), "streams_requested": request.streams,
                               "sessions": request.sessions, "transport": request.transport, "targets": TARGETS,
                               "api_workers": request.workers, "client_processes": request.clients}
    streams = request.streams
    console.print(f"starting the stack (embedded Redis, {request.workers} API process(es))", soft_wrap=True,
                  highlight=False)
    with tempfile.TemporaryDirectory(prefix="sse-bench-") as tmp, \
            _stack(streams, Path(tmp), request.workers) as (server, api):
        token = login(api.url, "bench")
        session_ids = [new_session(api.url, token, f"bench {i}") for i in range(request.sessions)]
        # Warm-up: a few streams opened and closed, so baseline RSS includes the code paths.
        for session_id in session_ids[:3]:
            with httpx.stream("GET", f"{api.url}/api/v1/sessions/{session_id}/status/stream",
                              headers={"Authorization": f"Bearer {token}"}, timeout=10) as response:
                next(response.iter_bytes())
        wait_until(lambda: metric(api.url, "sse_active_streams") == 0, 10, message="warm-up streams to close")
        rss_base = _rss(api.pid)
        publisher = StatusPublisher(server.url)
        client_log = open(Path(tmp) / "client.log", "wb")  # noqa: SIM115
        # several client processes when one cannot hold every socket (loadtests/storm.py: ClientGroup)
        clients = request.clients
        client = ClientGroup([ClientProcess([sys.executable, "-m", "loadtests.bench_client", "--host", api.url,
                                             "--token", token, "--transport", request.transport, "--streams",
                                             str(streams // clients + (i < streams % clients)),
                                             "--sessions", *session_ids], client_log) for i in range(clients)])
        bench = Bench(request, server, api, token, session_ids, publisher, client, results, rss_base)
        try:
            _run_phases(bench, console, phases if phases is not None else phases_for(request))
        finally:
            client.close()
            client_log.close()
            publisher.close()
            log_text = (Path(tmp) / "client.log").read_text(errors="replace")[-2000:]
    if log_text.strip():
        results["client_log_tail"] = log_text
    results["nothing_measured"] = nothing_measured(results, request)
    results["slo"] = evaluate(parse_slos(request.slo, BENCH_METRICS), results, BENCH_METRICS)
    print_table(results, out, gated=bool(request.slo))
    if request.json_file is not None:
        request.json_file.write_text(json.dumps(results, indent=2) + "\n")
    if request.html_file is not None:
        from loadtests.report import render_bench_report

        request.html_file.write_text(render_bench_report(results))
    if results["nothing_measured"]:
        console.print(f"[red]nothing measured:[/red] {results['nothing_measured']}", soft_wrap=True)
        return 1
    failed = [name for name, result in results["slo"].items() if not result["pass"]]
    if failed:
        console.print(f"[red]SLO failed:[/red] {', '.join(failed)}", soft_wrap=True, highlight=False)
        return 1
    return 0
