"""The load summary and the SLO verdicts as terminal tables (rich). An unknown figure prints ``n/a``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["figure", "print_slo_gate", "print_summary"]


def figure(value: Any, digits: int = 0) -> str:
    """A number for a table; ``n/a`` when unknown (never 0)."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ms(block: Mapping[str, Any] | None, keys: tuple[str, ...] = ("p50", "p95", "p99", "max")) -> str:
    return " / ".join(figure((block or {}).get(k)) for k in keys)


def print_slo_gate(slo: Mapping[str, Mapping[str, Any]], console: Console) -> None:
    if not slo:
        return
    gate = Table(title="SLO gate", header_style="bold")
    for column in ("SLO", "limit", "measured", "result"):
        gate.add_column(column)
    for name, result in slo.items():
        sign = "<=" if result.get("direction") == "max" else ">="
        measured = result.get("reason") or ("n/a" if result["value"] is None else f"{result['value']:g}")
        gate.add_row(name, f"{sign} {result['limit']:g}", measured,
                     "[green]pass[/green]" if result["pass"] else "[red]FAIL[/red]")
    console.print(gate)


def print_summary(summary: Mapping[str, Any], console: Console) -> None:
    table = Table(title=f"SSE load: {summary.get('scenario')} against {summary.get('host')}",
                  show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    watches = summary.get("watches") or {}
    lat = summary.get("latency_ms") or {}
    by_type = summary.get("events_by_type") or {}
    rows: list[tuple[str, str]] = [
        ("duration", f"{summary.get('duration_s')} s ({summary.get('workers')} process(es))"),
        ("streams peak / opened", f"{figure(summary.get('streams_peak'))} / {figure(summary.get('streams_opened'))}"),
        ("status events received (snapshots)",
         f"{figure(summary.get('events_received'))} ({figure(summary.get('snapshots'))})"),
        ("events by type", ", ".join(f"{k}={v:,}" for k, v in by_type.items()) or "none"),
        ("event latency p50 / p95 / p99 / max ms", _ms(lat)),
        ("latency samples / unknown (no timestamp)",
         f"{figure(lat.get('count'))} / {figure(summary.get('latency_unknown'))}"),
        ("connect p50 / p95 / p99 ms", _ms(summary.get("connect_ms"), ("p50", "p95", "p99"))),
        ("gaps / duplicates / out of order",
         f"{summary.get('gaps')} / {summary.get('duplicates')} / {summary.get('out_of_order')}"),
        ("reconnects / resets", f"{summary.get('reconnects')} / {summary.get('resets')}"),
        ("jobs followed to the end / open at stop",
         f"{watches.get('terminal')} / {watches.get('open_at_stop')}"),
        ("errors (rate)", f"{summary.get('errors')} ({summary.get('error_rate')})"),
    ]
    polling = summary.get("polling") or {}
    if polling.get("polls"):
        rows.append(("polls (304 not modified)", f"{polling['polls']:,} ({polling['not_modified']:,})"))
        rows.append(("polling: change noticed p50 / p95 / p99 ms",
                     _ms(polling.get("change_ms"), ("p50", "p95", "p99"))))
    server = summary.get("server") or {}
    if server.get("cpu_s") is not None:
        rows.append(("server CPU (API process)", f"{server['cpu_s']} s"))
    generator = summary.get("generator") or {}
    if generator:
        rows.append(("load generator: peak RSS / CPU",
                     f"{generator['rss_peak_mb']} MB / {generator['cpu_s']} s ({generator['processes']} proc.)"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if summary.get("errors_by_type"):
        console.print("errors by type: " + ", ".join(f"{k}={v}" for k, v in summary["errors_by_type"].items()),
                      soft_wrap=True, highlight=False)
    print_slo_gate(summary.get("slo") or {}, console)
