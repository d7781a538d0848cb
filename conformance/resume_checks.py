"""The judges of a reconnect: resume with Last-Event-ID (contract and sse profiles), 204 past the end."""

from __future__ import annotations

from typing import Any

from conformance.client import StreamRecord
from conformance.judging import int_id, not_open, status_events
from conformance.judging import verdict as _r
from conformance.model import CheckResult, Outcome

# -- resume ---------------------------------------------------------------------------------------------------

def resume(kind: str, first: StreamRecord, second: StreamRecord | None, last_id: int | None) -> CheckResult:
    check_id = f"resume.{kind}"
    how = f"Last-Event-ID: {last_id}" if kind == "header" else f"?lastEventId={last_id}"
    if not first.opened:
        return not_open(check_id, first)
    if last_id is None:
        return _r(check_id, Outcome.FAIL, "the first stream gave no event id to resume from: send id: on every "
                  "event", first_events=len(first.events))
    if first.terminal_event() is not None:
        return _r(check_id, Outcome.SKIP, "not measured: the first stream got the job's events only at the end "
                  "(buffered? see stream.not-buffered), so it could not be interrupted mid-job")
    if second is None:
        return _r(check_id, Outcome.SKIP, "not measured: no reconnect made")
    first_ids = [i for i in map(int_id, status_events(first)) if i is not None]
    evidence: dict[str, Any] = {"last_event_id": last_id, "first_ids": first_ids, "status": second.status}
    if first_ids != list(range(first_ids[0], first_ids[0] + len(first_ids))):
        return _r(check_id, Outcome.SKIP, f"not measured: the ids before the reconnect ({first_ids[:6]}) do not "
                  "increase by 1, so a gap after it would prove nothing (see stream.ids)", **evidence)
    if second.status == 204:
        return _r(check_id, Outcome.FAIL, f"resume with {how} answered 204 while the job was running: 204 is only "
                  "for a finished session whose final event the client has", **evidence)
    if not second.opened:
        return _r(check_id, Outcome.FAIL, f"resume with {how} {second.describe_failure()}", **evidence)
    resets = [a for a in second.events if a.event and a.event.event == "reset"]
    ids = [i for i in map(int_id, status_events(second)) if i is not None]
    evidence.update(second_ids=ids, resets=len(resets))
    if resets:
        return _r(check_id, Outcome.FAIL, f"an unneeded event: reset answered {how}, an id a moment old (still "
                  "retained): replay the statuses after it instead of resetting the client", **evidence)
    duplicates = [i for i in ids if i <= last_id]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated and not duplicates:
        return _r(check_id, Outcome.FAIL, f"the replay after {how} was right, then ids {repeated[:5]} came twice "
                  "on the live stream (see stream.ids): send each status once", **evidence)
    if duplicates:
        return _r(check_id, Outcome.FAIL, f"duplicate events after resuming with {how}: ids {duplicates[:5]} "
                  "were sent again; replay only the events after it", **evidence)
    if not ids:
        return _r(check_id, Outcome.FAIL, f"no event after resuming with {how} "
                  f"(stream {second.end} after {second.t_end:.1f} s)", **evidence)
    expected = list(range(last_id + 1, ids[-1] + 1))
    missing = sorted(set(expected) - set(ids))
    if missing and ids[0] != last_id + 1:
        return _r(check_id, Outcome.FAIL, f"the replay after {how} started at {ids[0]}: ids {missing[:5]} never "
                  "arrived; replay from the log every status after the id before going live", **evidence)
    if missing:
        return _r(check_id, Outcome.FAIL, f"the replay after {how} was right, then ids {missing[:5]} were lost "
                  "on the live stream (see stream.ids): deliver every status to every open stream", **evidence)
    if ids != expected:
        return _r(check_id, Outcome.FAIL, f"events out of order after resuming: {ids[:10]}", **evidence)
    if second.terminal_event() is None:
        return _r(check_id, Outcome.FAIL, f"the resumed stream did not reach the final status ({second.end} after "
                  f"{second.t_end:.1f} s)", **evidence)
    return _r(check_id, Outcome.PASS, f"resumed after id {last_id}: {len(ids)} events {ids[0]}..{ids[-1]}, no gap, "
              "no duplicate", **evidence)


