"""The whole ASGI app (REST API + Reflex + wrappers) over a small fake frontend build.

No Node needed: the fake build has the files the wrappers read (HTML shells with
inline scripts, a hashed asset with its .gz sidecar).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

FAKE_INLINE_SCRIPT = "window.__shopTest = 1;"
FAKE_ASSET = "assets/app-Ab12Cd34.js"


def _shell(title: str, marker: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charSet="utf-8"/>'
        f"<title>{title}</title>"
        '<meta content="Generic description" name="description"/>'
        '<meta content="favicon.ico" property="og:image"/>'
        f"<script>{FAKE_INLINE_SCRIPT}</script>"
        f'<script type="module" src="/{FAKE_ASSET}"></script>'
        f'</head><body><div id="root">{marker}</div></body></html>'
    )


def write_fake_build(web_dir: Path) -> Path:
    client = web_dir / "build" / "client"
    (client / "assets").mkdir(parents=True)
    (client / "index.html").write_text(_shell("Home", "home page"))
    (client / "404.html").write_text(_shell("404", "page not found"))
    (client / "__spa-fallback.html").write_text(_shell("Shop", "spa shell"))
    script = b"console.log('storefront');" * 200
    (client / FAKE_ASSET).write_bytes(script)
    (client / (FAKE_ASSET + ".gz")).write_bytes(gzip.compress(script))
    return client


@pytest.fixture(scope="session")
def fake_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_build(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="session")
def web_app(fake_build: Path):
    """`shop.web.asgi.create_app()` (what production serves), built once per run."""
    from shop.settings import get_settings

    web_dir = fake_build.parent.parent
    # Only while the app is made: other tests (and the browser tests' build) must not
    # inherit the fake build directory.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLEX_WEB_WORKDIR", str(web_dir))
        mp.setenv("PUBLIC_URL", "http://shop.test")
        get_settings.cache_clear()
        from shop.web.asgi import create_app

        app = create_app()
    get_settings.cache_clear()
    return app


@pytest.fixture
def client(shop_env: Path, web_app, monkeypatch: pytest.MonkeyPatch, fake_build: Path) -> Iterator:
    from starlette.testclient import TestClient

    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(fake_build.parent.parent))
    with TestClient(web_app, base_url="http://shop.test") as test_client:
        yield test_client
