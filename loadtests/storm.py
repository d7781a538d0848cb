"""The storm phase of ``sse-harness bench capacity --storm``: a deploy's reconnect storm, measured.

Every Render deploy ends the old instance's streams at once and every browser reconnects at once with its
Last-Event-ID (docs/deploy/render.md). This phase reproduces exactly that on the bench's N streams over M
running jobs:

1. the jobs keep publishing (``rate`` statuses/s round-robin over the sessions) for the whole phase;
2. the client process cuts every connection in the same instant and reconnects every viewer at once with its
   last id (``loadtests/storm_client.py``);
3. once all are live again, publishing goes on for a moment, then stops, and every viewer must have every
   status published during the phase: the replay across the cut adds no gap and no duplicate.

Reported: viewers resumed, opens refused (and why), time until all are live again, gaps, duplicates, the
API's CPU per reconnect (all API processes, from the cut until all are live) and the Redis commands per
reconnect (Redis' own ``INFO commandstats``, counting only the commands the API's stream path sends; the
publisher's EVALSHA and the commands inside scripts are not among them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import redis

from sse_contract.status import StatusChange

__all__ = ["STORM_TARGETS", "STREAM_PATH_COMMANDS", "run_storm"]

#: The issue's done-when for one API process on this 2-core box.
STORM_TARGETS = {"all_live_s_max": 5.0, "api_cpu_ms_per_reconnect_max": 0.3}
#: Top-level commands the API sends for stream opens and ends: the session view (MULTI/HGETALL/XREVRANGE/
#: XRANGE/EXEC), the cap leases (EVAL, ZREM) and the shared subscriber's (UN)SUBSCRIBE.
STREAM_PATH_COMMANDS = ("multi", "exec", "hgetall", "xrevrange", "xrange", "eval", "zrem", "subscribe",
                        "unsubscribe")


class _Client(Protocol):
    def send(self, line: str) -> None: ...

    def receive(self, timeout: float) -> dict[str, Any]: ...


class _Publisher(Protocol):
    def publish(self, session_id: str, change: StatusChange, publish_id: str | None = None) -> Any: ...


def command_calls(redis_url: str) -> dict[str, int]:
    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


class _Jobs(threading.Thread):
    """The running jobs: ``rate`` statuses per second round-robin over the sessions, until stopped."""

    def __init__(self, publisher: _Publisher, sessions: Sequence[str], rate: float) -> None:
        super().__init__(name="storm-jobs", daemon=True)
        self.publisher, self.sessions, self.rate = publisher, list(sessions), rate
        self.published = dict.fromkeys(self.sessions, 0)
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        started, count = time.monotonic(), 0
        try:
            while not self.stopping.is_set():
                pause = started + count / self.rate - time.monotonic()
                if pause > 0 and self.stopping.wait(pause):  # pacing, not waiting for a condition
                    break
                session_id = self.sessions[count % len(self.sessions)]
                self.publisher.publish(session_id, StatusChange("processing", 70 + count % 20, f"storm {count}"))
                self.published[session_id] += 1
                count += 1
        except BaseException as exc:  # reported by run_storm: a phase without its publishes proves nothing
            self.error = exc

    def stop(self) -> dict[str, int]:
        self.stopping.set()
        self.join(30)
        if self.error is not None:
            raise RuntimeError(f"the storm's publisher failed: {self.error!r}") from self.error
        return dict(self.published)


def run_storm(*, client: _Client, publisher: _Publisher, sessions: Sequence[str], redis_url: str,
              api_cpu: Callable[[], float], rate: float, timeout_s: float = 120.0) -> dict[str, Any]:
    """One storm over the client's open streams; returns the phase's figures (raises if it could not run)."""
    client.send("storm_prepare")
    client.receive(60)
    jobs = _Jobs(publisher, sessions, rate)
    jobs.start()
    try:
        time.sleep(1.0)  # some live events before the cut (pacing of the scenario)
        calls_before, cpu_before = command_calls(redis_url), api_cpu()
        client.send(f"storm_cut {timeout_s}")
        storm = client.receive(timeout_s + 120)
        cpu_after, calls_after = api_cpu(), command_calls(redis_url)
        time.sleep(1.0)  # and live events after everyone is back
    finally:
        published = jobs.stop()
    client.send(f"storm_check {_json(published)} 60")
    check = client.receive(120)
    reconnects = storm["resumed"]  # per-reconnect figures are unknown (None) when nobody came back
    commands = {c: calls_after.get(c, 0) - calls_before.get(c, 0) for c in STREAM_PATH_COMMANDS}
    commands = {c: n for c, n in commands.items() if n}
    api_cpu_s = cpu_after - cpu_before
    return {
        **{k: storm[k] for k in ("viewers", "resumed", "refused", "refused_by", "first_try", "all_live_s",
                                 "live_ms", "cut_s")},
        "sessions": len(sessions), "published_during_phase": sum(published.values()),
        "lost": check["lost"], "gaps": check["gaps"], "duplicates": check["duplicates"],
        "api_cpu_s": round(api_cpu_s, 3),
        "api_cpu_ms_per_reconnect": round(api_cpu_s * 1000 / reconnects, 3) if reconnects else None,
        "redis_commands": commands,
        "redis_commands_per_reconnect": round(sum(commands.values()) / reconnects, 3) if reconnects else None,
        "targets": STORM_TARGETS,
    }


def _json(obj: object) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"))


def storm_rows(storm: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Rows for the bench's summary table: measure, value, target as a figure (``--slo`` makes verdicts);
    an unknown figure (nobody resumed, not all live) reads n/a."""
    def shown(value: object, unit: str) -> str:
        return "n/a" if value is None else f"{value} {unit}"

    return [
        ("storm: resumed / refused", f"{storm['resumed']:,} of {storm['viewers']:,} / {storm['refused']} "
         f"{storm['refused_by'] or ''}", "100 %, 0 refused"),
        ("storm: time until all live", f"{shown(storm['all_live_s'], 's')} (p50 {storm['live_ms']['p50']} ms, "
         f"p99 {storm['live_ms']['p99']} ms)", f"<= {STORM_TARGETS['all_live_s_max']:g} s"),
        ("storm: gaps / duplicates / lost", f"{storm['gaps']} / {storm['duplicates']} / {storm['lost']} "
         f"({storm['published_during_phase']} statuses published during the phase)", "0 / 0 / 0"),
        ("storm: API CPU per reconnect", f"{shown(storm['api_cpu_ms_per_reconnect'], 'ms')} ({storm['api_cpu_s']} s)",
         f"<= {STORM_TARGETS['api_cpu_ms_per_reconnect_max']} ms"),
        ("storm: Redis commands per reconnect", f"{shown(storm['redis_commands_per_reconnect'], '').strip()} "
         f"{storm['redis_commands']}", ""),
    ]


