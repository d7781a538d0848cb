"""The figures of ``bench capacity``: its SLO names (same syntax and rules as ``sse-harness load``), the
issue's targets, and its table. A target is a figure next to the measurement; only ``--slo`` makes a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from loadtests.slo import Metric, _path
from loadtests.storm import storm_rows
from loadtests.text import figure, print_slo_gate

__all__ = ["BENCH_METRICS", "TARGETS", "figure_rows", "print_table"]

def figure_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The storm phase's rows with their targets as figures: a verdict belongs to ``--slo`` only (a
    "missed" next to exit 0 is what issue 11 calls a false pass)."""
    if "storm" not in results:
        return []
    return storm_rows(results["storm"])

BENCH_METRICS: dict[str, Metric] = {
    "streams": Metric("min", _path("connect", "streams"), "at least this many streams open at once"),
    "connect_p99_ms": Metric("max", _path("connect", "connect_ms", "p99"), "99th percentile connect time",
                             _path("connect", "connect_ms", "count")),
    "rss_per_stream_kb": Metric("max", _path("memory", "api_rss_per_stream_kb"), "API RSS per idle stream",
                                _path("connect", "streams")),
    "redis_pubsub_connections": Metric("max", _path("redis_connections", "pubsub"),
                                       "pub/sub connections the API holds"),
    "burst_p99_ms": Metric("max", _path("burst", "latency_ms", "p99"), "fan-out burst p99 latency",
                           _path("burst", "latency_ms", "count")),
    "burst_lost": Metric("max", _path("burst", "lost"), "burst events never received", _path("burst", "expected")),
    "sustained_p99_ms": Metric("max", _path("sustained", "latency_ms", "p99"), "sustained p99 latency",
                               _path("sustained", "latency_ms", "count")),
    "sustained_lost": Metric("max", _path("sustained", "lost"), "sustained events never received",
                             _path("sustained", "expected")),
    "cpu_ms_per_delivery": Metric("max", _path("burst", "api_cpu_ms_per_delivery"),
                                  "API CPU per delivered burst event", _path("burst", "received")),
    "terminal_missing": Metric("max", _path("finish", "missing"), "streams that never got their terminal status",
                               _path("finish", "streams")),
    # --storm (loadtests/storm.py): a metric of a phase that did not run has no samples, so it fails
    "storm_refused": Metric("max", _path("storm", "refused"), "storm: opens refused", _path("storm", "viewers")),
    "storm_all_live_s": Metric("max", _path("storm", "all_live_s"), "storm: seconds until every viewer was live",
                               _path("storm", "viewers")),
    "storm_gaps": Metric("max", _path("storm", "gaps"), "storm: ids never received", _path("storm", "resumed")),
    "storm_duplicates": Metric("max", _path("storm", "duplicates"), "storm: ids received twice",
                               _path("storm", "resumed")),
    "storm_lost": Metric("max", _path("storm", "lost"), "storm: statuses a viewer never got",
                         _path("storm", "resumed")),
    "storm_cpu_ms_per_reconnect": Metric("max", _path("storm", "api_cpu_ms_per_reconnect"),
                                         "storm: API CPU per reconnect", _path("storm", "resumed")),
}

#: The issue's targets (2-core machine, load generator and server on one box), as ``--slo`` values:
#: ``--slo streams=10000 --slo rss_per_stream_kb=16 ...`` turns them into a gate.
TARGETS: dict[str, float] = {
    "streams": 10_000,
    "redis_pubsub_connections": 2,
    "rss_per_stream_kb": 16,
    "burst_p99_ms": 400,
    "burst_lost": 0,
}


def _target(name: str) -> str:
    if name not in TARGETS:
        return ""
    sign = ">=" if BENCH_METRICS[name].direction == "min" else "<="
    return f"{sign} {TARGETS[name]:,g} ({name})"


def print_table(results: Mapping[str, Any], console: Console, gated: bool) -> None:
    connect = results.get("connect") or {}
    memory = results.get("memory") or {}
    conns = results.get("redis_connections") or {}
    burst = results.get("burst") or {}
    sustained = results.get("sustained") or {}
    finish = results.get("finish") or {}
    table = Table(title=f"capacity: {results['streams_requested']:,} streams, {results['sessions']} session(s), "
                        f"{results['machine']['cores']} cores", header_style="bold")
    for column in ("measure", "value", "target (a figure; --slo gates)"):
        table.add_column(column)
    c_ms = connect.get("connect_ms") or {}
    b_ms = burst.get("latency_ms") or {}
    s_ms = sustained.get("latency_ms") or {}
    table.add_row("streams open / failed", f"{figure(connect.get('streams'))} / {figure(connect.get('failed'))}",
                  _target("streams"))
    table.add_row("time to connect all", f"{figure(connect.get('seconds'), 2)} s (p50 {figure(c_ms.get('p50'), 1)} "
                  f"ms, p99 {figure(c_ms.get('p99'), 1)} ms)", "")
    table.add_row("API RSS per idle stream", f"{figure(memory.get('api_rss_per_stream_kb'), 1)} KB "
                  f"({figure(memory.get('api_rss_base_mb'), 1)} -> {figure(memory.get('api_rss_with_streams_mb'), 1)}"
                  " MB)", _target("rss_per_stream_kb"))
    table.add_row("Redis connections of the API",
                  f"{figure(conns.get('pubsub'))} pub/sub, {figure(conns.get('total'))} total",
                  _target("redis_pubsub_connections"))
    table.add_row("fan-out burst p50 / p99 / max", f"{figure(b_ms.get('p50'), 1)} / {figure(b_ms.get('p99'), 1)} / "
                  f"{figure(b_ms.get('max'), 1)} ms, lost {figure(burst.get('lost'))}",
                  ", ".join(t for t in (_target("burst_p99_ms"), _target("burst_lost")) if t))
    table.add_row("API CPU per delivery (burst / sustained)",
                  f"{figure(burst.get('api_cpu_ms_per_delivery'), 4)} / "
                  f"{figure(sustained.get('api_cpu_ms_per_delivery'), 4)} ms", "")
    table.add_row("sustained delivered", f"{figure(sustained.get('delivered_per_s'), 1)} events/s at "
                  f"{figure(sustained.get('publish_rate'), 1)} publishes/s, p99 {figure(s_ms.get('p99'), 1)} ms, "
                  f"lost {figure(sustained.get('lost'))}", "")
    table.add_row("client RSS per stream", f"{figure(memory.get('client_rss_per_stream_kb'), 1)} KB "
                  f"({results['transport']} transport)", "")
    table.add_row("terminal status delivered", f"{figure(finish.get('terminal'))} of {figure(finish.get('streams'))} "
                  f"streams, gaps {figure(finish.get('gaps'))}, duplicates {figure(finish.get('duplicates'))}", "")
    for row in figure_rows(results):
        table.add_row(*row)
    console.print(table)
    if gated:
        print_slo_gate(results.get("slo") or {}, console)
