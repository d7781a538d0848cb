"""The judgements on hand-made recordings: each rule's edges, without servers or clocks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conformance import checks, probes
from conformance.catalog import CHECKS, select_checks
from conformance.client import Arrival, StreamRecord
from conformance.model import CheckResult, Outcome, Report
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
        assert "do not strictly increase (2 then 2, a duplicate on the live stream)" in checks.event_ids(rec).message

    def test_a_gap_on_the_live_stream_fails(self) -> None:
        rec = record([(0.1, status_event(1, 0)), (0.2, status_event(4, 0.1))])
        result = checks.event_ids(rec)
        assert result.outcome is Outcome.FAIL and result.evidence["gaps"] == [(1, 4)]
        assert "2 status(es) lost on the live stream" in result.message


class TestHeartbeat:
    def beats(self, every: float, window: float, end: str = "stopped") -> StreamRecord:
        items: list[tuple[float, Item]] = [(0.01, status_event(1, 0, "pending"))]
        t = every
        while t <= window + 1e-9:
            items.append((t, Comment("ping")))
            t += every
        return record(items, end=end, t_end=items[-1][0])

    def test_measured_silence_passes(self) -> None:
        result = checks.heartbeat(self.beats(1.0, 5.0))
        assert result.outcome is Outcome.PASS and result.metric == pytest.approx(1.0)

    def test_a_silence_above_30_s_warns(self) -> None:
        result = checks.heartbeat(self.beats(45.0, 45.0))
        assert result.outcome is Outcome.WARN and "a silence of 45.0 s" in result.message

    def test_no_byte_within_the_limit_fails_naming_the_heartbeat(self) -> None:
        silent = record([(0.01, status_event(1, 0, "pending"))], end="window", t_end=100.3)
        result = checks.heartbeat(silent, limit_s=100)
        assert result.outcome is Outcome.FAIL and result.message.startswith("no heartbeat: 100.3 s without a byte")

    def test_a_stricter_limit_applies_sooner(self) -> None:
        silent = record([(0.01, status_event(1, 0, "pending"))], end="window", t_end=2.2)
        result = checks.heartbeat(silent, limit_s=2)
        assert result.outcome is Outcome.FAIL and "2 s idle limit" in result.message

    def test_expect_heartbeat_fails_a_slower_one_early(self) -> None:
        result = checks.heartbeat(self.beats(20.0, 20.0), limit_s=100, expect_s=15)
        assert result.outcome is Outcome.FAIL and "slower than --expect-heartbeat-s 15" in result.message
        assert checks.heartbeat(self.beats(15.2, 15.2), limit_s=100, expect_s=15).outcome is Outcome.PASS

    def test_a_stream_that_ended_before_the_limit_is_not_a_verdict(self) -> None:
        ended = record([(0.01, status_event(1, 0, "pending"))], end="closed", t_end=3.0)
        assert checks.heartbeat(ended, limit_s=100).outcome is Outcome.SKIP


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
        assert result.outcome is Outcome.FAIL
        assert "the replay after ?lastEventId=3 started at 5: ids [4]" in result.message

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
    assert checks.cache_control(bad).outcome is Outcome.FAIL  # the contract lists no-transform
    assert checks.cache_control(bad, required=False).outcome is Outcome.WARN  # elsewhere: advice
    assert "Content-Encoding: br" in checks.content_encoding(bad).message
    assert checks.content_length(bad).outcome is Outcome.FAIL
    assert checks.x_accel_buffering(bad).outcome is Outcome.FAIL
    assert checks.x_accel_buffering(bad, required=False).outcome is Outcome.WARN


def test_select_checks_by_id_and_group() -> None:
    assert select_checks(["resume"]) == ["resume.header", "resume.query", "resume.after-end-204"]
    assert select_checks(["stream.ids,headers.content-type"]) == ["headers.content-type", "stream.ids"]
    assert select_checks(None) == [c.id for c in CHECKS if "contract" in c.profiles]
    assert "stream.payload" not in select_checks(None, "sse") and "timing.first-byte" in select_checks(None, "sse")
    with pytest.raises(ValueError, match="--only 'bogus' matches no check of the contract profile; groups: auth"):
        select_checks(["bogus"])


def test_json_and_junit_outputs() -> None:
    report = Report("http://x", [CheckResult("stream.ids", Outcome.FAIL, "no ids", {"events": 3}),
                                 CheckResult("stream.retry", Outcome.WARN, "no retry"),
                                 CheckResult("cors.credentials", Outcome.SKIP, "no origin"),
                                 CheckResult("timing.headers", Outcome.PASS, "5 ms", metric=5.0)],
                    http_version="HTTP/2", duration_s=1.5, started_at="2026-01-01T00:00:00Z")
    data = json.loads(to_json([report]))
    assert data["ok"] is False and data["counts"] == {"pass": 1, "warn": 1, "fail": 1, "skip": 1}
    assert data["results"][0] == {"id": "stream.ids", "title": "ids on every event, +1, no gap or duplicate",
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
    from conformance.probes import Probe, malformed

    capped = [Probe("Last-Event-ID 'abc'", "GET", "/s", status=429, expect="200"),
              Probe("session id 'x'", "GET", "/s", status=422, expect="4xx")]
    assert malformed(capped).outcome.value == "pass"  # the per-user cap answered: no verdict on the input
    wrong = [Probe("Last-Event-ID 'abc'", "GET", "/s", status=400, expect="200")]
    assert malformed(wrong).outcome.value == "fail"  # the contract: a malformed id counts as absent
    broken = [Probe("Last-Event-ID 'abc'", "GET", "/s", status=500, expect="200")]
    assert malformed(broken).outcome.value == "fail"


def test_a_run_that_skipped_everything_is_not_a_pass() -> None:
    report = Report("http://x", [CheckResult("headers.content-type", Outcome.SKIP, "not measured: stream 404"),
                                 CheckResult("headers.content-length", Outcome.SKIP, "not measured: stream 404")])
    assert not report.ok and report.exit_code == 2 and report.summary().startswith("NOTHING CHECKED")
    assert report.nothing_checked() == ("nothing checked: all 2 selected checks were skipped — "
                                        "headers.content-type, headers.content-length: not measured: stream 404")
    passed = Report("http://x", [CheckResult("stream.ids", Outcome.PASS, ""), CheckResult("x", Outcome.SKIP, "")])
    assert passed.ok and passed.exit_code == 0


class TestVerdictsNameTheCause:
    def ids(self, seqs: list[int]) -> StreamRecord:
        return record([(0.1 * i, status_event(seq, 0.1 * i)) for i, seq in enumerate(seqs, 1)])

    def test_ids_jumping_by_two_are_reported_as_jumping(self) -> None:
        result = checks.event_ids(self.ids([2, 4, 6, 8]))
        assert result.outcome is Outcome.FAIL and result.message.startswith("ids jump by 2")

    def test_a_lost_status_is_reported_as_lost(self) -> None:
        result = checks.event_ids(self.ids([1, 2, 3, 5, 6, 7, 9]))
        assert result.outcome is Outcome.FAIL and "2 status(es) lost on the live stream" in result.message

    def test_outside_the_contract_gaps_pass(self) -> None:
        assert checks.event_ids(self.ids([1, 3, 5]), contract=False).outcome is Outcome.PASS

    def test_a_late_first_event_is_late_not_buffered(self) -> None:
        late = job([3.0 + 0.25 * i for i in range(6)])
        late.arrivals[:2] = [Arrival(3.0, T0 + timedelta(seconds=3.0), a.item) for a in late.arrivals[:2]]
        result = checks.time_to_first_event([late], budget_s=1.0)
        assert result.outcome is Outcome.FAIL and result.message.startswith("first event late: 3000 ms")

    def test_a_payload_without_timestamp_fails_naming_it(self) -> None:
        data = json.dumps({"session_id": "s", "seq": 1, "status": "pending", "progress": 0, "message": ""})
        result = checks.payloads(record([(0.1, Event(data, "status", "1", True))]))
        assert result.outcome is Outcome.FAIL and "timestamp missing" in result.message
        no_message = json.dumps({"session_id": "s", "seq": 1, "status": "pending", "progress": 0,
                                 "timestamp": "2026-01-01T00:00:00Z"})
        result = checks.payloads(record([(0.1, Event(no_message, "status", "1", True))]))
        assert "(message missing)" in result.message  # the model's default "" is not what was sent

    def test_an_unneeded_reset_is_reported_as_a_reset(self) -> None:
        first = record([(0.1, status_event(i, 0.1 * i)) for i in (1, 2, 3)], end="stopped")
        reset = record([(0.1, Event("{}", "reset", "", False)), (0.1, status_event(1, 0)),
                        (0.2, status_event(2, 0)), (0.3, status_event(4, 0.3, "completed"))])
        result = checks.resume("header", first, reset, 3)
        assert result.outcome is Outcome.FAIL and result.message.startswith("an unneeded event: reset")


def test_the_cap_wants_429_with_retry_after_past_the_expected_cap() -> None:
    assert probes.per_user_cap([200] * 20 + [429], "5", 20).outcome is Outcome.PASS
    assert probes.per_user_cap([200] * 21, None, 20).outcome is Outcome.FAIL
    assert "no Retry-After" in probes.per_user_cap([200] * 20 + [429], None, 20).message


def test_an_html_error_page_becomes_one_line() -> None:
    page = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<h1>502</h1></body></html>"
    assert probes.one_line(page) == "502 Bad Gateway"
    assert probes.one_line("<p>a\n  b</p>") == "a b"


def test_the_checker_sends_only_fields_the_contract_lists() -> None:
    """The body of POST .../transcribe: every key is in docs/contract.md's row for it."""
    import re
    from pathlib import Path

    from conformance.jobs import job_body, job_params, stall_job
    from conformance.options import CheckOptions

    contract = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text()
    row = next(line for line in contract.splitlines() if "/transcribe`" in line)
    listed = set(re.findall(r'"(\w+)"', row.split("|")[1]))
    for params in (job_params(CheckOptions("http://x")), stall_job(CheckOptions("http://x", stall_after_s=1))):
        body = job_body(params)
        assert set(body) <= listed and "speed" not in body, (body, listed)
    assert set(job_body(job_params(CheckOptions("http://x")))) == {"profile", "steps", "interval_ms"}


