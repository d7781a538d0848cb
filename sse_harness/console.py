"""The command line's output conventions: its two consoles, and its one way to fail with a line.

Why a factory and not ``Console()``: rich assumes 80 columns when its stream is not a terminal, so a CI log
gets every long message broken mid-line. Here a console on a pipe or a file never wraps (one message, one
line); on a terminal it wraps to the terminal as usual. Colour follows rich's own rules: none on a pipe, and
none when ``NO_COLOR`` is set (https://no-color.org), which rich reads from the environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["FAILED", "USAGE", "err", "escape", "fail", "make_console", "one_line", "out", "validation_line"]

#: exit codes: bad input (an option, a setting, a URL) is 2, as click's own usage errors; a start or run
#: that failed (port taken, Redis unreachable, a child that died) is 1.
USAGE = 2
FAILED = 1

#: the width of a console that is not a terminal: wide enough that nothing the harness prints wraps.
UNWRAPPED_WIDTH = 10_000


def make_console(*, stderr: bool) -> Console:
    """A console on stdout or stderr that wraps only on a terminal and honours ``NO_COLOR``."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(
        stderr=stderr,
        soft_wrap=not terminal,
        width=None if terminal else UNWRAPPED_WIDTH,
        no_color=bool(os.environ.get("NO_COLOR")) or None,
        highlight=False,
    )


err = make_console(stderr=True)
out = make_console(stderr=False)


def one_line(message: str) -> str:
    """Collapse a message (an exception's text may span lines) into one line, without pydantic's
    "Value error, " prefix (typer validates option values with pydantic)."""
    return " ".join(message.replace("Value error, ", "").split())


def fail(message: str, code: int = USAGE) -> typer.Exit:
    """Print ``error: message`` on stderr, as one line, and return the Exit to raise."""
    err.print(f"[red]error:[/red] {escape(one_line(message))}")
    return typer.Exit(code)


def _check_port(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 65535:
        raise typer.BadParameter(f"{value} is out of range (1-65535, or 0 for any free port)")
    return value


def port_option(help_text: str = "TCP port, 1-65535 (0 = any free port)") -> Any:
    """The one ``--port`` of every command that listens: a port out of range is a usage error naming it."""
    return typer.Option(callback=_check_port, help=help_text)


def validation_line(errors: list[Any], names: Mapping[str, str] | None = None) -> str:
    """One line for a pydantic ``ValidationError.errors()``: ``--steps: Input should be ...; ...``.

    ``names`` maps a field to what the user typed (an option or an environment variable); a model-level rule
    (empty ``loc``) is its message alone, without pydantic's "Value error, " prefix.
    """
    parts = []
    for error in errors:
        field = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        label = (names or {}).get(field, field)
        got = error.get("input")
        shown = f" (got {got!r})" if field and isinstance(got, str | int | float) and len(repr(got)) < 60 else ""
        parts.append(f"{label}: {message}{shown}" if label else message)
    return "; ".join(parts)
