"""``sse-harness bench capacity``: the capacity benchmark of the reference stack.

The options are the rows of ``loadtests.bench.CapacityRequest`` (declared once, as for ``load``). The table
goes to stdout (also with ``--json``, which writes the JSON to its file only); phases and errors to stderr.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

from loadtests.bench import CapacityRequest, run_capacity
from loadtests.options import UsageError
from sse_harness.console import err, fail, out
from sse_harness.load import typer_parameters

__all__ = ["bench_capacity"]


def bench_capacity(**values: Any) -> None:
    """Start the reference stack locally, open N streams from a separate process and measure capacity."""
    values["slo"] = list(values.get("slo") or [])
    try:
        code = run_capacity(CapacityRequest(**values), console=err, out=out)
    except UsageError as exc:
        raise fail(str(exc)) from exc
    raise typer.Exit(code)


_params = typer_parameters(CapacityRequest)
bench_capacity.__signature__ = inspect.Signature(_params)  # type: ignore[attr-defined]
bench_capacity.__annotations__ = {p.name: p.annotation for p in _params} | {"return": None}
