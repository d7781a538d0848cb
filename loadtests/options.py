"""The load options, each declared once: one dataclass field per option, whose metadata row makes the
Locust argument (``--sse-NAME``), the ``sse-harness load`` option (``--NAME``) and the checks of its value.
Pure Python (the CLI imports it).

The ``--sse-*`` options are Locust custom arguments: they show up in ``locust --help`` and in the web UI,
and Locust forwards them from the master to every worker, so distributed runs need them on the master only.
Options left unset (``None``) take the scenario's own default (e.g. reconnect-storm cuts every 5 s).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from argparse import Namespace
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError

from sse_contract.jobs import PROFILE_NAMES, JobParams

__all__ = [
    "REDIS_SCHEMES",
    "SCENARIOS",
    "SOURCES",
    "TRANSPORTS",
    "LoadOptions",
    "OptionRow",
    "UsageError",
    "add_arguments",
    "check_output_path",
    "check_rows",
    "locust_args",
    "masked",
    "option",
    "rows",
    "sse_flag",
]

#: Scenario name -> the user classes of ``loadtests/locustfile.py`` it runs (weights are class attributes).
SCENARIOS: dict[str, tuple[str, ...]] = {
    "steady": ("SteadyUser",),
    "fanout": ("FanoutUser",),
    "connect-storm": ("ConnectStormUser",),
    "reconnect-storm": ("ReconnectStormUser",),
    "polling": ("PollingUser",),
    "mixed": ("SteadyUser", "FanoutUser", "ConnectStormUser", "ReconnectStormUser", "PollingUser"),
}

SOURCES = ("api", "redis")
TRANSPORTS = ("raw", "fasthttp")
REDIS_SCHEMES = ("redis", "rediss", "unix")


class UsageError(ValueError):
    """Bad input, reported as one line naming the option (never a traceback), before any work starts."""


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
           choices: Sequence[str] = (), ge: float | None = None, gt: float | None = None,
           le: float | None = None, cli: bool = True, locust: str | None = None, factory: Any = None,
           metavar: str | None = None) -> Any:
    """A dataclass field that is also a command-line row.

    ``flag``: the ``sse-harness`` option (default ``--name-with-dashes``); ``locust``: the Locust option it
    becomes when it is one of Locust's own (``--users``); ``cli=False`` keeps it off ``sse-harness``."""
    metadata = {"help": help, "flag": flag, "choices": tuple(choices), "ge": ge, "gt": gt, "le": le, "cli": cli,
                "locust": locust, "metavar": metavar}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionRow:
    """One option as the command lines see it."""

    name: str
    type: Any
    default: Any
    required: bool
    help: str
    flag: str
    choices: tuple[str, ...]
    ge: float | None
    gt: float | None
    le: float | None
    cli: bool
    locust: str | None
    metavar: str | None


def rows(cls: type) -> Iterator[OptionRow]:
    """The option rows of a dataclass declared with ``option`` (fields without metadata are skipped)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        yield OptionRow(
            name=f.name, type=hints[f.name], default=default,
            required=f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            help=meta["help"], flag=meta["flag"] or "--" + f.name.replace("_", "-"), choices=meta["choices"],
            ge=meta["ge"], gt=meta["gt"], le=meta["le"], cli=meta["cli"], locust=meta["locust"],
            metavar=meta["metavar"],
        )


def check_rows(obj: Any, flag_of: typing.Callable[[OptionRow], str] = lambda row: row.flag) -> None:
    """Choices and bounds of every row of ``obj``; raises ``UsageError`` naming the first bad one."""
    for row in rows(type(obj)):
        value = getattr(obj, row.name)
        if value is None:
            continue
        flag = flag_of(row)
        if row.choices and value not in row.choices:
            raise UsageError(f"{flag} must be one of {', '.join(row.choices)}; got {value!r}")
        if row.ge is not None and value < row.ge:
            raise UsageError(f"{flag} must be >= {row.ge:g}; got {value}")
        if row.gt is not None and value <= row.gt:
            raise UsageError(f"{flag} must be > {row.gt:g}; got {value}")
        if row.le is not None and value > row.le:
            raise UsageError(f"{flag} must be <= {row.le:g}; got {value}")


def check_output_path(path: Path | None, flag: str) -> None:
    """An output file must be writable before the run starts, not after it (then the run is lost)."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory, not a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable")


