"""``sse-harness proxy``: the fault-injecting proxy."""

from __future__ import annotations

from typing import Annotated

import typer

from simulators.fault_proxy.modes import mode_words
from sse_harness.console import port_option


def proxy(
    upstream: Annotated[str, typer.Option(help="origin base URL, e.g. http://127.0.0.1:8000")],
    mode: Annotated[list[str] | None, typer.Option(
        "--mode", "-m",
        help="fault, repeatable: " + ", ".join(mode_words()))] = None,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, port_option()] = 8080,
) -> None:
    """Fault-injecting HTTP proxy in front of UPSTREAM (buffering, gzip, idle cuts, 502/503, ...)."""
    from simulators.fault_proxy import main as run_proxy

    raise typer.Exit(run_proxy(upstream, mode or [], host, port))
