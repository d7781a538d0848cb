"""``sse-harness``: one command line for the stack, the simulators, the checker and the load harness.

Each command lives in the module named for it; this one only assembles them and applies the conventions
every command shares (nothing imports this package):

* ``--version``; plain ``--help`` with a value name for every option (``--port INTEGER``, ``URL``) and no
  boxes, so help reads the same in a terminal and in a CI log;
* a usage error (unknown option, value out of range, not one of the choices) is one line,
  ``error: ...``, exit 2 — never click's four-line block or typer's box;
* anything unexpected is one line too, exit 1; ``SSE_HARNESS_TRACEBACK=1`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer

from sse_harness import bench, check, load, proxy, stack
from sse_harness.console import FAILED, USAGE, err, escape, one_line

app = typer.Typer(
    name="sse-harness",
    help="Build, check and load-test Server-Sent Events status streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for command in (stack.serve, stack.worker, stack.simulate, stack.demo, check.check, proxy.proxy, load.load):
    app.command()(command)

bench_app = typer.Typer(help="Benchmarks of the reference stack.", no_args_is_help=True, rich_markup_mode=None)
bench_app.command("capacity")(bench.bench_capacity)
app.add_typer(bench_app, name="bench")


def harness_version() -> str:
    try:
        return version("sse-harness")
    except PackageNotFoundError:  # pragma: no cover - running from a tree that was never installed
        from sse_contract import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:
        print(f"sse-harness {harness_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="print the version and exit")] = False,
) -> None:
    """Build, check and load-test Server-Sent Events status streams."""


#: typer's type labels (``<int>``) as help has always spelled them
_TYPE_NAMES = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "path": "PATH", "file": "PATH",
               "directory": "DIR", "bool": "BOOLEAN"}


def _metavar(param: Any, ctx: Any) -> str:
    """The value name help shows: ``URL`` for an argument, ``INTEGER`` or ``[a|b]`` for an option."""
    if getattr(param, "param_type_name", "") == "argument":
        return str(param.name or "value").upper()
    display = getattr(param, "display_type", None)
    label = display(ctx).strip("<>") if callable(display) else str(param.type.name)
    label = label.removesuffix(" range").removeprefix("list[").removesuffix("]")
    if "|" in label:
        return f"[{label}]"
    return _TYPE_NAMES.get(label, label.upper())


# Typer >= 0.22 vendors its own copy of click (``typer._click``): the code below goes by attributes, not by
# click's classes, so it holds for both.


def commands(group: Any, prefix: str = "sse-harness") -> dict[str, Any]:
    """Every command of the tree, by its full name (``sse-harness bench capacity``)."""
    found = {prefix: group}
    for name, sub in (getattr(group, "commands", None) or {}).items():
        found |= commands(sub, f"{prefix} {name}")
    return found


def build() -> Any:
    """The click command tree with the shared conventions applied to every parameter of every command."""
    root = typer.main.get_command(app)
    for command in commands(root).values():
        ctx = typer.Context(command)
        for param in command.params:
            if param.metavar is None and not getattr(param, "is_flag", False):
                param.metavar = _metavar(param, ctx)
            if getattr(param, "param_type_name", "") == "argument":
                _plain_argument(param)
    return root


def _plain_argument(param: Any) -> None:
    """Show an argument as ``URL`` (``[URL]`` when optional) in usage and help, as click does; typer's own
    rendering is ``{url}`` and ``url <str>``."""
    name = str(param.metavar)
    param.get_usage_pieces = lambda ctx: [name if param.required else f"[{name}]"]
    param.display_type_rich = lambda ctx: None


def _error(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(one_line(message))}")


def main(argv: Sequence[str] | None = None) -> None:
    root = build()
    try:
        code = root.main(args=list(argv) if argv is not None else None, prog_name="sse-harness",
                         standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    except Exception as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help(), file=sys.stderr)
            sys.exit(USAGE)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click's UsageError & co.
            usage = any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)
            where = f" (see '{ctx.command_path} --help')" if usage and ctx is not None else ""
            _error(exc.format_message() + where)
            sys.exit(int(exc.exit_code))
        if os.environ.get("SSE_HARNESS_TRACEBACK"):
            raise
        _error(f"{type(exc).__name__}: {exc} (unexpected; SSE_HARNESS_TRACEBACK=1 shows the traceback)")
        sys.exit(FAILED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
