"""Small statistics helpers: percentiles of raw samples and a mergeable histogram."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

# Log buckets 1% wide: exact enough for p50/p99, and mergeable across processes.
_BASE = math.log(1.01)


def percentile(samples: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by nearest rank; None when there are no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def bucket(ms: float) -> int:
    """The histogram bucket of a latency in milliseconds (bucket 0 holds <= 0.01 ms)."""
    return max(0, math.ceil(math.log(max(ms, 0.01) / 0.01) / _BASE))


def bucket_ms(index: int) -> float:
    """The upper bound of a bucket, in milliseconds."""
    return 0.01 * math.exp(index * _BASE)


def merge(histograms: Iterable[Mapping[str, int]]) -> dict[int, int]:
    """Add histograms (as sent in JSON, with string keys)."""
    total: dict[int, int] = {}
    for histogram in histograms:
        for key, count in histogram.items():
            total[int(key)] = total.get(int(key), 0) + count
    return total


def hist_percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q``-th percentile of a histogram, as its bucket's upper bound (1% precision)."""
    count = sum(histogram.values())
    if count == 0:
        return None
    rank = max(1, math.ceil(q / 100 * count))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_ms(index)
    return bucket_ms(max(histogram))


def rounded(value: float | None, digits: int = 2) -> float | None:
    """Round for the report, keeping None."""
    return None if value is None else round(value, digits)
