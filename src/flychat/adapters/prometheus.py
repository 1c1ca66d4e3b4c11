"""Metrics adapters over prometheus_client: the ``flychat_*`` and ``flychat_http_*`` families."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from flychat.adapters.prometheus_families import LeanFamilies
from flychat.domain.metrics import POST_OUTCOMES, PostOutcome

APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
REQUEST_LABELS = ("method", "path", "status_code", "app_name")


class PrometheusChatMetrics:
    """The ChatMetrics port: counters, a gauge and a histogram in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        families = LeanFamilies(registry)
        self._posts = families.counter("flychat_posts", "Posts answered, by outcome", ["outcome"])
        for outcome in POST_OUTCOMES:
            self._posts.inc((outcome,), 0.0)
        self._append = families.histogram(
            "flychat_append_seconds",
            "Time to append one message to the store, conflict retries included",
            APPEND_BUCKETS,
        )
        self._streams = families.gauge(
            "flychat_streams_open", "Direct SSE streams this process holds"
        )
        self._resets = families.counter(
            "flychat_stream_resets", "stream-reset events sent (both modes)"
        )
        self._publish_failures = families.counter(
            "flychat_grip_publish_failures", "Publish requests to a GRIP proxy that failed"
        )
        self._recoveries = families.counter(
            "flychat_grip_recoveries", "GRIP recovery requests answered"
        )
        families.register()

    def post_finished(self, outcome: PostOutcome) -> None:
        """Count the post under its outcome."""
        self._posts.inc((outcome,))

    def append_took(self, seconds: float) -> None:
        """Observe one append's duration."""
        self._append.observe(seconds)

    def stream_opened(self) -> None:
        """One more direct stream open."""
        self._streams.inc()

    def stream_closed(self) -> None:
        """One direct stream fewer."""
        self._streams.inc((), -1.0)

    def stream_reset(self) -> None:
        """Count a stream-reset."""
        self._resets.inc()

    def grip_publish_failed(self) -> None:
        """Count a failed publish request."""
        self._publish_failures.inc()

    def grip_recovered(self) -> None:
        """Count an answered recovery request."""
        self._recoveries.inc()


class PrometheusHttpMetrics:
    """Requests by method, route template and status: count, duration, 5xx, in progress.

    The families and labels of Litestar's Prometheus middleware. A request is in
    progress from its response's start to its end (a stream: as long as it lasts),
    under the status it answered with.
    """

    def __init__(self, registry: CollectorRegistry, app_name: str = "flychat") -> None:
        families = LeanFamilies(registry)
        self._app = app_name
        self._count = families.counter("flychat_http_requests", "Total requests", REQUEST_LABELS)
        self._time = families.histogram(
            "flychat_http_request_duration_seconds",
            "Request duration, in seconds",
            REQUEST_BUCKETS,
            REQUEST_LABELS,
        )
        self._in_progress = families.gauge(
            "flychat_http_requests_in_progress", "Requests currently in progress", REQUEST_LABELS
        )
        self._errors = families.counter(
            "flychat_http_requests_error", "Requests answered with 5xx", REQUEST_LABELS
        )
        self._by_route: dict[tuple[str, str, int], _RequestSeries] = {}
        families.register()

    def responding(self, method: str, path: str, status: int) -> None:
        """A response to ``method path`` started with ``status``."""
        self._series(method, path, status).in_progress[0] += 1

    def finished(
        self, method: str, path: str, status: int, seconds: float, responded: bool
    ) -> None:
        """The request ended after ``seconds``; ``responded``: ``responding`` was told."""
        series = self._series(method, path, status)
        if responded:
            series.in_progress[0] -= 1
        series.count[0] += 1
        self._time.add(series.time, seconds)
        if series.errors is not None:
            series.errors[0] += 1

    def _series(self, method: str, path: str, status: int) -> _RequestSeries:
        key = (method, path, status)
        found = self._by_route.get(key)
        if found is None:
            labels = (method, path, str(status), self._app)
            found = self._by_route[key] = _RequestSeries(
                self._count.cell(labels),
                self._time.cell(labels),
                self._in_progress.cell(labels),
                self._errors.cell(labels) if status >= 500 else None,
            )
        return found


@dataclass(slots=True)
class _RequestSeries:
    """The cells of one route and status, found once."""

    count: list[float]
    time: list[float]
    in_progress: list[float]
    errors: list[float] | None
