"""The observer port: what the chat reports as it works, for metrics."""

from __future__ import annotations

from typing import Literal, Protocol

PostOutcome = Literal["stored", "duplicate", "rejected", "unavailable"]
POST_OUTCOMES: tuple[PostOutcome, ...] = ("stored", "duplicate", "rejected", "unavailable")


class ChatMetrics(Protocol):
    """Told about each event where it happens; must be cheap and never raise."""

    def post_finished(self, outcome: PostOutcome) -> None:
        """A post was answered: stored, a duplicate, rejected (4xx) or unavailable (503)."""
        ...

    def append_took(self, seconds: float) -> None:
        """One append to the store (with its conflict retries) took ``seconds``."""
        ...

    def stream_opened(self) -> None:
        """A direct stream started in this process."""
        ...

    def stream_closed(self) -> None:
        """A direct stream this process held ended."""
        ...

    def stream_reset(self) -> None:
        """A ``stream-reset`` event was sent (direct or GRIP mode)."""
        ...

    def grip_publish_failed(self) -> None:
        """A publish request to a GRIP proxy failed (its items are dropped)."""
        ...

    def grip_recovered(self) -> None:
        """A GRIP recovery request (``Grip-Last``) was answered."""
        ...


class NoMetrics:
    """The observer that records nothing (metrics switched off, or unit tests)."""

    def post_finished(self, outcome: PostOutcome) -> None:
        """Record nothing."""

    def append_took(self, seconds: float) -> None:
        """Record nothing."""

    def stream_opened(self) -> None:
        """Record nothing."""

    def stream_closed(self) -> None:
        """Record nothing."""

    def stream_reset(self) -> None:
        """Record nothing."""

    def grip_publish_failed(self) -> None:
        """Record nothing."""

    def grip_recovered(self) -> None:
        """Record nothing."""


NO_METRICS: ChatMetrics = NoMetrics()


class RequestMetrics(Protocol):
    """Told about each HTTP request the app answers, by route template; cheap, never raises."""

    def responding(self, method: str, path: str, status: int) -> None:
        """The response to a ``method`` request on the route ``path`` started with ``status``."""
        ...

    def finished(
        self, method: str, path: str, status: int, seconds: float, responded: bool
    ) -> None:
        """The request ended after ``seconds``; ``responded``: ``responding`` was told first."""
        ...
