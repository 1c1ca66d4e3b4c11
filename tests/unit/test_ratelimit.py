"""The post rate limit: N per window per key, then the seconds to wait."""

from __future__ import annotations

from flychat.domain.ratelimit import Rate, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_n_per_window_then_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(3, 10), clock)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    assert limiter.hit("a") == 10
    clock.now += 4.5
    assert limiter.hit("a") == 6
    clock.now += 5.5
    assert limiter.hit("a") is None


def test_keys_have_their_own_windows() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 60), clock)
    assert limiter.hit("alice") is None
    assert limiter.hit("bob") is None
    assert limiter.hit("alice") == 60


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 0.2), clock)
    assert limiter.hit("a") is None
    assert limiter.hit("a") == 1


def test_refused_posts_do_not_extend_the_window() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 10), clock)
    limiter.hit("a")
    for _ in range(5):
        clock.now += 1
        limiter.hit("a")
    clock.now += 5
    assert limiter.hit("a") is None


def test_old_windows_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 10), clock)
    for n in range(100):
        limiter.hit(f"k{n}")
    clock.now += 11
    limiter.hit("new")
    assert len(limiter._windows) == 1
