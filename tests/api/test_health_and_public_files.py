import concurrent.futures
import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from shop.services import health
from tests.conftest import BACKEND
from tests.factories import make_product


def test_health_is_alive(api_client):
    assert api_client.get("/api/health").json() == {"status": "ok"}


def test_ready_checks_the_database_redis_and_stripe(api_client, shop_stripe):
    body = api_client.get("/api/ready").json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == ("ok" if BACKEND == "postgres" else "not_configured")
    assert body["checks"]["stripe"] == "ok"
    assert body["status"] == "ok"


def _dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_ready_reports_an_unreachable_stripe(api_client, monkeypatch: pytest.MonkeyPatch):
    # given the Stripe sandbox unreachable
    from shop.settings import get_settings

    monkeypatch.setenv("STRIPE_API_BASE", _dead_url())
    monkeypatch.setattr(health, "_stripe_answer", None)  # nothing remembered from other tests
    get_settings.cache_clear()
    # when the readiness probe asks
    response = api_client.get("/api/ready")
    # then the shop is not ready, and says Stripe is why
    assert response.status_code == 503
    assert response.json()["checks"]["stripe"] == "unavailable"
    assert response.json()["checks"]["database"] == "ok"


@contextlib.contextmanager
def _counting_sandbox() -> Iterator[tuple[str, list[str]]]:
    """A stand-in for the sandbox's health page that counts the requests it gets."""
    hits: list[str] = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_a_busy_readiness_probe_asks_stripe_once_per_few_seconds(
    api_client, monkeypatch: pytest.MonkeyPatch
):
    from shop.settings import get_settings

    with _counting_sandbox() as (url, hits):
        # given the shop pointed at a sandbox that counts its visitors
        monkeypatch.setenv("STRIPE_API_BASE", url)
        monkeypatch.setattr(health, "_stripe_answer", None)  # nothing remembered from other tests
        get_settings.cache_clear()
        # when the probe is called 20 times in a row and 8 more at once
        answers = [api_client.get("/api/ready").status_code for _ in range(20)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers += list(pool.map(lambda _: api_client.get("/api/ready").status_code, range(8)))
    # then every answer is ready, and Stripe was asked once
    assert answers == [200] * 28
    assert hits == ["/_sandbox/health"]


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
    # and keeps crawlers off the pages only a signed-in buyer uses
    for private in ("/account", "/checkout", "/subscribe"):
        assert f"Disallow: {private}\n" in body


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


def test_ready_warns_of_a_failed_backup_without_becoming_unready(
    api_client, shop_stripe, monkeypatch: pytest.MonkeyPatch
):
    # given a shop whose last backup worked, then whose next one failed
    from shop.models import utcnow
    from shop.services import backups
    from shop.settings import get_settings

    made = backups.create_backup()
    body = api_client.get("/api/ready").json()
    assert body["warnings"] == {}
    assert body["backup"]["state"] == "ok"
    assert body["backup"]["last_file"] == made.path.name
    Path(get_settings().data_dir / "in-the-way").write_text("")
    monkeypatch.setenv("BACKUP_DIR", str(get_settings().data_dir / "in-the-way" / "backups"))
    get_settings.cache_clear()
    with pytest.raises(backups.BackupFailed):
        backups.run_scheduled_backup()
    # when the readiness probe asks
    response = api_client.get("/api/ready")
    # then the shop is still ready, and the failure is there for the merchant to see
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["backup"]["state"] == "failed"
    assert body["warnings"]["backup"].startswith("the last backup failed at ")
    # but not why: the probe answers anyone, and the reason names paths (the log keeps it)
    assert "error" not in body["backup"]
    assert "in-the-way" not in response.text
    assert backups.backup_report(since=utcnow()).error is not None


def test_ready_warns_when_no_backup_was_made_in_two_periods(api_client, shop_stripe):
    # given a shop whose newest backup is three days old (backups every 24 hours)
    from shop.models import utcnow
    from shop.services import backups

    backups.create_backup(now=utcnow() - timedelta(days=3))
    # when the readiness probe asks, then it is ready and warns that backups stopped
    response = api_client.get("/api/ready")
    assert response.status_code == 200
    assert response.json()["backup"]["state"] == "overdue"
    assert response.json()["warnings"]["backup"].startswith("no backup since ")
