"""Locust event listeners: the ``--sse-*`` options, counters across workers, the summary and SLO gate.

Distributed runs (``--processes N`` or ``--master``/``--worker``): every worker adds its stream counters
to its periodic stats report (``report_to_master``); the master keeps the latest per worker
(``worker_report``) and, from the per-interval peaks, the peak of streams open at once across workers.
Locust's headless stop does not wait for a last periodic report, so when the test stops the master asks
every worker for its final counters with a custom message (``sse_final``) and waits for the replies
(``sse_counters``). Latency and connect percentiles come from Locust's own request statistics, which
Locust aggregates across workers itself. ``loadtests.progress`` prints the progress lines and samples the
report's timeline from the same sources.

On the master (or the single local process) the summary is written to ``--sse-summary-file`` when Locust
quits, the SLOs of ``--sse-slo`` are evaluated, and a failed SLO sets the exit code to 1 (a passing set
of SLOs sets it to 0, whatever individual request failures Locust counted: the SLOs are the gate). A run
that measured nothing (no stream opened, no status event) exits 1 whatever the SLOs say.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import gevent
import locust
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from loadtests.accounting import merge_counters
from loadtests.options import UsageError, add_arguments, sse_flag
from loadtests.progress import Timeline
from loadtests.slo import SLOError, parse_slos
from loadtests.summary import EntryStats, build_summary, slo_failed
from loadtests.system import raise_fd_limit
from loadtests.users import COUNTERS, load_options

__all__ = ["STATE"]

log = logging.getLogger("loadtests")

FINAL_REPLY_TIMEOUT_S = 10.0


class _State:
    """The master's (or local process's) view of the run."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.worker_counters: dict[str, dict[str, Any]] = {}
        self.worker_interval_peaks: dict[str, int] = {}
        self.cross_peak = 0
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.server_before: dict[str, float] | None = None
        self.server_after: dict[str, float] | None = None
        self.final_counters: dict[str, Any] | None = None
        self.final_peak = 0
        self.awaiting: set[str] = set()
        self.missing_workers = 0  # workers whose final counters never arrived: the totals are partial
        self.workers = 1
        self.generators: list[dict[str, Any]] = []
        self.timeline: Timeline | None = None
        self.samples: list[dict[str, Any]] = []


STATE = _State()


