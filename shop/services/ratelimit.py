"""API-wide rate limits per client IP and per signed-in user, with the `limits` library.

Counters live in Redis when `REDIS_URL` is set (shared by every web process), else in this
process's memory. Limits use `limits` notation ("600/minute", "10/second;1000/hour") and come
from the settings `RATE_LIMIT_PER_IP` and `RATE_LIMIT_PER_USER`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

from shop.settings import Settings, get_settings

log = logging.getLogger("shop.ratelimit")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class RateLimiter:
    """One limiter per app; `check_ip` and `check_user` count a request and say if it may pass."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.enabled = settings.rate_limit_enabled
        self.per_ip: list[RateLimitItem] = parse_many(settings.rate_limit_per_ip)
        self.per_user: list[RateLimitItem] = parse_many(settings.rate_limit_per_user)
        self.namespace = settings.rate_limit_namespace
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(settings.redis_url, key_prefix=f"{self.namespace}:ratelimit")
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)

    def _check(self, items: list[RateLimitItem], kind: str, identity: str) -> Verdict:
        if not self.enabled:
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
