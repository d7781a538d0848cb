"""``sse-harness check``: the command behind the typer wrapper in ``sse_harness/check.py``.

Exit codes: 0 every check that ran passed (warnings allowed), 1 a check failed, 2 a usage error, a run
that could not start (unreachable target, login refused) or a run that checked nothing (every selected
check skipped) — so CI can tell "broken" from "misconfigured" from "not measured".
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.text import Text

from conformance.model import Report
from conformance.options import CheckOptions, SetupError
from conformance.report import print_compare, print_report, to_json, to_junit
from conformance.runner import run

Format = Literal["text", "json", "junit"]


def output_problem(output: Path) -> str | None:
    """Why ``--output`` cannot be written, checked before any check runs (a run of minutes must not end
    in a traceback at the write)."""
    parent = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        return f"--output {output} is a directory"
    if not parent.is_dir():
        return f"--output {output}: the directory {parent} does not exist"
    if not os.access(parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        return f"--output {output}: not writable"
    return None


def main(options: CheckOptions, *, output_format: str = "text", output: Path | None = None,
         compare: str | None = None, err: Console | None = None, out: Console | None = None) -> int:
    """Run the checks and print the report; ``err``/``out`` are the command line's consoles (which never wrap
    off a terminal), rich's defaults when called from elsewhere."""
    err = err or Console(stderr=True)

    def error(message: str) -> int:
        err.print(Text("error: ", style="red") + Text(message), highlight=False, soft_wrap=True)
        return 2

    if output_format not in ("text", "json", "junit"):
        return error(f"--format must be text, json or junit, got {output_format!r}")
    if output is not None and (problem := output_problem(output)):
        return error(problem)
    if compare and (options.bus_down_cmd or options.shutdown_cmd):
        return error("--bus-down-cmd and --shutdown-cmd act on one target: not with --compare")
    targets = [options] + ([replace(options, url=compare)] if compare else [])
    reports: list[Report] = []
    try:
        for target in targets:
            target.validate()
        if compare and targets[0].resolved_profile() != targets[1].resolved_profile():
            return error(f"--compare: {options.url} and {compare} resolve to different profiles "
                         f"({targets[0].resolved_profile()} and {targets[1].resolved_profile()}); pass --profile")
        for target in targets:
            if output_format == "text":
                err.print(Text(f"checking {target.url} (profile {target.resolved_profile()}, idle window "
                               f"{target.idle_s:g} s then the next byte, up to {target.idle_limit_s:g} s) ..."),
                          highlight=False, soft_wrap=True)
            reports.append(asyncio.run(run(target)))
    except SetupError as exc:
        return error(str(exc))
    except KeyboardInterrupt:
        return 130

    if output_format == "text":
        console = Console(file=output.open("w"), width=160) if output else (out or Console())
        try:
            if len(reports) == 2:
                console.print(reports[0].headline(), highlight=False, soft_wrap=True)
                print_compare(reports[0], reports[1], console)
                for report in reports:
                    print_report(report, console)
            else:
                print_report(reports[0], console)
        finally:
            if output is not None:
                console.file.close()
    else:
        text = to_json(reports) if output_format == "json" else to_junit(reports)
        if output is not None:
            output.write_text(text)
        else:
            sys.stdout.write(text)
    if output is not None or output_format != "text":
        for report in reports:
            err.print(Text(report.summary(), style="bold green" if report.ok else "bold red"), highlight=False,
                      soft_wrap=True)
    for report in reports:
        if not report.checked:
            err.print(Text("error: ", style="red") + Text(f"{report.url}: {report.nothing_checked()}"),
                      highlight=False, soft_wrap=True)
    return max(report.exit_code for report in reports)
