"""The in-memory rate limit (no Redis): a sliding window counter per identity."""

from __future__ import annotations

import math

from limits import parse

from shop.services.ratelimit import MemoryWindows, RateLimiter
from shop.settings import Settings

MINUTE_START = 60.0 * 1_000_000  # the start of a fixed one-minute window


def test_the_limit_passes_exactly_that_many_in_a_window():
    # given 3 requests a minute
    windows = MemoryWindows(parse("3/minute"))
    # when four come in the first 10 seconds of a window
    waits = [windows.hit("203.0.113.7", now=MINUTE_START + n) for n in range(4)]
    # then three pass, and the fourth is told to wait, never longer than a window
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 57 <= waits[3] <= 60
    # and someone else is not affected
    assert windows.hit("198.51.100.1", now=MINUTE_START + 4) == 0.0


def test_the_previous_window_counts_by_how_much_it_still_overlaps():
    # given a full window of 4 requests a minute
    windows = MemoryWindows(parse("4/minute"))
    for n in range(4):
        assert windows.hit("ip", now=MINUTE_START + n) == 0.0
    # when half of the next window has passed, the old 4 weigh 2: two more fit
    halfway = MINUTE_START + 60 + 30
    assert windows.hit("ip", now=halfway) == 0.0
    assert windows.hit("ip", now=halfway) == 0.0
    # then a third is refused, and told how long until the old window weighs less
    wait = windows.hit("ip", now=halfway)
    assert wait > 0
    assert windows.hit("ip", now=halfway + wait + 0.01) == 0.0


def test_retry_after_is_never_longer_than_the_window():
    # given a full window, whatever moment of the window the client comes back at
    for into in (0.0, 1.0, 11.9, 12.1, 30.0, 59.9):
        windows = MemoryWindows(parse("5/minute"))
        for _ in range(5):
            windows.hit("ip", now=MINUTE_START + into)
        # then the refusal asks for at most one window's wait
        assert 0 < windows.hit("ip", now=MINUTE_START + into) <= 60


def test_a_refused_request_is_not_counted():
    windows = MemoryWindows(parse("2/minute"))
    for _ in range(2):
        windows.hit("ip", now=MINUTE_START)
    # when the client keeps knocking while refused
    for _ in range(50):
        assert windows.hit("ip", now=MINUTE_START + 1) > 0
    # then two windows later it has its full allowance back
    later = MINUTE_START + 120
    assert [windows.hit("ip", now=later) for _ in range(3)][:2] == [0.0, 0.0]


def test_only_the_last_two_windows_are_held_in_memory():
    windows = MemoryWindows(parse("5/second"))
    # given a thousand clients once each
    for n in range(1000):
        windows.hit(f"10.0.{n // 256}.{n % 256}", now=100.0)
    # when time moves on by two windows and one client comes back
    windows.hit("10.0.0.1", now=102.5)
    # then the others are forgotten
    assert len(windows._previous) + len(windows._current) == 1


def test_the_limiter_without_redis_answers_with_a_retry_after(tmp_path):
    # given a shop with no Redis and a tight per-IP limit of two limits
    limiter = RateLimiter(
        Settings(
            shop_data_dir=tmp_path,
            redis_url=None,
            rate_limit_per_ip="2/second;3/minute",
        )
    )
    assert not limiter.blocking
    # when one address asks four times at once
    verdicts = [limiter.check_ip("192.0.2.1") for _ in range(4)]
    # then two pass, and the refusals say when to come back, in whole seconds
    assert [v.allowed for v in verdicts] == [True, True, False, False]
    assert all(
        v.retry_after >= 1 and v.retry_after == math.ceil(v.retry_after) for v in verdicts[2:]
    )
    assert limiter.check_ip("192.0.2.2").allowed