def after_end(record: StreamRecord | None, final_id: int | None) -> CheckResult:
    if record is None or final_id is None:
        return _r("resume.after-end-204", Outcome.SKIP, "not measured: the job's final event was not seen")
    evidence = {"last_event_id": final_id, "status": record.status, "events": len(record.events)}
    if record.status == 204:
        return _r("resume.after-end-204", Outcome.PASS, f"204 for Last-Event-ID {final_id}", **evidence)
    if record.status == 200:
        return _r("resume.after-end-204", Outcome.FAIL,
                  f"answered 200 ({len(record.events)} events) to a reconnect after the final event: a browser "
                  "EventSource reconnects forever; answer 204 when Last-Event-ID >= the final seq", **evidence)
    return _r("resume.after-end-204", Outcome.FAIL, f"answered {record.status or record.error} to a reconnect "
              "after the final event; answer 204", **evidence)




def sse_resume(record: StreamRecord | None, sent: str | None, before: list[str]) -> CheckResult:
    """sse profile: reconnect with ``Last-Event-ID`` set to an id a few events old, and say what the
    server does with it. Good practice, not a browser requirement: the verdict warns at worst."""
    check_id = "resume.last-event-id"
    if sent is None:
        return _r(check_id, Outcome.SKIP, "not measured: the stream sent no ids, so there is nothing to resume from "
                  "(see stream.ids)")
    if record is None:
        return _r(check_id, Outcome.SKIP, "not measured: no reconnect made")
    evidence: dict[str, Any] = {"last_event_id": sent, "status": record.status, "ids_before": before[-10:]}
    if record.status == 204:
        return _r(check_id, Outcome.PASS, f"204 for Last-Event-ID {sent}: the server tells the client to stop",
                  **evidence)
    if not record.opened:
        return _r(check_id, Outcome.WARN, f"the reconnect with Last-Event-ID {sent} {record.describe_failure()}",
                  **evidence)
    ids = [a.event.id for a in record.events if a.event is not None and a.event.has_id]
    evidence["ids_after"] = ids[:10]
    if not ids:
        return _r(check_id, Outcome.SKIP, f"not measured: no event with an id within {record.t_end:.1f} s of the "
                  "reconnect", **evidence)
    first = ids[0]
    if sent.isdigit() and first.isdigit():
        n, f = int(sent), int(first)
        if f == n + 1:
            return _r(check_id, Outcome.PASS, f"replays: the reconnect with Last-Event-ID {sent} continued at {first}",
                      **evidence)
        if f <= n:
            return _r(check_id, Outcome.WARN, f"restarts: after Last-Event-ID {sent} the server sent {first} again "
                      "(a reconnecting client sees duplicates); replay only what follows the id", **evidence)
        return _r(check_id, Outcome.WARN, f"ignores it: after Last-Event-ID {sent} the stream went on at {first}, "
                  f"so {f - n - 1} events published meanwhile are lost to a reconnecting client; replay from a log",
                  **evidence)
    if sent in before and before.index(sent) + 1 < len(before) and first == before[before.index(sent) + 1]:
        return _r(check_id, Outcome.PASS, f"replays: continued with the event after {sent}", **evidence)
    if first in before:
        return _r(check_id, Outcome.WARN, f"restarts: after Last-Event-ID {sent} the server re-sent {first}",
                  **evidence)
    return _r(check_id, Outcome.WARN, f"ignores it (probably): after Last-Event-ID {sent} the stream went on at "
              f"{first}, not at the event after {sent}", **evidence)

