"""``/metrics``: this app's registry in the Prometheus text format."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusController
from litestar.response import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from flychat.entrypoints.openapi.document import documented
from flychat.entrypoints.openapi.operations import METRICS

METRICS_PATH = "/metrics"


def new_registry() -> CollectorRegistry:
    """A registry of this app's own, with the process, platform and GC collectors."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class MetricsController(PrometheusController):
    """``GET /metrics``: this app's registry in the Prometheus text format."""

    path = METRICS_PATH

    @get(media_type="text/plain", sync_to_thread=False, operation_class=documented(METRICS))
    def get(self, state: State) -> Response[bytes]:
        """The app's metrics in the Prometheus text exposition format."""
        registry: CollectorRegistry = state.metrics_registry
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
