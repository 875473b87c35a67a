"""A version number for the public catalog: any catalog change bumps it, so cached pages expire.

With `REDIS_URL` the version lives in Redis (under RATE_LIMIT_NAMESPACE, the prefix of every
key the shop writes there) and every web process sees a bump at once; without it the shop runs
one process and the version lives in memory.

Redis down does not take the catalog down (as for the rate limiter): a bump after commit
still moves the in-process version and a read answers without the shared part, so this
process's answers stay right and others catch up within the response cache's short
time-to-live. The outage is logged once, and its end once.
"""

from __future__ import annotations

import itertools
import logging
import threading
from functools import lru_cache
from typing import Any

from shop.settings import get_settings

log = logging.getLogger("shop.catalog_cache")

_local_version = itertools.count(1)
_local_current = 0
_lock = threading.Lock()
_redis_down = False


def redis_key() -> str:
    return f"{get_settings().rate_limit_namespace}:catalog:version"


def bump_catalog_version() -> None:
    """Call after any change that alters what the public catalog shows (after commit)."""
    global _local_current
    with _lock:
        _local_current = next(_local_version)
    redis_url = get_settings().redis_url
    if redis_url:
        try:
            _redis(redis_url).incr(redis_key())
        except Exception as exc:  # the write is committed already: never fail it now
            _outage(exc)
        else:
            _recovered()


async def read_shared_version(client: Any) -> bytes | None:
    """The version every process shares, through the caller's `redis.asyncio` client (the
    response cache's middleware owns one per app); None while Redis is down."""
    try:
        value: bytes | None = await client.get(redis_key())
    except Exception as exc:
        _outage(exc)
        return None
    _recovered()
    return value


def _outage(exc: Exception) -> None:
    global _redis_down
    if not _redis_down:
        _redis_down = True
        log.warning(
            "catalog version storage (Redis) unavailable; using this process's version: %s",
            type(exc).__name__,
        )


def _recovered() -> None:
    global _redis_down
    if _redis_down:
        _redis_down = False
        log.info("catalog version storage (Redis) answers again")


@lru_cache(maxsize=4)
def _redis(url: str) -> Any:
    """One client (and connection pool) per URL: a sale bumps the version, so this is hot."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def local_catalog_version() -> int:
    return _local_current
