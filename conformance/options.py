"""The checker's options, declared once.

``CheckOptions`` is the one declaration: each field carries its help, its flag and its choices in the
field's metadata, and the typer command (``sse_harness/check.py``) and the pytest plugin
(``conformance/pytest_plugin.py``) are both generated from ``option_rows()`` — so an option added here
exists everywhere, with the same name, default and help, and nothing can be missing from one of them.
"""

# ruff: noqa: RUF009  (``_opt`` returns a dataclasses.field: the declaration with its help, not a shared default)

from __future__ import annotations

import math
import os
import re
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["PROFILES", "TRIGGERS", "CheckOptions", "OptionRow", "SetupError", "option_rows"]

Profile = Literal["contract", "sse"]
PROFILES: tuple[str, ...] = typing.get_args(Profile)
Trigger = Literal["http", "redis", "none"]
TRIGGERS: tuple[str, ...] = typing.get_args(Trigger)
#: Cloudflare's proxy read timeout: the strictest common hop (nginx 60 s when configured so)
CLOUDFLARE_IDLE_S = 100.0
#: docs/contract.md: SSE_MAX_STREAMS_PER_USER
CONTRACT_CAP = 20


class SetupError(Exception):
    """The run could not start (unreachable target, login refused, bad options): a message, not a verdict."""


