"""The command line's one stderr console and its one way to fail with a line."""

from __future__ import annotations

import typer
from rich.console import Console

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise (usage errors exit 2)."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)
