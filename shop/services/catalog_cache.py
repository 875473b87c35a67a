"""A version number for the public catalog: any catalog change bumps it, so cached pages expire.

With `REDIS_URL` the version lives in Redis and every web process sees a bump at once;
without it the shop runs one process and the version lives in memory.
"""

from __future__ import annotations

import itertools
import threading
from functools import lru_cache
from typing import Any

from shop.settings import get_settings

REDIS_KEY = "shop:catalog:version"

_local_version = itertools.count(1)
_local_current = 0
_lock = threading.Lock()


def bump_catalog_version() -> None:
    """Call after any change that alters what the public catalog shows (after commit)."""
    global _local_current
    with _lock:
        _local_current = next(_local_version)
    redis_url = get_settings().redis_url
    if redis_url:
        _redis(redis_url).incr(REDIS_KEY)


@lru_cache(maxsize=4)
def _redis(url: str) -> Any:
    """One client (and connection pool) per URL: a sale bumps the version, so this is hot."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=2)


def local_catalog_version() -> int:
    return _local_current
