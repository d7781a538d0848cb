"""``sse-harness check``: the conformance checker against a deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sse_harness.console import fail


def check(
    url: Annotated[str, typer.Argument(help="base URL of the deployment, e.g. https://api.example.com")],
    token: Annotated[str | None, typer.Option(envvar="SSE_CHECK_TOKEN", help="bearer token")] = None,
    dev_login: Annotated[str | None, typer.Option(help="log in as USER via /auth/dev-login")] = None,
    other_token: Annotated[str | None, typer.Option(help="a second user's token (404 across users)")] = None,
    session: Annotated[str | None, typer.Option(help="existing session id (needed for --trigger none)")] = None,
    trigger: Annotated[str, typer.Option(help="how events are made: http (API hooks), redis, none")] = "http",
    redis_url: Annotated[str | None, typer.Option(help="the target's Redis, for --trigger redis")] = None,
    user: Annotated[str | None, typer.Option(help="owner of sessions created through Redis")] = None,
    idle_s: Annotated[float, typer.Option(help="how long to hold an idle stream (>= 100: Cloudflare rule)")] = 5.0,
    idle_limit_s: Annotated[float, typer.Option(help="strictest hop's idle timeout (Cloudflare 100)")] = 100.0,
    only: Annotated[list[str] | None, typer.Option(help="check ids or groups, e.g. headers,resume")] = None,
    output_format: Annotated[str, typer.Option("--format", help="text, json or junit")] = "text",
    output: Annotated[Path | None, typer.Option(help="write the report here instead of stdout")] = None,
    compare: Annotated[str | None, typer.Option(help="run the same checks on URL2, side by side")] = None,
    origin: Annotated[str | None, typer.Option(help="check CORS with credentials for this Origin")] = None,
    steps: Annotated[int, typer.Option(help="updates of the timing job")] = 8,
    interval_ms: Annotated[int, typer.Option(help="pause between the timing job's updates")] = 250,
    cap_probe: Annotated[int, typer.Option(help="streams to open looking for the per-user cap (0: off)")] = 25,
    http2: Annotated[bool, typer.Option(help="offer HTTP/2 (negotiated on https)")] = True,
    insecure: Annotated[bool, typer.Option(help="do not verify TLS certificates")] = False,
) -> None:
    """Check an SSE status deployment against docs/contract.md; exit 1 if any check fails."""
    from conformance.cli import main as run_check
    from conformance.runner import CheckOptions

    options = CheckOptions(
        url=url, token=token, dev_login=dev_login, other_token=other_token, session=session,
        trigger=trigger, redis_url=redis_url, user=user, idle_s=idle_s, idle_limit_s=idle_limit_s,  # type: ignore[arg-type]
        only=only, origin=origin,
        steps=steps, interval_ms=interval_ms, cap_probe=cap_probe, http2=http2, verify=not insecure,
    )
    if trigger not in ("http", "redis", "none"):
        raise fail(f"--trigger must be http, redis or none, got {trigger!r}")
    raise typer.Exit(run_check(options, output_format=output_format, output=output,  # type: ignore[arg-type]
                               compare=compare))
