"""The one percentile helper: nearest rank, the same on a list and on a histogram, None without samples."""

from __future__ import annotations

from collections import Counter

import pytest

from loadtests.percentiles import bucket_ms, histogram, histogram_percentile, percentile, summarize

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([5.0], 0.5, 5.0), ([1.0, 2.0], 0.5, 2.0), (list(range(1, 101)), 0.99, 100), (list(range(1, 101)), 0.5, 51),
    ([3.0, 1.0, 2.0], 1.0, 3.0), ([3.0, 1.0, 2.0], 0.0, 1.0),
])
def test_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected
    assert histogram_percentile(Counter(values), q) == expected


def test_no_samples_is_unknown_not_zero() -> None:
    assert percentile([], 0.99) is None
    assert summarize([]) == {"p50": None, "p95": None, "p99": None, "max": None, "count": 0}


def test_histogram_buckets_as_locust_rounds() -> None:
    assert [bucket_ms(v) for v in (3.4, 99.6, 123.0, 1234.0)] == [3.0, 100.0, 120.0, 1200.0]
    assert histogram([1.2, 1.4, 250.0]) == [[1.0, 2.0], [250.0, 1.0]]
