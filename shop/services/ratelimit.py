"""API-wide rate limits per client IP and per signed-in user, with the `limits` library.

Counters live in Redis when `REDIS_URL` is set (shared by every web process), through the
`limits` library's sliding-window-counter strategy. Without Redis they live in this process's
memory, in `MemoryWindows`: the same algorithm on two plain dicts per limit. (`limits`' own
MemoryStorage starts a timer thread every 10 ms for expiry and cost a quarter of a cached API
request's time; see `make bench`, api overhead.) Limits use `limits` notation ("600/minute",
"10/second;1000/hour") and come from the settings `RATE_LIMIT_PER_IP` and `RATE_LIMIT_PER_USER`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from shop.settings import Settings, get_settings

log = logging.getLogger("shop.ratelimit")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class MemoryWindows:
    """One limit's sliding-window counters in memory: what `limits` computes for its
    sliding-window-counter strategy. The count of the previous fixed window, weighted by how
    much of it still overlaps the sliding window, plus the current window's count, must stay
    within the limit. Only the identities seen in the last two windows are held."""

    def __init__(self, item: RateLimitItem) -> None:
        self.limit = item.amount
        self.period = float(item.get_expiry())
        self._index = -1
        self._previous: dict[str, int] = {}
        self._current: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, identity: str, now: float | None = None) -> float:
        """Count one request: 0.0 when it may pass, else the seconds until one would, at
        most one window (what `limits` reports too; a refused request is not counted)."""
        index, into = divmod(time.time() if now is None else now, self.period)
        with self._lock:
            if index != self._index:
                self._previous = self._current if index == self._index + 1 else {}
                self._current = {}
                self._index = int(index)
            previous = self._previous.get(identity, 0)
            current = self._current.get(identity, 0)
            if previous * (1 - into / self.period) + current + 1 <= self.limit:
                self._current[identity] = current + 1
                return 0.0
        return min(self._wait(previous, current, into), self.period)

    def _wait(self, previous: int, current: int, into: float) -> float:
        if current + 1 > self.limit:
            # Not before this window ends and its count, now the previous one, has faded enough.
            fade = self.period * (1 - (self.limit - 1) / current) if current else self.period
            return self.period - into + fade
        # The previous window must fade until the weighted count leaves room for one more.
        return self.period * (1 - (self.limit - current - 1) / previous) - into


class RateLimiter:
    """One limiter per app; `check_ip` and `check_user` count a request and say if it may pass."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.enabled = settings.rate_limit_enabled
        self.per_ip: list[RateLimitItem] = parse_many(settings.rate_limit_per_ip)
        self.per_user: list[RateLimitItem] = parse_many(settings.rate_limit_per_user)
        self.namespace = settings.rate_limit_namespace
        self.limiter: SlidingWindowCounterRateLimiter | None = None
        self.memory: dict[str, list[MemoryWindows]] = {}
        if settings.redis_url:
            self.limiter = SlidingWindowCounterRateLimiter(
                RedisStorage(settings.redis_url, key_prefix=f"{self.namespace}:ratelimit")
            )
        else:
            self.memory = {
                "ip": [MemoryWindows(item) for item in self.per_ip],
                "user": [MemoryWindows(item) for item in self.per_user],
            }

    @property
    def blocking(self) -> bool:
        """True when a check waits on the network (Redis): run it off the event loop."""
        return self.limiter is not None

    def _check(self, items: list[RateLimitItem], kind: str, identity: str) -> Verdict:
        if not self.enabled:
            return Verdict(True)
        if self.limiter is None:
            for windows in self.memory[kind]:
                wait = windows.hit(identity)
                if wait:
                    return Verdict(False, max(1, math.ceil(wait)))
            return Verdict(True)
        try:
            for item in items:
                if not self.limiter.hit(item, kind, identity):
                    stats = self.limiter.get_window_stats(item, kind, identity)
                    return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))
        except Exception:  # a Redis outage must not take the whole API down
            log.warning(
                "rate limit storage unavailable; letting the request through", exc_info=True
            )
        return Verdict(True)

    def check_ip(self, ip: str) -> Verdict:
        return self._check(self.per_ip, "ip", ip)

    def check_user(self, user_id: int) -> Verdict:
        return self._check(self.per_user, "user", str(user_id))