def _opt(default: Any, help: str, *, flag: str | None = None, choices: tuple[str, ...] | None = None,
         envvar: str | None = None, secret: bool = False, argument: bool = False) -> Any:
    meta = {"help": help, "flag": flag, "choices": choices, "envvar": envvar, "secret": secret,
            "argument": argument}
    if isinstance(default, list):
        return field(default_factory=list, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class CheckOptions:
    url: str = _opt("", "the API base (contract profile) or any SSE stream URL (sse profile)", argument=True)
    profile: str | None = _opt(None, "contract (this project's API) or sse (any stream); default: sse when the "
                               "URL has a path beyond /, else contract", choices=PROFILES)
    token: str | None = _opt(None, "bearer token", envvar="SSE_CHECK_TOKEN", secret=True)
    dev_login: str | None = _opt(None, "contract: log in as USER via /auth/dev-login (gives a second user too)")
    other_token: str | None = _opt(None, "contract: a second user's token (404 across users)", secret=True)
    header: list[str] = _opt([], "sse: a request header 'Name: value' (repeatable)", secret=True)
    cookie: list[str] = _opt([], "sse: a request cookie 'name=value' (repeatable)", secret=True)
    trigger_cmd: str | None = _opt(None, "sse: a shell command run once the stream is open, to make events "
                                   "happen (e.g. a curl that starts a job); without it: passive")
    base_path: str = _opt("", "contract: the API is mounted under this prefix (e.g. /status-api)")
    session: str | None = _opt(None, "contract: existing session id (needed for --trigger none)")
    trigger: str = _opt("http", "contract: how events are made: http (API hooks), redis, none", choices=TRIGGERS)
    redis_url: str | None = _opt(None, "contract: the target's Redis, for --trigger redis", secret=True)
    user: str | None = _opt(None, "contract: owner of sessions created through Redis")
    idle_s: float = _opt(5.0, "hold the idle stream at least this long; then wait for its next byte")
    idle_limit_s: float = _opt(CLOUDFLARE_IDLE_S, "idle timeout of the strictest hop (Cloudflare 100): the "
                               "heartbeat must come sooner")
    expect_heartbeat_s: float | None = _opt(None, "fail a heartbeat slower than this many seconds (early)")
    first_event_budget_ms: float = _opt(1000.0, "contract: the first event must arrive within this (ms)")
    expect_cap: int = _opt(CONTRACT_CAP, "contract: the per-user stream cap; the probe opens N+1 streams "
                           "and wants 429 with Retry-After (0: off)")
    stall_after_s: float | None = _opt(None, "contract: the target's STATUS_STALL_AFTER_S; runs a job that goes "
                                       "silent longer and wants event: stalled (opt-in: costs ~2x that)")
    send_timeout_s: float | None = _opt(None, "contract: the target's SSE_SEND_TIMEOUT_S; a stream that stops "
                                        "reading during a long job must be cut within that (opt-in: costs "
                                        "about the job plus that)")
    max_lifetime_s: float | None = _opt(None, "contract: the target's SSE_CONNECTION_TIMEOUT; holds an idle stream "
                                        "that long and wants it ended cleanly by then (opt-in: costs up to that)")
    bus_down_cmd: str | None = _opt(None, "contract: a shell command that makes the target's Redis unreachable "
                                    "(e.g. `docker compose stop redis`); with --bus-up-cmd, checks 503 while it is "
                                    "down and recovery after (opt-in)")
    bus_up_cmd: str | None = _opt(None, "contract: a shell command that brings the target's Redis back (e.g. "
                                  "`docker compose start redis`); always run after --bus-down-cmd")
    recover_s: float = _opt(30.0, "contract: how long the target may take to recover after --bus-up-cmd (s)")
    shutdown_cmd: str | None = _opt(None, "contract: a shell command that sends SIGTERM to the API process serving "
                                    "the stream (e.g. `kill -TERM $(cat api.pid)`); checks open streams end "
                                    "cleanly within the grace period (opt-in, destructive: runs last)")
    shutdown_grace_s: float = _opt(5.0, "contract: the target's SSE_SHUTDOWN_GRACE_S (s)")
    only: list[str] = _opt([], "check ids or groups, e.g. headers,resume (repeatable)")
    origin: str | None = _opt(None, "contract: check CORS with credentials for this Origin")
    steps: int = _opt(8, "contract: updates of the timing job")
    interval_ms: int = _opt(250, "contract: pause between the timing job's updates (ms)")
    http2: bool = _opt(True, "offer HTTP/2 (negotiated on https)")
    insecure: bool = _opt(False, "do not verify TLS certificates")

    @property
    def verify(self) -> bool:
        return not self.insecure

    def resolved_profile(self) -> str:
        """The profile that runs: the one asked for, else ``sse`` for a URL with a path, else ``contract``."""
        if self.profile:
            return self.profile
        return "sse" if urlsplit(self.url).path not in ("", "/") else "contract"

    def parsed_headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for raw in self.header:
            name, sep, value = raw.partition(":")
            if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name.strip()):
                raise SetupError(f"--header must look like 'Name: value', got {raw!r}")
            out[name.strip()] = value.strip()
        return out

    def parsed_cookies(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for raw in self.cookie:
            name, sep, value = raw.partition("=")
            if not sep or not name.strip() or any(c in name for c in ";, "):
                raise SetupError(f"--cookie must look like 'name=value', got {raw!r}")
            out[name.strip()] = value.strip()
        return out

    def validate(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SetupError(f"URL must be http(s)://host[:port][/path], got {self.url!r}")
        if self.profile is not None and self.profile not in PROFILES:
            raise SetupError(f"--profile must be contract or sse, got {self.profile!r}")
        if self.trigger not in TRIGGERS:
            raise SetupError(f"--trigger must be http, redis or none, got {self.trigger!r}")
        profile = self.resolved_profile()
        if self.token and self.dev_login:
            raise SetupError("use either --token or --dev-login, not both")
        if profile == "contract":
            if parts.path not in ("", "/"):
                raise SetupError(f"--profile contract takes the API base URL without a path (got {parts.path!r}); "
                                 "for an API under a prefix use --base-path")
            if self.base_path and not re.fullmatch(r"(/[\w.~-]+)+", self.base_path):
                raise SetupError(f"--base-path must look like /prefix, got {self.base_path!r}")
            if self.trigger == "redis" and not self.redis_url:
                raise SetupError("--trigger redis needs --redis-url (the target's Redis)")
            if self.trigger == "none" and not self.session:
                raise SetupError("--trigger none needs --session ID (an existing session to watch)")
            if bool(self.bus_down_cmd) != bool(self.bus_up_cmd):
                raise SetupError("--bus-down-cmd and --bus-up-cmd go together: give both (the checker always "
                                 "runs --bus-up-cmd after the outage)")
            if self.header or self.cookie or self.trigger_cmd:
                raise SetupError("--header, --cookie and --trigger-cmd belong to --profile sse; the contract "
                                 "profile authenticates with --token or --dev-login")
        else:
            for name in ("dev_login", "other_token", "session", "redis_url", "user", "origin", "bus_down_cmd",
                         "bus_up_cmd", "shutdown_cmd"):
                if getattr(self, name):
                    raise SetupError(f"--{name.replace('_', '-')} belongs to --profile contract (the sse profile "
                                     "checks one stream URL)")
            if self.base_path:
                raise SetupError("--base-path belongs to --profile contract (with --profile sse, give the "
                                 "stream's whole URL)")
            self.parsed_headers()
            self.parsed_cookies()
        for name in ("idle_s", "idle_limit_s", "first_event_budget_ms", "recover_s", "shutdown_grace_s",
                     "expect_heartbeat_s", "stall_after_s", "send_timeout_s", "max_lifetime_s"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):  # nan passes every comparison below
                raise SetupError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
            if value is not None and value <= 0:
                raise SetupError(f"--{name.replace('_', '-')} must be > 0, got {value}")
        for name in ("recover_s", "shutdown_grace_s"):
            if getattr(self, name) > 600:
                raise SetupError(f"--{name.replace('_', '-')} must be within 0..600, got {getattr(self, name)}")
        if self.expect_heartbeat_s is not None and not 0 < self.expect_heartbeat_s <= self.idle_limit_s:
            raise SetupError(f"--expect-heartbeat-s must be within 0..--idle-limit-s ({self.idle_limit_s:g}), "
                             f"got {self.expect_heartbeat_s}")
        if self.stall_after_s is not None and not 0 < self.stall_after_s <= 1000:
            raise SetupError(f"--stall-after-s must be within 0..1000, got {self.stall_after_s}")
        if self.send_timeout_s is not None and not 0 < self.send_timeout_s <= 1000:
            raise SetupError(f"--send-timeout-s must be within 0..1000, got {self.send_timeout_s}")
        if self.max_lifetime_s is not None and not 0 < self.max_lifetime_s <= 3600:
            raise SetupError(f"--max-lifetime-s must be within 0..3600, got {self.max_lifetime_s}")
        if not 3 <= self.steps <= 500:
            raise SetupError(f"--steps must be within 3..500, got {self.steps}")
        if not 50 <= self.interval_ms <= 10_000:
            raise SetupError(f"--interval-ms must be within 50..10000, got {self.interval_ms}")
        if not 0 <= self.expect_cap <= 1000:
            raise SetupError(f"--expect-cap must be within 0..1000, got {self.expect_cap}")
        if self.origin is not None:
            origin = urlsplit(self.origin)
            if origin.scheme not in ("http", "https") or not origin.netloc or origin.path not in ("", "/"):
                raise SetupError(f"--origin must look like https://app.example.com, got {self.origin!r}")
        from conformance.catalog import select_checks

        try:
            select_checks(self.only, profile)
        except ValueError as exc:
            raise SetupError(str(exc)) from None

    def public(self) -> dict[str, Any]:
        """The settings for the report, secrets redacted."""
        data = asdict(self)
        for f in fields(self):
            if f.metadata.get("secret") and data[f.name]:
                data[f.name] = "***" if not isinstance(data[f.name], list) else ["***"] * len(data[f.name])
        data["profile"] = self.resolved_profile()
        return data


@dataclass(frozen=True)
class OptionRow:
    """One option as the command line and the pytest plugin expose it."""

    name: str
    flag: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None
    repeatable: bool
    envvar: str | None
    argument: bool


def option_rows() -> list[OptionRow]:
    hints = typing.get_type_hints(CheckOptions)
    rows = []
    for f in fields(CheckOptions):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        repeatable = typing.get_origin(hint) is list
        base: type = args[0] if args and not repeatable else str if repeatable else hint
        default = [] if repeatable else f.default
        envvar = f.metadata.get("envvar")
        rows.append(OptionRow(name=f.name, flag=f.metadata.get("flag") or "--" + f.name.replace("_", "-"),
                              type=base, default=default, help=f.metadata["help"], choices=f.metadata["choices"],
                              repeatable=repeatable, envvar=envvar, argument=f.metadata["argument"]))
    return rows


def env_default(row: OptionRow) -> Any:
    """The pytest plugin's default: the environment variable when the option has one."""
    return os.environ.get(row.envvar, row.default) if row.envvar else row.default
