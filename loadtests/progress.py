"""Signs of life during a run: a progress line every ``--sse-progress-s`` and the timeline of the report.

Runs in the Locust master (or the single local process) as one greenlet. It reads what Locust already
gathers — the runner's user count, the request statistics (which Locust aggregates across workers) and
the stream counters (this process's own, or the workers' latest ``worker_report``) — so it works the same
in distributed mode; there, worker counters refresh with each worker report (every 3 s).

On a terminal the line is redrawn in place; otherwise (CI logs, files) each is a plain line.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

import gevent

if TYPE_CHECKING:
    from locust.env import Environment

from loadtests.percentiles import histogram_percentile

__all__ = ["MAX_SAMPLES", "Timeline", "progress_line"]

#: The timeline keeps at most this many samples; beyond, every other one is dropped and the interval doubles.
MAX_SAMPLES = 2000
EVENT_ENTRY = ("event", "SSE")


def _errors(counters: Mapping[str, Any]) -> int:
    return sum(int(v) for v in dict(counters.get("errors") or {}).values())


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def progress_line(sample: Mapping[str, Any], p99_so_far: float | None) -> str:
    return (f"progress {sample['t']:.0f}s: users {sample['users']}, streams open {sample['streams_open']}, "
            f"events/s {sample['events_per_s']:.1f}, gaps {sample['gaps']}, duplicates {sample['duplicates']}, "
            f"reconnects {sample['reconnects']}, errors {sample['errors']}, p99 {_fmt_ms(p99_so_far)}")


class Timeline:
    def __init__(self, environment: Environment, counters: Callable[[], Mapping[str, Any]],
                 sample_s: float, progress_s: float, stream: TextIO | None = None) -> None:
        self.environment = environment
        self.counters = counters
        self.sample_s = sample_s
        self.progress_s = progress_s
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.samples: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self._greenlet: gevent.Greenlet | None = None
        self._last: tuple[float, int] = (self.started, 0)
        self._last_hist: Counter[float] = Counter()
        self._printed: tuple[float, int] = (self.started, 0)
        self._live_open = False

    def _clear_live_line(self, record: logging.LogRecord) -> bool:
        """A log record (Locust's own) starts on a clean line instead of after the live progress text."""
        if self._live_open:
            self.stream.write("\r\x1b[K")
            self._live_open = False
        return True

    def start(self) -> None:
        if self.live:
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._clear_live_line)
        self.started = time.monotonic()
        self._last = self._printed = (self.started, 0)
        self.sample()  # t = 0: the plots start where the run did
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        next_print = self.started + self.progress_s
        while True:
            gevent.sleep(self.sample_s)
            self.sample()
            if self.progress_s and time.monotonic() >= next_print:
                self.print_progress()
                next_print += self.progress_s

    def _histogram(self) -> Counter[float]:
        entry = self.environment.stats.entries.get(EVENT_ENTRY)
        return Counter(entry.response_times) if entry is not None else Counter()

    def sample(self, counters: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One point of the timeline; latency percentiles are of this interval's events only."""
        now = time.monotonic()
        counters = counters if counters is not None else self.counters()
        events = int(counters.get("events_received", 0))
        then, events_then = self._last
        histogram = self._histogram()
        interval = histogram - self._last_hist
        runner = self.environment.runner
        sample = {
            "t": round(now - self.started, 2),
            "users": int(getattr(runner, "user_count", 0) or 0),
            "streams_open": int(counters.get("streams_open", 0)),
            "events": events,
            "events_per_s": round((events - events_then) / (now - then), 1) if now > then else 0.0,
            "latency_p50_ms": histogram_percentile(interval, 0.5),
            "latency_p99_ms": histogram_percentile(interval, 0.99),
            "gaps": int(counters.get("gaps", 0)),
            "duplicates": int(counters.get("duplicates", 0)),
            "reconnects": int(counters.get("reconnects", 0)),
            "errors": _errors(counters),
        }
        self._last, self._last_hist = (now, events), histogram
        self.samples.append(sample)
        if len(self.samples) > MAX_SAMPLES:
            self.samples = self.samples[::2]
            self.sample_s *= 2
        return sample

    def print_progress(self) -> None:
        now = time.monotonic()
        counters = self.counters()
        events = int(counters.get("events_received", 0))
        then, events_then = self._printed
        self._printed = (now, events)
        line_sample = {**self.samples[-1]} if self.samples else self.sample(counters)
        line_sample.update(
            t=now - self.started, streams_open=int(counters.get("streams_open", 0)),
            events_per_s=(events - events_then) / (now - then) if now > then else 0.0,
            gaps=int(counters.get("gaps", 0)), duplicates=int(counters.get("duplicates", 0)),
            reconnects=int(counters.get("reconnects", 0)), errors=_errors(counters))
        line = progress_line(line_sample, histogram_percentile(self._histogram(), 0.99))
        if self.live:
            self.stream.write("\r\x1b[K" + line)
            self._live_open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def stop(self, final_counters: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """Stop sampling; the last point is taken from the final counters (the summary's own)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        if final_counters is not None:
            self.sample(final_counters)
        if self._live_open:
            self.stream.write("\n")
            self.stream.flush()
            self._live_open = False
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._clear_live_line)
        return self.samples