def masked(url: str) -> str:
    """A URL fit for a message: the password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class _Parser(Protocol):
    def add_argument(self, *names: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class LoadOptions:
    """The ``--sse-*`` options, typed; ``from_namespace`` accepts Locust's parsed options or None."""

    source: str = option("api", "who drives the jobs: 'api' (POST .../transcribe, the target's Celery worker) "
                         "or 'redis' (publish the simulator's statuses straight to --redis-url from the load "
                         "generator)", choices=SOURCES)
    redis_url: str = option("", "the target's Redis, for --source redis (redis://, rediss:// or unix://)")
    transport: str = option("raw", "how streams are read: raw gevent sockets (default) or FastHttpSession",
                            choices=TRANSPORTS)
    profile: str | None = option(None, "simulator profile of each job (override)", choices=PROFILE_NAMES)
    steps: int | None = option(None, "progress updates per job (override)")
    interval_ms: int | None = option(None, "pause between updates of a job (override)")
    jobs_per_user: int = option(0, "each user follows this many jobs, then idles (0 = until the run ends)", ge=0)
    cut_every_s: float | None = option(None, "cut each stream from the client side after 50-100 percent of this many "
                                       "seconds and resume with Last-Event-ID (reconnect-storm default: 5)", gt=0)
    reconnect_delay_ms: int | None = option(None, "fixed reconnect delay (default: the server's retry: field, "
                                            "as a browser does)", ge=0)
    idle_timeout_s: float = option(60.0, "a stream silent this long (no event, no heartbeat) is dead: "
                                   "reconnect", gt=0)
    watch_timeout_s: float = option(900.0, "give up a job not finished by then", gt=0)
    poll_interval_ms: int | None = option(None, "polling scenario: time between polls (default 1000)", gt=0)
    fanout_wait_s: float = option(10.0, "fanout: wait at most this long for all viewers to connect before "
                                  "starting the job", ge=0)
    user_prefix: str = option("load", "dev-login usernames are <prefix>-<random>")
    progress_s: float = option(5.0, "a progress line on stderr every this many seconds (0 = none)", ge=0)
    slo: str = option("", "SLO gates NAME=VALUE[,NAME=VALUE...]; any failure exits 1", cli=False)
    summary_file: str = option("", "write the JSON summary here when the run ends", cli=False)
    timeline_s: float = option(1.0, "sample the timeline of the report every this many seconds", gt=0)
    scenario: str = option("", "scenario name, for the summary (sse-harness load sets it)", cli=False)

    @classmethod
    def from_namespace(cls, ns: Namespace | None) -> LoadOptions:
        if ns is None:
            return cls()
        values = {row.name: getattr(ns, f"sse_{row.name}") for row in rows(cls)
                  if hasattr(ns, f"sse_{row.name}")}
        return cls(**values)

    def overrides(self) -> dict[str, Any]:
        """The job parameters given explicitly (profile, steps, interval_ms)."""
        return {name: value for name in ("profile", "steps", "interval_ms")
                if (value := getattr(self, name)) is not None}

    def job(self, default: JobParams) -> JobParams:
        """The scenario's job parameters with any explicit override applied. Only fields someone set are
        set, so the body of POST .../transcribe carries only what was asked (``exclude_unset``)."""
        update = self.overrides()
        if not update:
            return default
        return JobParams.model_validate({**default.model_dump(exclude_unset=True), **update})

    def validate(self, flag_of: typing.Callable[[OptionRow], str] = lambda row: row.flag) -> None:
        """Every value checked before any user starts; raises ``UsageError`` (one line)."""
        check_rows(self, flag_of)
        by_name = {row.name: row for row in rows(type(self))}
        if self.source == "redis" and not self.redis_url:
            raise UsageError(f"--source redis needs {flag_of(by_name['redis_url'])} (the target's Redis)")
        if self.redis_url:
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in REDIS_SCHEMES:
                raise UsageError(f"{flag_of(by_name['redis_url'])} must be a redis://, rediss:// or unix:// URL; "
                                 f"got {masked(self.redis_url)!r}")
        try:
            JobParams.model_validate(self.overrides())
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = error["loc"][0] if error["loc"] else ""
            where = flag_of(by_name[str(loc)]) if str(loc) in by_name else "job"
            message = str(error["msg"]).removeprefix("Value error, ")
            raise UsageError(f"{where}: {message}" if where != "job" else message) from None


def sse_flag(row: OptionRow) -> str:
    """The Locust name of a row (``--sse-name``)."""
    return "--sse-" + row.name.replace("_", "-")


def add_arguments(parser: _Parser) -> None:
    """Register the ``--sse-*`` options on Locust's argument parser (made from the rows above)."""
    for row in rows(LoadOptions):
        base = typing.get_args(row.type) or (row.type,)
        kind = next((t for t in base if t is not type(None)), str)
        kwargs: dict[str, Any] = {"default": row.default, "help": row.help}
        if kind in (int, float):
            kwargs["type"] = kind
        if row.choices:
            kwargs["choices"] = row.choices
        parser.add_argument(sse_flag(row), **kwargs)


def locust_args(options: LoadOptions) -> list[str]:
    """The ``--sse-*`` arguments that reproduce ``options`` (defaults left out)."""
    out: list[str] = []
    for row in rows(LoadOptions):
        value = getattr(options, row.name)
        if value is None or value == row.default:
            continue
        out += [sse_flag(row), str(value)]
    return out
