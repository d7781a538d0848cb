"""``sse-harness bench capacity``: the capacity benchmark of the reference stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sse_harness.console import err, fail


def bench_capacity(
    streams: Annotated[int, typer.Option(min=1, max=100_000, help="concurrent streams to open")] = 1000,
    sessions: Annotated[int, typer.Option(min=1, help="sessions the streams watch (1 = pure fan-out)")] = 1,
    sustain_rate: Annotated[float, typer.Option(help="sustained phase: events published per second")] = 5.0,
    sustain_s: Annotated[float, typer.Option(help="sustained phase duration")] = 10.0,
    transport: Annotated[str, typer.Option(help="client transport: raw or fasthttp")] = "raw",
    json_file: Annotated[Path | None, typer.Option("--json", help="write the results JSON here")] = None,
    storm: Annotated[bool, typer.Option("--storm", help="add the deploy's reconnect storm: cut every stream "
                                        "at once, every viewer resumes at once with its Last-Event-ID")] = False,
    storm_rate: Annotated[float, typer.Option(min=0.1, help="storm phase: statuses published per second "
                                              "while it runs (the jobs keep running)")] = 2.0,
    workers: Annotated[int, typer.Option(min=1, max=64, help="API processes (serve --workers)")] = 1,
    clients: Annotated[int, typer.Option(min=1, max=16, help="client processes holding the streams "
                                         "(one process holds at most its open-files limit)")] = 1,
) -> None:
    """Start the reference stack locally, open N streams from a separate process and measure capacity."""
    from loadtests.bench import BenchUsageError, run_capacity

    try:
        code = run_capacity(streams=streams, sessions=sessions, sustain_rate=sustain_rate,
                            sustain_s=sustain_s, transport=transport, json_file=json_file, console=err,
                            storm=storm, storm_rate=storm_rate, workers=workers, clients=clients)
    except BenchUsageError as exc:
        raise fail(str(exc)) from exc
    raise typer.Exit(code)
