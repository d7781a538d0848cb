"""``sse-harness check``: the command behind the typer wrapper in ``reference_app/cli.py``.

Exit codes: 0 no check failed (warnings allowed), 1 at least one check failed, 2 the run could not
start (bad options, unreachable target, login refused) — so CI can tell "broken" from "misconfigured".
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Literal

from rich.console import Console

from conformance.model import Report
from conformance.report import print_compare, print_report, to_json, to_junit
from conformance.runner import CheckOptions, SetupError, run

Format = Literal["text", "json", "junit"]


def main(options: CheckOptions, *, output_format: Format = "text", output: Path | None = None,
         compare: str | None = None) -> int:
    err = Console(stderr=True)
    if output_format not in ("text", "json", "junit"):
        err.print(f"[red]error:[/red] --format must be text, json or junit, got {output_format!r}")
        return 2
    targets = [options] + ([replace(options, url=compare)] if compare else [])
    reports: list[Report] = []
    try:
        for target in targets:
            target.validate()
        for target in targets:
            if output_format == "text":
                err.print(f"checking {target.url} (idle window {target.idle_s:g} s) ...", highlight=False)
            reports.append(asyncio.run(run(target)))
    except SetupError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        return 130

    if output_format == "text":
        console = Console(file=output.open("w") if output else sys.stdout, width=None if output is None else 160)
        try:
            if len(reports) == 2:
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
            err.print(report.summary(), style="bold green" if report.ok else "bold red", highlight=False)
    return 0 if all(r.ok for r in reports) else 1
