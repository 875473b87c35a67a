"""/api/docs works offline and under the shop's CSP: every file it loads is served here."""

from __future__ import annotations

import re
from html.parser import HTMLParser

EXPECTED_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.urls.append(str(found["src"]))
            else:
                self.inline_scripts += 1
        elif tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


def test_the_docs_load_only_same_origin_files_that_are_served(client):
    # given the docs page
    page = client.get("/api/docs")
    assert page.status_code == 200
    assets = _Assets()
    assets.feed(page.text)
    # then it has no inline script (the CSP runs only 'self' scripts) and every file it
    # loads is a same-origin path
    assert assets.inline_scripts == 0
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert len(assets.urls) == 4
    assert all(re.fullmatch(r"/api/docs/assets/[\w.-]+", url) for url in assets.urls)
    # and each is served with its type
    for url in assets.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(EXPECTED_TYPES[url[url.rfind(".") :]])
        assert len(asset.content) > 100, url


def test_the_docs_start_swagger_ui_on_the_shops_openapi_document(client):
    page = client.get("/api/docs").text
    init = client.get("/api/docs/assets/swagger-init.js").text
    assert 'data-openapi-url="/api/openapi.json"' in page
    assert "SwaggerUIBundle(" in init
    assert "validatorUrl: null" in init


def test_only_the_docs_own_files_are_served_from_the_assets_path(client):
    for name in ("core.py", "..%2F..%2Fapp.py", "redoc.standalone.js"):
        response = client.get(f"/api/docs/assets/{name}")
        assert response.status_code == 404, name
        assert response.json()["error"]["code"] == "not_found"
