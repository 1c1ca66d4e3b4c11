"""``/metrics``: Litestar's Prometheus middleware and controller over one registry per app."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar, cast

from litestar import get
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import (
    PrometheusConfig,
    PrometheusController,
    PrometheusMiddleware,
)
from litestar.response import Response
from litestar.types import Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics import MetricWrapperBase

from flychat.entrypoints.event_stream import handed_off
from flychat.entrypoints.openapi.document import documented
from flychat.entrypoints.openapi.operations import METRICS

METRICS_PATH = "/metrics"
REQUEST_BUCKETS: list[str | float] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]

_M = TypeVar("_M", bound=MetricWrapperBase)


def new_registry() -> CollectorRegistry:
    """A registry of this app's own, with the process, platform and GC collectors."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


@dataclass
class RequestMetricsConfig(PrometheusConfig):
    """Litestar's Prometheus config with the registry its metrics live in."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    collectors: dict[str, MetricWrapperBase] = field(default_factory=dict)
    children: dict[tuple[str, str, str, int], Any] = field(default_factory=dict)


class RequestMetricsMiddleware(PrometheusMiddleware):
    """Litestar's request metrics in the config's registry instead of the global one.

    The same families and labels as Litestar's middleware; the per-request path is
    leaner (no Request object, no label validation once a route's children exist).
    """

    def _metric(
        self, kind: type[_M], suffix: str, doc: str, labels: dict[str, Any], **kw: Any
    ) -> _M:
        config = cast(RequestMetricsConfig, self._config)
        name = f"{config.prefix}_{suffix}"
        if name not in config.collectors:
            config.collectors[name] = kind(
                name, doc, labelnames=list(labels), registry=config.registry, **kw
            )
        return cast(_M, config.collectors[name])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count and time the request; label children are looked up once per route and status."""
        method = cast(str, scope.get("method", "WEBSOCKET"))
        path = scope["path_template"]
        in_progress = self._child("in_progress", method, path, 200)
        started = time.perf_counter()
        span = [200, 0.0]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                span[0] = message["status"]
            elif message["type"] == "http.response.body":
                span[1] = time.perf_counter()
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, watch)
        finally:
            finish = partial(self._finish, in_progress, method, path, span, started)
            handoff = handed_off(scope)
            if handoff is None:
                finish()
            else:
                handoff.after.append(finish)

    def _finish(
        self, in_progress: Any, method: str, path: str, span: list[Any], started: float
    ) -> None:
        in_progress.dec()
        status = int(span[0])
        if status >= 500:
            self._child("errors", method, path, status).inc()
        self._child("count", method, path, status).inc()
        ended = span[1] or time.perf_counter()
        self._child("time", method, path, status).observe(ended - started)

    def _child(self, kind: str, method: str, path: str, status: int) -> Any:
        config = cast(RequestMetricsConfig, self._config)
        key = (kind, method, path, status)
        child = config.children.get(key)
        if child is None:
            labels: dict[str, str | int | float] = {
                "method": method,
                "path": path,
                "status_code": status,
                "app_name": config.app_name,
            }
            metric = {
                "in_progress": self.requests_in_progress,
                "errors": self.requests_error_count,
                "count": self.request_count,
                "time": self.request_time,
            }[kind](labels)
            child = config.children[key] = metric.labels(*labels.values())
        return child

    def request_count(self, labels: dict[str, str | int | float]) -> Counter:
        """Requests answered, by method, route template and status."""
        return self._metric(Counter, "requests_total", "Total requests", labels)

    def request_time(self, labels: dict[str, str | int | float]) -> Histogram:
        """Request durations, by method, route template and status."""
        doc = "Request duration, in seconds"
        return self._metric(Histogram, "request_duration_seconds", doc, labels, **self._kwargs)

    def requests_in_progress(self, labels: dict[str, str | int | float]) -> Gauge:
        """Requests (streams included) being answered right now."""
        doc = "Requests currently in progress"
        return self._metric(Gauge, "requests_in_progress", doc, labels)

    def requests_error_count(self, labels: dict[str, str | int | float]) -> Counter:
        """Requests answered with a 5xx status."""
        return self._metric(Counter, "requests_error_total", "Requests answered with 5xx", labels)


def request_metrics(registry: CollectorRegistry) -> DefineMiddleware:
    """The request-metrics middleware, labelled by route template (never a concrete path)."""
    config = RequestMetricsConfig(
        app_name="flychat",
        prefix="flychat_http",
        group_path=True,
        buckets=REQUEST_BUCKETS,
        middleware_class=RequestMetricsMiddleware,
        registry=registry,
    )
    return config.middleware


class MetricsController(PrometheusController):
    """``GET /metrics``: this app's registry in the Prometheus text format."""

    path = METRICS_PATH

    @get(media_type="text/plain", sync_to_thread=False, operation_class=documented(METRICS))
    def get(self, state: State) -> Response[bytes]:
        """The app's metrics in the Prometheus text exposition format."""
        registry: CollectorRegistry = state.metrics_registry
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
