"""The post rate limit: at most N posts per sender per fixed window of seconds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` posts allowed per ``seconds``."""

    count: int
    seconds: float


class RateLimiter:
    """Counts posts per key in fixed windows; in-process (each process has its own windows).

    ``clock`` is monotonic seconds. Keys whose window has ended are dropped as new
    windows start, so memory stays proportional to the senders of one window.
    """

    def __init__(self, rate: Rate, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._next_sweep = 0.0

    def hit(self, key: str) -> int | None:
        """Count one post by ``key``; None when allowed, else the seconds to wait (>= 1)."""
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        start, used = self._windows.get(key, (now, 0))
        if now - start >= self.rate.seconds:
            start, used = now, 0
        if used >= self.rate.count:
            return max(1, math.ceil(start + self.rate.seconds - now))
        self._windows[key] = (start, used + 1)
        return None

    def _sweep(self, now: float) -> None:
        window = self.rate.seconds
        self._windows = {k: v for k, v in self._windows.items() if now - v[0] < window}
        self._next_sweep = now + window
