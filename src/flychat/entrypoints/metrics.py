"""``/metrics``: Litestar's Prometheus middleware and controller over one registry per app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from litestar import Request, get
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import (
    PrometheusConfig,
    PrometheusController,
    PrometheusMiddleware,
)
from litestar.response import Response
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


class RequestMetricsMiddleware(PrometheusMiddleware):
    """Litestar's request metrics, created in the config's registry instead of the global one."""

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

    def _get_default_labels(self, request: Request[Any, Any, Any]) -> dict[str, str | int | float]:
        """Method and route template straight from the scope (no URL parsing)."""
        scope = request.scope
        return {
            "method": scope.get("method", "WEBSOCKET"),
            "path": scope["path_template"],
            "status_code": 200,
            "app_name": self._config.app_name,
        }

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

    @get(media_type="text/plain", sync_to_thread=False)
    def get(self, state: State) -> Response[bytes]:
        """The app's metrics in the Prometheus text exposition format."""
        registry: CollectorRegistry = state.metrics_registry
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
