"""Per-stream sequence accounting: gaps, duplicates and out-of-order ids, and merging across processes."""

from __future__ import annotations

import pytest

from loadtests.accounting import LoadCounters, SeqVerdict, StreamTracker, merge_counters

pytestmark = pytest.mark.unit


def feed(tracker: StreamTracker, seqs: list[int]) -> list[tuple[SeqVerdict, int]]:
    return [tracker.observe(s) for s in seqs]


def test_the_first_id_may_be_anything_and_consecutive_ids_are_in_order() -> None:
    tracker = StreamTracker()
    assert feed(tracker, [7, 8, 9]) == [(SeqVerdict.IN_ORDER, 0)] * 3
    assert (tracker.gaps, tracker.duplicates, tracker.out_of_order) == (0, 0, 0)


def test_a_jump_counts_every_skipped_id_as_a_gap() -> None:
    tracker = StreamTracker()
    assert feed(tracker, [1, 2, 6]) == [(SeqVerdict.IN_ORDER, 0)] * 2 + [(SeqVerdict.GAP, 3)]
    assert tracker.gaps == 3
    assert tracker.missing == {3, 4, 5}


def test_a_late_id_fills_its_gap_and_counts_as_out_of_order() -> None:
    tracker = StreamTracker()
    feed(tracker, [1, 3])
    assert tracker.observe(2) == (SeqVerdict.OUT_OF_ORDER, -1)
    assert (tracker.gaps, tracker.out_of_order, tracker.duplicates) == (0, 1, 0)
    # The same late id again is now a duplicate, not another fill.
    assert tracker.observe(2) == (SeqVerdict.DUPLICATE, 0)


def test_an_id_at_or_below_the_last_one_already_received_is_a_duplicate() -> None:
    """What a server that replays the Last-Event-ID itself (off by one) produces after a reconnect."""
    tracker = StreamTracker()
    feed(tracker, [1, 2, 3])
    assert feed(tracker, [3, 1]) == [(SeqVerdict.DUPLICATE, 0)] * 2
    assert tracker.duplicates == 2 and tracker.last_seq == 3


def test_reset_is_recorded_and_the_jump_after_it_still_counts_as_lost() -> None:
    tracker = StreamTracker()
    feed(tracker, [1, 2])
    tracker.reset()
    assert tracker.observe(10) == (SeqVerdict.GAP, 7)
    assert tracker.resets == 1 and tracker.gaps == 7


def test_counters_apply_verdicts_and_track_the_peak_of_open_streams() -> None:
    counters = LoadCounters()
    tracker = StreamTracker()
    for seq in (1, 4, 2, 2):
        counters.apply(*tracker.observe(seq))
    assert (counters.gaps, counters.out_of_order, counters.duplicates) == (1, 1, 1)
    for _ in range(3):
        counters.stream_opened()
    counters.stream_closed("terminal")
    assert (counters.streams_open, counters.streams_peak, counters.stream_ends["terminal"]) == (2, 3, 1)
    assert counters.take_interval_peak() == 3
    assert counters.take_interval_peak() == 2  # a new interval starts at the current level


def test_reset_all_clears_everything() -> None:
    counters = LoadCounters()
    counters.stream_opened()
    counters.error("http_429")
    counters.reset_all()
    assert counters.as_dict() == LoadCounters().as_dict()


def test_merge_adds_counts_and_dicts_and_keeps_the_largest_single_process_peak() -> None:
    a, b = LoadCounters(), LoadCounters()
    for _ in range(3):
        a.stream_opened()
    b.stream_opened()
    a.error("http_429")
    b.error("http_429")
    b.error("connect_refused")
    a.gaps, b.gaps = 1, 2
    merged = merge_counters([a.as_dict(), b.as_dict()])
    assert merged["streams_opened"] == 4
    assert merged["streams_peak"] == 3
    assert merged["gaps"] == 3
    assert merged["errors"] == {"http_429": 2, "connect_refused": 1}