class ClientGroup:
    """Several bench client processes as one (``--clients K``): a process may hold at most as many sockets as
    its open-files limit (20,000 here), so 20,000 streams need two. Commands go to every client; answers are
    merged: counts are summed, ``seconds``/``all_live_s``/``waited_s`` are the maximum (exact), and latency
    percentiles are the maximum of the per-client percentiles — an upper bound, flagged ``merged_percentiles``.
    """

    def __init__(self, clients: Sequence[Any]) -> None:
        self.clients = list(clients)

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self.clients]

    @property
    def pid(self) -> int:
        return int(self.clients[0].pid)

    def send(self, line: str) -> None:
        for client in self.clients:
            client.send(line)

    def receive(self, timeout: float) -> dict[str, Any]:
        return merge_answers([client.receive(timeout) for client in self.clients])

    def close(self) -> None:
        for client in self.clients:
            client.close()


_MAX_KEYS = {"seconds", "all_live_s", "waited_s", "cut_s"}


def merge_answers(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if len(answers) == 1:
        return answers[0]
    merged: dict[str, Any] = {}
    for key, first in answers[0].items():
        values = [a.get(key) for a in answers]
        if key in _MAX_KEYS:
            present = [v for v in values if v is not None]
            merged[key] = max(present) if len(present) == len(values) else None
        elif isinstance(first, bool | str):
            merged[key] = first
        elif isinstance(first, int | float):
            merged[key] = sum(v or 0 for v in values)
        elif isinstance(first, dict) and key.endswith("_ms"):
            merged[key] = {q: max((v or {}).get(q) or 0 for v in values) if all((v or {}).get(q) is not None
                                                                                  for v in values) else None
                           for q in first}
            merged["merged_percentiles"] = True
        elif isinstance(first, dict):
            counts: dict[str, Any] = {}
            for value in values:
                for k, n in (value or {}).items():
                    counts[k] = counts.get(k, 0) + n if isinstance(n, int | float) else n
            merged[key] = counts
        elif isinstance(first, list):
            merged[key] = sorted({item for value in values for item in (value or [])})
        else:
            merged[key] = first
    return merged