def test_every_option_exists_in_the_cli_and_the_pytest_plugin() -> None:
    """One declaration (CheckOptions): the typer command and the plugin are generated from it."""
    from dataclasses import fields

    import typer

    from conformance import pytest_plugin
    from conformance.options import CheckOptions
    from sse_harness.cli import app

    names = {f.name for f in fields(CheckOptions)}
    command = typer.main.get_command(app).get_command(None, "check")  # type: ignore[attr-defined]
    assert names | {"output_format", "output", "compare"} == {p.name for p in command.params}

    seen: list[str] = []

    class Group:
        def addoption(self, *flags: str, **kwargs: object) -> None:
            seen.append(str(kwargs["dest"]))

    class Parser:
        def getgroup(self, *args: object) -> Group:
            return Group()

    pytest_plugin.pytest_addoption(Parser())  # type: ignore[arg-type]
    assert {d.removeprefix("sse_") for d in seen} == names
    assert {"steps", "interval_ms", "http2", "header", "cookie", "trigger_cmd", "profile"} <= names


def test_one_event_is_not_enough_to_pass_the_ids() -> None:
    """A snapshot alone (the worker is down, the job never moves) showed 'ids 7..7 by 1' as a pass: two ids are
    needed to see them increase, so it is not measured."""
    result = checks.event_ids(record([(0.02, status_event(7, -5.0))]))
    assert result.outcome is Outcome.SKIP and "two ids are needed" in result.message
    assert checks.event_ids(record([(0.02, status_event(7, -5.0)), (0.3, status_event(8, 0.2))])).outcome \
        is Outcome.PASS


