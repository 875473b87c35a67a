"""Answers repeated public catalog GETs from memory until the catalog changes.

The catalog is the hottest public read and the same for every visitor, so its JSON is
cached per (catalog version, path, query). A bump of the catalog version (see
`shop.services.catalog_cache`) empties it at once; the short time-to-live only covers
changes made by another process on a shop without Redis (e.g. `python -m shop seed`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.services.catalog_cache import local_catalog_version, read_shared_version
from shop.settings import get_settings

CACHED_PREFIX = "/api/products"
MAX_ENTRIES = 1024
TIME_TO_LIVE_SECONDS = 10.0


class CatalogResponseCache:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, int, list[Any], bytes]] = (
            OrderedDict()
        )
        self._redis: Any = None

    async def _version(self) -> tuple[int, bytes | None]:
        redis_url = get_settings().redis_url
        if not redis_url:
            return local_catalog_version(), None
        if self._redis is None:
            import redis.asyncio

            self._redis = redis.asyncio.Redis.from_url(redis_url, socket_timeout=2)
        return local_catalog_version(), await read_shared_version(self._redis)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(CACHED_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        key = (*await self._version(), scope["method"], scope["path"], scope["query_string"])
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < TIME_TO_LIVE_SECONDS:
            _, status, headers, body = entry
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and start is not None and start["status"] == 200:
                    self._store(key, start, b"".join(chunks))
            await send(message)

        await self.app(scope, receive, capture)

    def _store(self, key: tuple[Any, ...], start: Message, body: bytes) -> None:
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"x-request-id"]
        self._entries[key] = (time.monotonic(), start["status"], headers, body)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)
