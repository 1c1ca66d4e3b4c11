"""Counters, gauges and histograms kept as plain numbers, turned into families on scrape.

prometheus_client's metric objects take a lock and check their labels on every
update; these are updated from the event loop's thread only, cost a dict lookup
and an addition, and are exposed through one collector in the app's registry.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

Labels = tuple[str, ...]


class LeanCounter:
    """A counter per label tuple; unlabelled counters start at zero.

    Each series is a one-element list (its cell): a caller that updates one
    series often keeps the cell from ``cell`` and adds to ``cell[0]``.
    """

    __slots__ = ("cells", "doc", "labelnames", "name")

    def __init__(self, name: str, doc: str, labelnames: Sequence[str]) -> None:
        self.name, self.doc, self.labelnames = name, doc, tuple(labelnames)
        self.cells: dict[Labels, list[float]] = {} if labelnames else {(): [0.0]}

    def cell(self, labels: Labels = ()) -> list[float]:
        """The series ``labels``, created at zero when new."""
        found = self.cells.get(labels)
        if found is None:
            found = self.cells[labels] = [0.0]
        return found

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        """Add ``amount`` to the series ``labels``."""
        self.cell(labels)[0] += amount

    def family(self) -> Metric:
        """The counter family with every series seen so far."""
        family = CounterMetricFamily(self.name, self.doc, labels=self.labelnames)
        for labels, cell in self.cells.items():
            family.add_metric(labels, cell[0])
        return family


class LeanGauge(LeanCounter):
    """A gauge per label tuple: ``inc`` with a negative amount lowers it."""

    __slots__ = ()

    def family(self) -> Metric:
        """The gauge family with every series seen so far."""
        family = GaugeMetricFamily(self.name, self.doc, labels=self.labelnames)
        for labels, cell in self.cells.items():
            family.add_metric(labels, cell[0])
        return family


class LeanHistogram:
    """A histogram per label tuple: one count per bucket and the sum, cumulated on scrape."""

    __slots__ = ("bounds", "doc", "labelnames", "name", "series")

    def __init__(
        self, name: str, doc: str, buckets: Sequence[float], labelnames: Sequence[str]
    ) -> None:
        self.name, self.doc, self.labelnames = name, doc, tuple(labelnames)
        self.bounds = tuple(sorted(float(b) for b in buckets if b != math.inf))
        self.series: dict[Labels, list[float]] = {}
        if not labelnames:
            self.series[()] = self._empty()

    def _empty(self) -> list[float]:
        return [0.0] * (len(self.bounds) + 2)

    def cell(self, labels: Labels = ()) -> list[float]:
        """The series ``labels`` (a count per bucket, then the sum), created when new."""
        found = self.series.get(labels)
        if found is None:
            found = self.series[labels] = self._empty()
        return found

    def observe(self, value: float, labels: Labels = ()) -> None:
        """Count ``value`` in its bucket of the series ``labels`` and add it to the sum."""
        self.add(self.cell(labels), value)

    def add(self, counts: list[float], value: float) -> None:
        """Count ``value`` in a series kept from ``cell``."""
        counts[bisect_left(self.bounds, value)] += 1
        counts[-1] += value

    def family(self) -> Metric:
        """The histogram family: cumulative ``le`` buckets, ``+Inf`` last, and the sum."""
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labelnames)
        edges = [*(repr(b) for b in self.bounds), "+Inf"]
        for labels, counts in self.series.items():
            running, buckets = 0.0, []
            for edge, count in zip(edges, counts, strict=False):
                running += count
                buckets.append((edge, running))
            family.add_metric(labels, buckets, counts[-1])
        return family


_M = TypeVar("_M", LeanCounter, LeanGauge, LeanHistogram)


class LeanFamilies(Collector):
    """The collector that owns a set of lean metrics and exposes them on scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._metrics: list[LeanCounter | LeanHistogram] = []
        self._registry = registry

    def counter(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> LeanCounter:
        """A new counter exposed as ``<name>_total``."""
        return self._add(LeanCounter(name, doc, labelnames))

    def gauge(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> LeanGauge:
        """A new gauge."""
        return self._add(LeanGauge(name, doc, labelnames))

    def histogram(
        self, name: str, doc: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> LeanHistogram:
        """A new histogram with these upper bounds (``+Inf`` is added)."""
        return self._add(LeanHistogram(name, doc, buckets, labelnames))

    def register(self) -> None:
        """Add the collector to its registry (once every metric is declared)."""
        self._registry.register(self)

    def _add(self, metric: _M) -> _M:
        self._metrics.append(metric)
        return metric

    def collect(self) -> Iterator[Metric]:
        """Every metric's family with its current values."""
        for metric in self._metrics:
            yield metric.family()

    def describe(self) -> Iterator[Metric]:
        """The families' names, so the registry refuses duplicates."""
        return self.collect()
