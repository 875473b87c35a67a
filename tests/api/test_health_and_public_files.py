from pathlib import Path

import pytest
from sqlmodel import Session

from tests.conftest import BACKEND
from tests.factories import make_product


def test_health_is_alive(api_client):
    assert api_client.get("/api/health").json() == {"status": "ok"}


def test_ready_checks_the_database_and_redis(api_client):
    body = api_client.get("/api/ready").json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == ("ok" if BACKEND == "postgres" else "not_configured")
    assert body["status"] == "ok"


def test_ready_reports_an_unreachable_redis(api_client, monkeypatch: pytest.MonkeyPatch):
    from shop.settings import get_settings

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    response = api_client.get("/api/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "unavailable"


def test_sitemap_lists_active_products_only(api_client, session: Session):
    make_product(session, slug="on-sale")
    make_product(session, slug="archived", is_active=False)
    session.commit()
    body = api_client.get("/sitemap.xml").text
    assert "<loc>http://shop.test/products/on-sale</loc>" in body
    assert "archived" not in body


def test_robots_points_at_the_sitemap(api_client):
    body = api_client.get("/robots.txt").text
    assert "Sitemap: http://shop.test/sitemap.xml" in body
    assert "Disallow: /api/" in body


def test_media_serves_images_but_nothing_outside(api_client, shop_env: Path):
    (shop_env / "media" / "products").mkdir(parents=True)
    (shop_env / "media" / "products" / "cover.webp").write_bytes(b"RIFF....WEBPVP8 ")
    (shop_env / "secret.txt").write_text("no")
    assert api_client.get("/media/products/cover.webp").headers["content-type"] == "image/webp"
    for path in (
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/products/missing.webp",
    ):
        assert api_client.get(path).status_code == 404, path
