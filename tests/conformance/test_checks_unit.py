"""The judgements on hand-made recordings: each rule's edges, without servers or clocks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conformance import checks
from conformance.client import Arrival, StreamRecord
from conformance.model import CHECKS, CheckResult, Outcome, Report, select_checks
from conformance.report import to_json, to_junit
from sse_contract.status import StatusUpdate
from sse_contract.wire import Comment, Event, Item, Retry

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def status_event(seq: int, published: float, status: str = "processing", with_id: bool = True) -> Event:
    update = StatusUpdate.build(session_id="s", seq=seq, status=status, progress=min(seq, 100),
                                timestamp=T0 + timedelta(seconds=published))
    return Event(update.to_json(), "status", str(seq) if with_id else "", with_id)


def record(items: list[tuple[float, Item]], *, end: str = "closed", t_end: float | None = None,
           headers: dict[str, str] | None = None, status: int = 200, http_version: str = "HTTP/1.1") -> StreamRecord:
    """A recording whose item ``i`` arrived ``t`` seconds after the request (and T0 + t on the wall)."""
    rec = StreamRecord("http://x/stream", {"Accept-Encoding": "gzip, deflate, br"}, status=status,
                       headers=httpx.Headers(headers or {"content-type": "text/event-stream"}),
                       http_version=http_version, t_headers=0.01)
    for t, item in items:
        rec.arrivals.append(Arrival(t, T0 + timedelta(seconds=t), item))
        if not rec.chunks or rec.chunks[-1][0] != t:
            rec.chunks.append((t, 10))
    rec.end = end  # type: ignore[assignment]
    rec.t_end = t_end if t_end is not None else (items[-1][0] if items else 0.0)
    return rec


def job(arrival_of: list[float], gap: float = 0.25) -> StreamRecord:
    """Snapshot, then events published ``gap`` apart that arrived at the given times; the last completes."""
    items: list[tuple[float, Item]] = [(0.02, Retry(3000)), (0.02, status_event(1, -5.0, "pending"))]
    for i, t in enumerate(arrival_of):
        final = i == len(arrival_of) - 1
        items.append((t, status_event(i + 2, 0.1 + gap * i, "completed" if final else "processing")))
    return record(items)


class TestNotBuffered:
    def test_events_arriving_as_published_pass(self) -> None:
        result = checks.not_buffered(job([0.1 + 0.25 * i + 0.003 for i in range(8)]))
        assert result.outcome is Outcome.PASS and result.metric is not None and result.metric < 10

    def test_a_burst_at_the_end_is_buffering_until_close(self) -> None:
        result = checks.not_buffered(job([2.0] * 8))
        assert result.outcome is Outcome.FAIL
        assert "all 8 events arrived in one burst at the end" in result.message
        assert result.evidence["held_fraction"] == 1.0 and result.metric == pytest.approx(1750, abs=1)

    def test_bursts_when_a_buffer_fills(self) -> None:
        result = checks.not_buffered(job([0.6, 0.6, 0.6, 1.35, 1.35, 1.35, 2.1, 2.1]))
        assert result.outcome is Outcome.FAIL
        assert "events arrived in 3 bursts" in result.message and "flushes when it fills" in result.message

    def test_compression_is_named(self) -> None:
        rec = job([2.0] * 8)
        rec.headers = httpx.Headers({"content-type": "text/event-stream", "content-encoding": "gzip"})
        assert "gzip-compressed: compression holds events" in checks.not_buffered(rec).message

    def test_jitter_of_a_loaded_machine_is_not_buffering(self) -> None:
        # one event 200 ms late, the next on time: a blip, not a buffer
        times = [0.1 + 0.25 * i for i in range(8)]
        times[3] += 0.2
        assert checks.not_buffered(job(times)).outcome is Outcome.PASS

    def test_clock_skew_cancels_out(self) -> None:
        rec = job([0.1 + 0.25 * i for i in range(8)])
        rec.arrivals = [Arrival(a.t, a.wall + timedelta(hours=3), a.item) for a in rec.arrivals]
        assert checks.not_buffered(rec).outcome is Outcome.PASS

    def test_too_few_events_is_not_measured(self) -> None:
        assert checks.not_buffered(job([0.1, 0.35])).outcome is Outcome.SKIP


class TestIds:
    def test_missing_ids_fail(self) -> None:
        rec = record([(0.1, status_event(1, 0)), (0.2, status_event(2, 0.1, with_id=False))])
        result = checks.event_ids(rec)
        assert result.outcome is Outcome.FAIL and result.message.startswith("1 of 2 events carry no id")

    def test_repeated_id_fails(self) -> None:
        rec = record([(0.1, status_event(1, 0)), (0.2, status_event(2, 0.1)), (0.3, status_event(2, 0.2))])
        assert "do not strictly increase (2 then 2)" in checks.event_ids(rec).message

    def test_gaps_warn(self) -> None:
        rec = record([(0.1, status_event(1, 0)), (0.2, status_event(4, 0.1))])
        result = checks.event_ids(rec)
        assert result.outcome is Outcome.WARN and result.evidence["gaps"] == [(1, 4)]


class TestHeartbeat:
    def beats(self, every: float, window: float) -> StreamRecord:
        items: list[tuple[float, Item]] = [(0.01, status_event(1, 0, "pending"))]
        t = every
        while t < window:
            items.append((t, Comment("ping")))
            t += every
        return record(items, end="window", t_end=window)

    def test_measured_interval_passes(self) -> None:
        result = checks.heartbeat(self.beats(1.0, 5.0), idle_s=5)
        assert result.outcome is Outcome.PASS and result.metric == pytest.approx(1.0)

    def test_interval_above_30_s_warns(self) -> None:
        result = checks.heartbeat(self.beats(45.0, 100.0), idle_s=100)
        assert result.outcome is Outcome.WARN and "every 45.0 s" in result.message

    def test_100_s_of_silence_fails_only_with_a_long_enough_window(self) -> None:
        silent = record([(0.01, status_event(1, 0, "pending"))], end="window", t_end=120.0)
        result = checks.heartbeat(silent, idle_s=120)
        assert result.outcome is Outcome.FAIL and "120 s without a byte" in result.message
        short = record([(0.01, status_event(1, 0, "pending"))], end="window", t_end=5.0)
        assert checks.heartbeat(short, idle_s=5).outcome is Outcome.SKIP
        assert "--idle-s 35" in checks.heartbeat(short, idle_s=5).message

    def test_a_stricter_limit_applies_sooner(self) -> None:
        silent = record([(0.01, status_event(1, 0, "pending"))], end="window", t_end=2.5)
        result = checks.heartbeat(silent, idle_s=2.5, limit_s=2)
        assert result.outcome is Outcome.FAIL and "2 s idle limit" in result.message


class TestIdleSurvival:
    def test_cut_reports_when(self) -> None:
        rec = record([(0.01, status_event(1, 0, "pending")), (1.0, Comment("ping"))], end="cut", t_end=1.6)
        result = checks.idle_survival(rec, 5)
        assert result.outcome is Outcome.FAIL
        assert result.message.startswith("cut after 1.6 s, 0.6 s after the last byte")

    def test_clean_end_before_the_window_warns(self) -> None:
        rec = record([(0.01, status_event(1, 0, "pending"))], end="closed", t_end=3.0)
        assert checks.idle_survival(rec, 5).outcome is Outcome.WARN

    def test_nothing_at_all_is_buffering(self) -> None:
        rec = record([], end="window", t_end=5.0)
        result = checks.idle_survival(rec, 5)
        assert result.outcome is Outcome.FAIL and "not even the current state" in result.message

    def test_cloudflare_524(self) -> None:
        rec = record([], status=524, t_end=100.0)
        assert "Cloudflare gave up" in checks.idle_survival(rec, 120).message


class TestResume:
    first = record([(0.1, status_event(1, 0)), (0.2, status_event(2, 0.1)), (0.3, status_event(3, 0.2))],
                   end="stopped")

    def second(self, seqs: list[int]) -> StreamRecord:
        return record([(0.1 * i, status_event(s, 0.1 * s, "completed" if s == 6 else "processing"))
                       for i, s in enumerate(seqs)])

    def test_clean_resume_passes(self) -> None:
        assert checks.resume("header", self.first, self.second([4, 5, 6]), 3).outcome is Outcome.PASS

    def test_gap(self) -> None:
        result = checks.resume("query", self.first, self.second([5, 6]), 3)
        assert result.outcome is Outcome.FAIL and "gap after resuming with ?lastEventId=3: ids [4]" in result.message

    def test_duplicate(self) -> None:
        result = checks.resume("header", self.first, self.second([3, 4, 5, 6]), 3)
        assert "duplicate events" in result.message and "[3]" in result.message

    def test_reset_for_a_fresh_id(self) -> None:
        reset = record([(0.0, Event("{}", "reset")), (0.1, status_event(6, 1, "completed"))])
        assert "event: reset" in checks.resume("header", self.first, reset, 3).message


def test_connection_header_on_http2_is_recognised_from_the_client_error() -> None:
    rec = record([], status=None, end="cut")  # type: ignore[arg-type]
    rec.error = "RemoteProtocolError: <ProtocolError: Received connection-specific header field: b'connection'>"
    assert checks.connection_h2(rec).outcome is Outcome.FAIL
    ok = record([(0.1, status_event(1, 0))], http_version="HTTP/2")
    assert checks.connection_h2(ok).outcome is Outcome.PASS
    assert checks.connection_h2(record([(0.1, status_event(1, 0))])).outcome is Outcome.SKIP


def test_headers_rules() -> None:
    good = record([], headers={"content-type": "text/event-stream; charset=utf-8",
                               "cache-control": "no-cache, no-transform", "x-accel-buffering": "no"})
    for judge in (checks.content_type, checks.cache_control, checks.content_encoding, checks.content_length,
                  checks.x_accel_buffering):
        assert judge(good).outcome is Outcome.PASS, judge.__name__
    bad = record([], headers={"content-type": "text/html", "cache-control": "no-cache", "content-length": "10",
                              "content-encoding": "br"})
    assert checks.content_type(bad).outcome is Outcome.FAIL
    assert checks.cache_control(bad).outcome is Outcome.WARN  # no no-transform
    assert "Content-Encoding: br" in checks.content_encoding(bad).message
    assert checks.content_length(bad).outcome is Outcome.FAIL
    assert checks.x_accel_buffering(bad).outcome is Outcome.WARN


def test_select_checks_by_id_and_group() -> None:
    assert select_checks(["resume"]) == ["resume.header", "resume.query", "resume.after-end-204"]
    assert select_checks(["stream.ids,headers.content-type"]) == ["headers.content-type", "stream.ids"]
    assert select_checks(None) == [c.id for c in CHECKS]
    with pytest.raises(ValueError, match="--only 'bogus' matches no check; groups: auth, cap"):
        select_checks(["bogus"])


def test_json_and_junit_outputs() -> None:
    report = Report("http://x", [CheckResult("stream.ids", Outcome.FAIL, "no ids", {"events": 3}),
                                 CheckResult("stream.retry", Outcome.WARN, "no retry"),
                                 CheckResult("cors.credentials", Outcome.SKIP, "no origin"),
                                 CheckResult("timing.headers", Outcome.PASS, "5 ms", metric=5.0)],
                    http_version="HTTP/2", duration_s=1.5, started_at="2026-01-01T00:00:00Z")
    data = json.loads(to_json([report]))
    assert data["ok"] is False and data["counts"] == {"pass": 1, "warn": 1, "fail": 1, "skip": 1}
    assert data["results"][0] == {"id": "stream.ids", "title": "id on every event, strictly increasing",
                                  "outcome": "fail", "message": "no ids", "metric": None, "metric_unit": None,
                                  "evidence": {"events": 3}}
    suite = ET.fromstring(to_junit([report])).find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["stream.ids"].find("failure").get("message") == "no ids"  # type: ignore[union-attr]
    assert cases["cors.credentials"].find("skipped") is not None
    assert cases["stream.retry"].find("failure") is None
    assert "WARN: no retry" in (cases["stream.retry"].findtext("system-out") or "")
    compared = json.loads(to_json([report, report]))
    assert compared["ok"] is False and len(compared["targets"]) == 2
    assert compared["differences"] == [{"id": "timing.headers", "a": "pass", "b": "pass", "a_metric": 5.0,
                                        "b_metric": 5.0, "delta": 0.0, "unit": "ms"}]


def test_malformed_input_judgement_ignores_the_cap_but_not_wrong_answers() -> None:
    from conformance.checks import Probe, malformed

    capped = [Probe("Last-Event-ID 'abc'", "GET", "/s", status=429, expect="200"),
              Probe("session id 'x'", "GET", "/s", status=422, expect="4xx")]
    assert malformed(capped).outcome.value == "pass"  # the per-user cap answered: no verdict on the input
    wrong = [Probe("Last-Event-ID 'abc'", "GET", "/s", status=400, expect="200")]
    assert malformed(wrong).outcome.value == "warn"
    broken = [Probe("Last-Event-ID 'abc'", "GET", "/s", status=500, expect="200")]
    assert malformed(broken).outcome.value == "fail"
