"""``sse-harness load``: a headless Locust SSE load with SLO gates, progress lines and an HTML report.

The options are not declared here: each is a row of ``loadtests.runner.LoadRequest`` (the run) or
``loadtests.options.LoadOptions`` (the users), from which this module makes the typer parameters, as the
plugin makes Locust's ``--sse-*`` arguments from the same rows.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from loadtests.options import LoadOptions, OptionRow, UsageError, rows
from loadtests.runner import LoadRequest, run_load
from sse_harness.console import err, fail, out

__all__ = ["load", "typer_parameters"]


def typer_parameters(*classes: type) -> list[inspect.Parameter]:
    """One keyword parameter per command-line row of ``classes``, typed and documented for typer."""
    params: list[inspect.Parameter] = []
    for cls in classes:
        for row in rows(cls):
            if not row.cli:
                continue
            params.append(_parameter(row))
    return params


def _parameter(row: OptionRow) -> inspect.Parameter:
    listed = all(choice in row.help for choice in row.choices)
    help_text = row.help + (f" (one of: {', '.join(row.choices)})" if row.choices and not listed else "")
    info = typer.Option(row.flag, help=help_text, metavar=row.metavar,
                        show_default=not row.required and row.default not in (None, []))
    default: Any = ... if row.required else (None if row.default == [] else row.default)
    return inspect.Parameter(row.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[row.type, info])


def _split(values: dict[str, Any]) -> LoadRequest:
    option_names = {row.name for row in rows(LoadOptions) if row.cli}
    options = LoadOptions(**{k: v for k, v in values.items() if k in option_names})
    run = {k: v for k, v in values.items() if k not in option_names}
    run["slo"] = list(run.get("slo") or [])
    return LoadRequest(**run, options=options)


def load(**values: Any) -> None:
    """Run a Locust SSE load (headless), print the summary, exit 1 if nothing was measured or an SLO failed."""
    try:
        code, _summary = run_load(_split(values), err, out=out)
    except UsageError as exc:
        raise fail(str(exc)) from exc
    raise typer.Exit(code)


_params = typer_parameters(LoadRequest, LoadOptions)
load.__signature__ = inspect.Signature(_params)  # type: ignore[attr-defined]
load.__annotations__ = {p.name: p.annotation for p in _params} | {"return": None}