class _Sampler:
    """Peak RSS and CPU of this Locust process during the test: what holding the streams costs the
    load generator (the issue's "one Locust process holds 10,000 streams")."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.rss_peak = 0
        self.cpu_start = 0.0
        self.greenlet: gevent.Greenlet | None = None

    def _cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def start(self) -> None:
        self.stop()
        self.rss_peak = self.process.memory_info().rss
        self.cpu_start = self._cpu()
        self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            self.sample()
            gevent.sleep(1.0)

    def sample(self) -> None:
        self.rss_peak = max(self.rss_peak, self.process.memory_info().rss)

    def stop(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill(block=False)
            self.greenlet = None

    def stats(self) -> dict[str, float]:
        self.sample()
        return {"rss_peak_mb": round(self.rss_peak / 2**20, 1), "cpu_s": round(self._cpu() - self.cpu_start, 2)}


SAMPLER = _Sampler()


def _own_report() -> dict[str, Any]:
    return {**COUNTERS.as_dict(), "generator": SAMPLER.stats()}


def _add_arguments(parser: Any) -> None:
    add_arguments(parser)


def _scrape_server(environment: Environment) -> dict[str, float] | None:
    """CPU seconds and RSS of the target's API process from its Prometheus ``/metrics`` (the default
    process collector), so SSE and polling runs can be compared on server cost. None if unavailable."""
    host = environment.host
    if not host:
        return None
    import urllib.request

    try:
        with urllib.request.urlopen(f"{host.rstrip('/')}/metrics", timeout=5) as response:
            text = response.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    wanted = {"process_cpu_seconds_total": "cpu_s", "process_resident_memory_bytes": "rss_bytes",
              "sse_active_streams": "active_streams"}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        key = wanted.get(name)
        if key:
            with contextlib.suppress(ValueError, IndexError):
                out[key] = float(value.split()[0])
    return out or None


def _on_init(environment: Environment, **_kw: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        limit = raise_fd_limit()
        log.debug("open files limit: %s", limit)
    options = load_options(environment)
    try:
        options.validate(sse_flag)
        if options.slo:
            parse_slos([options.slo])
    except (UsageError, SLOError) as exc:
        # One line, before any user starts (``locust --sse-profile bogus`` used to fail in every user).
        log.error("%s", exc)
        raise SystemExit(2) from None
    if isinstance(runner, WorkerRunner):
        def final_request(environment: Environment, msg: Any, **_kw: Any) -> None:
            runner.send_message("sse_counters", _own_report())

        runner.register_message("sse_final", final_request)
    elif isinstance(runner, MasterRunner):
        def counters_reply(environment: Environment, msg: Any, **_kw: Any) -> None:
            STATE.worker_counters[msg.node_id] = msg.data
            STATE.awaiting.discard(msg.node_id)

        runner.register_message("sse_counters", counters_reply)


def _on_test_start(environment: Environment, **_kw: Any) -> None:
    from loadtests.scenarios import FanoutUser

    FanoutUser.reset()
    SAMPLER.start()
    if isinstance(environment.runner, WorkerRunner):
        COUNTERS.reset_all()
        return
    COUNTERS.reset_all()
    STATE.reset()
    STATE.started_at = time.monotonic()
    STATE.server_before = _scrape_server(environment)
    options = load_options(environment)
    STATE.timeline = Timeline(environment, lambda: _current_counters(environment), options.timeline_s,
                              options.progress_s)
    STATE.timeline.start()
    if options.jobs_per_user:
        gevent.spawn(_quit_when_all_jobs_followed, environment)


def _current_counters(environment: Environment) -> dict[str, Any]:
    if isinstance(environment.runner, MasterRunner):
        return merge_counters(STATE.worker_counters.values())
    return COUNTERS.as_dict()


def _quit_when_all_jobs_followed(environment: Environment) -> None:
    """``--sse-jobs-per-user N``: end the run as soon as every user has followed its N jobs (a fixed
    amount of work), instead of idling until ``--run-time``."""
    runner = environment.runner
    assert runner is not None
    users = int(getattr(environment.parsed_options, "num_users", 0) or 0)
    wanted = users * load_options(environment).jobs_per_user
    if not wanted:
        return
    while STATE.stopped_at is None:
        gevent.sleep(0.5)
        counters = _current_counters(environment)
        if (runner.user_count >= users and counters["watches_started"] >= wanted
                and counters["watches_open"] == 0):
            log.info("every user followed its %s job(s): stopping", load_options(environment).jobs_per_user)
            runner.quit()
            return


def _on_spawning_complete(**_kw: Any) -> None:
    from loadtests.scenarios import FanoutUser

    FanoutUser.spawning_complete()


def _report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    data["sse"] = {**_own_report(), "interval_peak": COUNTERS.take_interval_peak()}


def _worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    sse = data.get("sse")
    if not sse:
        return
    STATE.worker_counters[client_id] = sse
    STATE.worker_interval_peaks[client_id] = int(sse.get("interval_peak", 0))
    STATE.cross_peak = max(STATE.cross_peak, sum(STATE.worker_interval_peaks.values()))


def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or STATE.started_at is None:
        return
    STATE.stopped_at = time.monotonic()
    if isinstance(runner, MasterRunner):
        STATE.awaiting = {client.id for client in runner.clients.all}
        STATE.workers = len(STATE.awaiting)
        for client_id in list(STATE.awaiting):
            runner.send_message("sse_final", None, client_id)
        deadline = time.monotonic() + FINAL_REPLY_TIMEOUT_S
        while STATE.awaiting and time.monotonic() < deadline:
            gevent.sleep(0.05)
        STATE.missing_workers = len(STATE.awaiting)
        if STATE.awaiting:
            log.error("no final counters from %d worker(s): the totals are partial, the run cannot pass",
                      len(STATE.awaiting))
        parts = list(STATE.worker_counters.values())
        STATE.final_counters = merge_counters(parts)
        STATE.final_peak = max(STATE.cross_peak, STATE.final_counters["streams_peak"])
        STATE.generators = [dict(p.get("generator") or {}) for p in parts]
    elif isinstance(runner, LocalRunner):
        STATE.final_counters = COUNTERS.as_dict()
        STATE.final_peak = COUNTERS.streams_peak
        STATE.generators = [SAMPLER.stats()]
    STATE.server_after = _scrape_server(environment)
    if STATE.timeline is not None:
        STATE.samples = STATE.timeline.stop(STATE.final_counters)


def _entries(environment: Environment) -> list[EntryStats]:
    out: list[EntryStats] = []
    for entry in environment.stats.entries.values():
        count = entry.num_requests
        out.append(EntryStats(
            type=str(entry.method), name=str(entry.name), num_requests=count, num_failures=entry.num_failures,
            histogram={float(k): int(v) for k, v in entry.response_times.items()},
            max=float(entry.max_response_time) if count else None,
            avg=entry.avg_response_time if count else None,
        ))
    return out


def _server_delta() -> dict[str, Any] | None:
    before, after = STATE.server_before, STATE.server_after
    if not before or not after:
        return None
    out: dict[str, Any] = {"source": "/metrics of the API process that answered"}
    if "cpu_s" in before and "cpu_s" in after:
        out["cpu_s"] = round(after["cpu_s"] - before["cpu_s"], 3)
    if "rss_bytes" in after:
        out["rss_bytes_end"] = int(after["rss_bytes"])
    return out


def summary_for(environment: Environment) -> dict[str, Any]:
    options = load_options(environment)
    parsed = environment.parsed_options
    started = STATE.started_at or time.monotonic()
    stopped = STATE.stopped_at or time.monotonic()
    counters = STATE.final_counters if STATE.final_counters is not None else COUNTERS.as_dict()
    meta = {
        "scenario": options.scenario or ",".join(sorted(u.__name__ for u in environment.user_classes)),
        "host": environment.host,
        "users": getattr(parsed, "num_users", None),
        "spawn_rate": getattr(parsed, "spawn_rate", None),
        "run_time": getattr(parsed, "run_time", None),
        "workers": STATE.workers,
        "missing_workers": STATE.missing_workers,
        "transport": options.transport,
        "source": options.source,
        "locust_version": locust.__version__,
    }
    specs = parse_slos([options.slo]) if options.slo else []
    summary = build_summary(meta=meta, entries=_entries(environment), counters=counters,
                            streams_peak=STATE.final_peak or int(counters.get("streams_peak", 0)),
                            duration_s=stopped - started, server=_server_delta(), slos=specs,
                            generator=_generator(), timeline=STATE.samples)
    if STATE.missing_workers and not summary["nothing_measured"]:
        summary["nothing_measured"] = (f"{STATE.missing_workers} of {STATE.workers} worker(s) sent no final "
                                       "counters: gaps, duplicates and errors are partial")
    return summary


def _generator() -> dict[str, Any] | None:
    """The load generator's own cost: peak RSS and CPU summed over its processes (workers only in a
    distributed run; the master holds no streams)."""
    parts = [g for g in STATE.generators if g]
    if not parts:
        return None
    return {
        "processes": len(parts),
        "rss_peak_mb": round(sum(g.get("rss_peak_mb", 0.0) for g in parts), 1),
        "rss_peak_mb_largest_process": max(g.get("rss_peak_mb", 0.0) for g in parts),
        "cpu_s": round(sum(g.get("cpu_s", 0.0) for g in parts), 2),
    }


def _on_quitting(environment: Environment, **_kw: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or STATE.started_at is None:
        return
    options = load_options(environment)
    summary = summary_for(environment)
    if options.summary_file:
        path = Path(options.summary_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2) + "\n")
    if options.slo:
        failed = slo_failed(summary)
        for name, result in summary["slo"].items():
            log.info("SLO %s: %s (limit %s) %s", name, result["reason"] or result["value"], result["limit"],
                     "pass" if result["pass"] else "FAIL")
        environment.process_exit_code = 1 if failed else 0
    if summary["nothing_measured"]:
        log.error("nothing measured: %s", summary["nothing_measured"])
        environment.process_exit_code = 1


def _register() -> None:
    """Explicit registration (decorators would hide the listeners' types from mypy)."""
    hooks: Any = events
    hooks.init_command_line_parser.add_listener(_add_arguments)
    hooks.init.add_listener(_on_init)
    hooks.test_start.add_listener(_on_test_start)
    hooks.spawning_complete.add_listener(_on_spawning_complete)
    hooks.report_to_master.add_listener(_report)
    hooks.worker_report.add_listener(_worker_report)
    hooks.test_stop.add_listener(_on_test_stop)
    hooks.quitting.add_listener(_on_quitting)


_register()
