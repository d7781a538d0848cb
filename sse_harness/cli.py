"""``sse-harness``: one command line for the stack, the simulators, the checker and the load harness.

Each command lives in the module named for it; this one only assembles them. Nothing imports this package.
"""

from __future__ import annotations

import sys

import typer

from sse_harness import bench, check, load, proxy, stack

app = typer.Typer(
    name="sse-harness",
    help="Build, check and load-test Server-Sent Events status streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in (stack.serve, stack.worker, stack.simulate, stack.demo, check.check, proxy.proxy, load.load):
    app.command()(command)

bench_app = typer.Typer(help="Benchmarks of the reference stack.", no_args_is_help=True)
bench_app.command("capacity")(bench.bench_capacity)
app.add_typer(bench_app, name="bench")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
