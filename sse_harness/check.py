"""``sse-harness check``: the conformance checker against a deployment or any SSE stream.

The options are not written here: they are generated from ``conformance.options.CheckOptions`` (the one
declaration, shared with the pytest plugin). Only what is about this command's output is declared here.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from conformance.options import CheckOptions, option_rows

#: options of this command only (how the report is written), not of a check run
OUTPUT_PARAMS: list[tuple[str, Any, Any]] = [
    ("output_format", Annotated[str, typer.Option("--format", help="text, json or junit")], "text"),
    ("output", Annotated[Path | None, typer.Option(help="write the report here instead of stdout (checked "
                                                         "before any check runs)")], None),
    ("compare", Annotated[str | None, typer.Option(help="run the same checks on URL2, side by side (the CDN "
                                                       "hostname against the origin)")], None),
]


def _parameters() -> list[inspect.Parameter]:
    params = []
    for row in option_rows():
        if row.argument:
            annotation: Any = Annotated[str, typer.Argument(help=row.help, show_default=False, metavar="URL")]
            params.append(inspect.Parameter(row.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            annotation=annotation))
            continue
        kind: Any = list[str] | None if row.repeatable else row.type if row.default is not None else row.type | None
        help_text = row.help + (f" ({', '.join(row.choices)})" if row.choices else "")
        flag = row.flag if row.type is not bool else f"{row.flag}/--no-{row.flag.removeprefix('--')}"
        if row.name == "insecure":
            flag = row.flag
        option = typer.Option(flag, help=help_text, envvar=row.envvar)
        params.append(inspect.Parameter(row.name, inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Annotated[kind, option],
                                        default=None if row.repeatable else row.default))
    for name, annotation, default in OUTPUT_PARAMS:
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                        default=default))
    return params


def check(**values: Any) -> None:
    """Check an SSE deployment against docs/contract.md (--profile contract, URL = API base) or any SSE
    stream (--profile sse, URL = the stream); exit 0 pass, 1 a check failed, 2 usage error or nothing
    checked."""
    from conformance.cli import main as run_check
    from sse_harness.console import err, out

    output_format = values.pop("output_format")
    output = values.pop("output")
    compare = values.pop("compare")
    for row in option_rows():
        if row.repeatable and values.get(row.name) is None:
            values[row.name] = []
    raise typer.Exit(run_check(CheckOptions(**values), output_format=output_format, output=output,
                               compare=compare, err=err, out=out))


check.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]
check.__annotations__ = {p.name: p.annotation for p in _parameters()}
