"""The catalog version: shared through Redis under the shop's namespace, and a Redis outage
never fails a read or a committed change (audit findings 5 and 8)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import secrets
import socket
from pathlib import Path

import pytest

from shop.services import catalog_cache
from shop.settings import get_settings
from tests.conftest import redis_available_url


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


def _read(client) -> bytes | None:
    """`read_shared_version` in a thread of its own: the browser tests' event loop may be
    running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, catalog_cache.read_shared_version(client)).result()


@pytest.fixture
def redis_down(shop_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = _closed_port_url()
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setattr(catalog_cache, "_redis_down", False)
    get_settings.cache_clear()
    return url


def test_a_bump_after_commit_survives_a_redis_outage(redis_down: str, caplog):
    # given Redis configured but down
    before = catalog_cache.local_catalog_version()
    caplog.set_level(logging.WARNING, logger="shop.catalog_cache")
    # when the catalog changes twice
    catalog_cache.bump_catalog_version()
    catalog_cache.bump_catalog_version()
    # then nothing is raised, this process's version moves, and the outage is logged once
    assert catalog_cache.local_catalog_version() > before
    outages = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outages) == 1


def test_reads_answer_without_the_shared_version_while_redis_is_down(redis_down: str):
    # given Redis configured but down
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_down, socket_connect_timeout=1)
    # when the version is read (as the API does on every catalog request), then it is None
    assert _read(client) is None


def test_the_version_lives_under_the_shops_redis_namespace(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch
):
    # given a shop on Redis with a namespace of its own
    import redis
    import redis.asyncio

    url = redis_available_url()
    namespace = f"ops-fix-{secrets.token_hex(6)}"
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("RATE_LIMIT_NAMESPACE", namespace)
    get_settings.cache_clear()
    client = redis.Redis.from_url(url)
    try:
        # when the catalog changes
        catalog_cache.bump_catalog_version()
        catalog_cache.bump_catalog_version()
        # then the shared version is under the namespace, and read back from there
        assert client.get(f"{namespace}:catalog:version") == b"2"
        assert _read(redis.asyncio.Redis.from_url(url)) == b"2"
    finally:
        client.delete(f"{namespace}:catalog:version")
        client.close()


def test_the_catalog_api_answers_while_redis_is_down(redis_down: str, session):
    # given Redis configured but down, and a product on sale
    from fastapi.testclient import TestClient

    from shop.api.app import create_api_app
    from tests.factories import make_product

    make_product(session, name="Lamp guide")
    session.commit()
    # when a visitor lists the catalog (twice: the second answer may come from the cache)
    with TestClient(create_api_app(), base_url="http://shop.test") as client:
        answers = [client.get("/api/products") for _ in range(2)]
    # then the catalog is served from the database, never a 500
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert [item["name"] for item in answer.json()["items"]] == ["Lamp guide"]