def test_the_lifetime_bound_wants_a_clean_end_in_time() -> None:
    """Point 5: opt-in; still open past the bound fails, a cut fails, a clean end within it passes, a clean
    end far before 80 % warns, a finished session is not measured (its stream ends by design)."""
    snapshot = [(0.01, status_event(1, 0.0))]
    assert checks.lifetime(record(snapshot, end="closed", t_end=9.0), None).outcome is Outcome.SKIP
    assert checks.lifetime(None, 10).outcome is Outcome.SKIP
    open_too_long = checks.lifetime(record(snapshot, end="window", t_end=12.0), 10)
    assert open_too_long.outcome is Outcome.FAIL and "still open after 12.0 s" in open_too_long.message
    cut = checks.lifetime(record(snapshot, end="cut", t_end=9.0), 10)
    assert cut.outcome is Outcome.FAIL and "not ended" in cut.message
    ended = checks.lifetime(record(snapshot, end="closed", t_end=9.0), 10)
    assert ended.outcome is Outcome.PASS and ended.metric == 9.0
    assert checks.lifetime(record(snapshot, end="closed", t_end=1.0), 10).outcome is Outcome.WARN
    # below 80 % warns at every size (no absolute slack that would swallow a short bound)
    assert checks.lifetime(record(snapshot, end="closed", t_end=0.1), 2).outcome is Outcome.WARN
    assert checks.lifetime(record(snapshot, end="closed", t_end=4.5), 8).outcome is Outcome.WARN
    assert checks.lifetime(record(snapshot, end="closed", t_end=6.4), 8).outcome is Outcome.PASS
    assert checks.lifetime(record(snapshot, end="closed", t_end=9.5), 8).outcome is Outcome.PASS  # timer slack
    finished = record([(0.01, status_event(1, 0.0, status="completed"))], end="closed", t_end=0.5)
    assert checks.lifetime(finished, 10).outcome is Outcome.SKIP
