"""The one percentile helper of the project (load harness, benchmark, fault tests). Pure Python.

Nearest rank on the sorted samples: the value at index ``min(n - 1, int(q * n))`` (p50 of two values is the
higher one, p100 the maximum). It works on a histogram (value -> count), so Locust's rounded response-time
histograms and raw sample lists share one definition: ``percentile`` of a list is the histogram's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["QUANTILES", "bucket_ms", "histogram", "histogram_percentile", "percentile", "summarize",
           "summarize_histogram"]

#: The quantiles every summary reports.
QUANTILES: dict[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def histogram_percentile(histogram: Mapping[float, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram of value -> count; None when it holds no sample."""
    total = sum(count for count in histogram.values() if count > 0)
    if not total:
        return None
    rank = min(total - 1, int(q * total))
    seen = 0
    for value in sorted(histogram):
        count = histogram[value]
        if count <= 0:
            continue
        seen += count
        if seen > rank:
            return float(value)
    return float(max(histogram))  # unreachable: the ranks add up to total


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of the samples; None for no sample (unknown, not 0)."""
    return histogram_percentile(Counter(values), q)


def summarize_histogram(histogram: Mapping[float, int], digits: int = 1) -> dict[str, float | int | None]:
    """``{"p50", "p95", "p99", "max", "count"}`` of a histogram; the figures are None without samples."""
    out: dict[str, float | int | None] = {}
    for name, q in QUANTILES.items():
        value = histogram_percentile(histogram, q)
        out[name] = None if value is None else round(value, digits)
    present = [v for v, c in histogram.items() if c > 0]
    out["max"] = round(float(max(present)), digits) if present else None
    out["count"] = sum(c for c in histogram.values() if c > 0)
    return out


def summarize(values: Sequence[float], digits: int = 1) -> dict[str, float | int | None]:
    """``summarize_histogram`` of a list of samples."""
    return summarize_histogram(Counter(values), digits)


def bucket_ms(value: float) -> float:
    """Locust's rounding of a response time (below 100 ms to 1 ms, below 1 s to 10 ms, else to 100 ms),
    so a benchmark's histogram of 10,000 samples is a few dozen buckets and compares with a load run's."""
    if value < 100:
        return float(round(value))
    if value < 1000:
        return float(round(value, -1))
    return float(round(value, -2))


def histogram(values: Iterable[float]) -> list[list[float]]:
    """``[[bucket_ms, count], ...]`` sorted by value: the plottable (and JSON-safe) distribution."""
    counts = Counter(bucket_ms(v) for v in values)
    return [[value, float(counts[value])] for value in sorted(counts)]
