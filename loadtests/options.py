"""Scenario names and the ``--sse-*`` options of the locustfile. Pure Python (the CLI imports it).

The options are Locust custom arguments: they show up in ``locust --help`` and in the web UI, and Locust
forwards them from the master to every worker, so distributed runs need them on the master only.
Options left unset (``None``) take the scenario's own default (e.g. reconnect-storm cuts every 5 s).
"""

from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
from typing import Any, Protocol

from sse_contract.jobs import JobParams

__all__ = ["SCENARIOS", "LoadOptions", "add_arguments"]

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


class _Parser(Protocol):
    def add_argument(self, *names: str, **kwargs: Any) -> Any: ...


def add_arguments(parser: _Parser) -> None:
    """Register the ``--sse-*`` options on Locust's argument parser."""
    add = parser.add_argument
    add("--sse-source", choices=SOURCES, default="api",
        help="who drives the jobs: 'api' (POST .../transcribe, the target's Celery worker) or 'redis' "
             "(publish the simulator's statuses straight to --sse-redis-url from the load generator)")
    add("--sse-redis-url", default="", help="Redis of the target, for --sse-source redis")
    add("--sse-transport", choices=TRANSPORTS, default="raw",
        help="how streams are read: raw gevent sockets (default) or FastHttpSession")
    add("--sse-profile", default=None, help="simulator profile of each job (steady, bursty, stall, ...)")
    add("--sse-steps", type=int, default=None, help="progress updates per job")
    add("--sse-interval-ms", type=int, default=None, help="pause between updates of a job")
    add("--sse-jobs-per-user", type=int, default=0,
        help="each user follows this many jobs, then idles (0 = until the run ends)")
    add("--sse-cut-every-s", type=float, default=None,
        help="cut each stream from the client side after 50-100%% of this many seconds and resume "
             "with Last-Event-ID (reconnect-storm default: 5)")
    add("--sse-reconnect-delay-ms", type=int, default=None,
        help="fixed reconnect delay (default: the server's retry: field, as a browser does)")
    add("--sse-idle-timeout-s", type=float, default=60.0,
        help="a stream silent this long (no event, no heartbeat) is dead: reconnect")
    add("--sse-watch-timeout-s", type=float, default=900.0, help="give up a job not finished by then")
    add("--sse-poll-interval-ms", type=int, default=None, help="polling scenario: time between polls "
        "(default 1000)")
    add("--sse-fanout-wait-s", type=float, default=10.0,
        help="fanout: wait at most this long for all viewers to connect before starting the job")
    add("--sse-user-prefix", default="load", help="dev-login usernames are <prefix>-<random>")
    add("--sse-slo", default="", help="SLO gates NAME=VALUE[,NAME=VALUE...]; any failure exits 1")
    add("--sse-summary-file", default="", help="write the JSON summary here when the run ends")
    add("--sse-scenario", default="", help="scenario name, for the summary (sse-harness load sets it)")


@dataclass(frozen=True)
class LoadOptions:
    """The ``--sse-*`` options, typed; ``from_namespace`` accepts Locust's parsed options or None."""

    source: str = "api"
    redis_url: str = ""
    transport: str = "raw"
    profile: str | None = None
    steps: int | None = None
    interval_ms: int | None = None
    jobs_per_user: int = 0
    cut_every_s: float | None = None
    reconnect_delay_ms: int | None = None
    idle_timeout_s: float = 60.0
    watch_timeout_s: float = 900.0
    poll_interval_ms: int | None = None
    fanout_wait_s: float = 10.0
    user_prefix: str = "load"
    slo: str = ""
    summary_file: str = ""
    scenario: str = ""

    @classmethod
    def from_namespace(cls, ns: Namespace | None) -> LoadOptions:
        if ns is None:
            return cls()
        values = {name: getattr(ns, f"sse_{name}") for name in cls.__dataclass_fields__
                  if hasattr(ns, f"sse_{name}")}
        return cls(**values)

    def job(self, default: JobParams) -> JobParams:
        """The scenario's job parameters with any explicit ``--sse-*`` override applied."""
        update: dict[str, Any] = {}
        if self.profile is not None:
            update["profile"] = self.profile
        if self.steps is not None:
            update["steps"] = self.steps
        if self.interval_ms is not None:
            update["interval_ms"] = self.interval_ms
        return JobParams.model_validate({**default.model_dump(), **update}) if update else default
