"""The ChatMetrics port over prometheus_client: the ``flychat_*`` families."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from flychat.domain.metrics import POST_OUTCOMES, PostOutcome

APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class PrometheusChatMetrics:
    """Counters, a gauge and a histogram in one registry (one per app)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        posts = Counter(
            "flychat_posts", "Posts answered, by outcome", ["outcome"], registry=registry
        )
        self._posts = {outcome: posts.labels(outcome) for outcome in POST_OUTCOMES}
        self._append = Histogram(
            "flychat_append_seconds",
            "Time to append one message to the store, conflict retries included",
            buckets=APPEND_BUCKETS,
            registry=registry,
        )
        self._streams = Gauge(
            "flychat_streams_open", "Direct SSE streams this process holds", registry=registry
        )
        self._resets = Counter(
            "flychat_stream_resets", "stream-reset events sent (both modes)", registry=registry
        )
        self._publish_failures = Counter(
            "flychat_grip_publish_failures",
            "Publish requests to a GRIP proxy that failed",
            registry=registry,
        )
        self._recoveries = Counter(
            "flychat_grip_recoveries", "GRIP recovery requests answered", registry=registry
        )

    def post_finished(self, outcome: PostOutcome) -> None:
        """Count the post under its outcome."""
        self._posts[outcome].inc()

    def append_took(self, seconds: float) -> None:
        """Observe one append's duration."""
        self._append.observe(seconds)

    def stream_opened(self) -> None:
        """One more direct stream open."""
        self._streams.inc()

    def stream_closed(self) -> None:
        """One direct stream fewer."""
        self._streams.dec()

    def stream_reset(self) -> None:
        """Count a stream-reset."""
        self._resets.inc()

    def grip_publish_failed(self) -> None:
        """Count a failed publish request."""
        self._publish_failures.inc()

    def grip_recovered(self) -> None:
        """Count an answered recovery request."""
        self._recoveries.inc()
