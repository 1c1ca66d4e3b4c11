"""The lean metric families expose exactly what prometheus_client's own metrics would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from flychat.adapters.prometheus_families import LeanFamilies

BUCKETS = (0.001, 0.01, 0.1, 1.0)
OBSERVED = (0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3.0, 0.01)


def exposition(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
        if not s.name.endswith("_created")
    }


def reference() -> CollectorRegistry:
    registry = CollectorRegistry()
    hits = Counter("hits", "Hits", ["route"], registry=registry)
    plain = Counter("plain", "Plain", registry=registry)
    level = Gauge("level", "Level", ["route"], registry=registry)
    took = Histogram("took_seconds", "Took", ["route"], buckets=BUCKETS, registry=registry)
    lone = Histogram("lone_seconds", "Lone", buckets=BUCKETS, registry=registry)
    for i, seconds in enumerate(OBSERVED):
        route = "/a" if i % 3 else "/b"
        hits.labels(route).inc()
        level.labels(route).inc()
        took.labels(route).observe(seconds)
        lone.observe(seconds)
    level.labels("/a").dec(2)
    plain.inc(0)
    return registry


def lean() -> CollectorRegistry:
    registry = CollectorRegistry()
    families = LeanFamilies(registry)
    hits = families.counter("hits", "Hits", ["route"])
    families.counter("plain", "Plain")
    level = families.gauge("level", "Level", ["route"])
    took = families.histogram("took_seconds", "Took", BUCKETS, ["route"])
    lone = families.histogram("lone_seconds", "Lone", BUCKETS)
    families.register()
    for i, seconds in enumerate(OBSERVED):
        route = ("/a",) if i % 3 else ("/b",)
        hits.inc(route)
        level.inc(route)
        took.observe(seconds, route)
        lone.observe(seconds)
    level.inc(("/a",), -2.0)
    return registry


def test_counters_gauges_and_histograms_match_prometheus_client() -> None:
    assert exposition(lean()) == exposition(reference())


def test_types_and_help_match_prometheus_client() -> None:
    def described(registry: CollectorRegistry) -> dict[str, tuple[str, str]]:
        text = generate_latest(registry).decode()
        families = text_string_to_metric_families(text)
        return {f.name: (f.type, f.documentation) for f in families if "_created" not in f.name}

    assert described(lean()) == described(reference())


def test_a_name_taken_twice_is_refused() -> None:
    registry = CollectorRegistry()
    first = LeanFamilies(registry)
    first.counter("hits", "Hits")
    first.register()
    second = LeanFamilies(registry)
    second.counter("hits", "Hits again")
    with pytest.raises(ValueError, match="hits"):
        second.register()
