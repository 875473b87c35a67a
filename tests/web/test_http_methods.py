"""HEAD answers wherever GET does; a wrong method on a known API path is 405, not 404.

Through the whole app (REST API + Reflex behind it), where a request no API route takes
falls through to the storefront's HTML 404.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from tests.factories import make_product

# Headers that differ between two answers to the same request by design.
PER_ANSWER = {"date", "x-request-id"}


def _headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in PER_ANSWER}


@pytest.fixture
def media_image(shop_env: Path) -> str:
    (shop_env / "media" / "products").mkdir(parents=True)
    (shop_env / "media" / "products" / "cover.webp").write_bytes(b"RIFF....WEBPVP8 " * 10)
    return "/media/products/cover.webp"


@pytest.mark.parametrize(
    ("app", "path"),
    [
        ("client", "/api/health"),
        # The catalog's response cache keeps an async Redis client on its first event loop,
        # and each test client has its own: a new API app per test for these.
        ("api_client", "/api/products"),
        ("api_client", "/api/products/lamp"),
        ("client", "/api/openapi.json"),
        ("client", "/sitemap.xml"),
        ("client", "/robots.txt"),
    ],
)
def test_head_answers_like_get_without_the_body(
    request: pytest.FixtureRequest, session: Session, app: str, path: str
):
    # given a product in the catalog
    client = request.getfixturevalue(app)
    make_product(session, slug="lamp")
    session.commit()
    # when the same resource is asked with GET and with HEAD
    got = client.get(path)
    head = client.head(path)
    # then HEAD has GET's status and headers (Content-Length too) and no body
    assert got.status_code == 200
    assert head.status_code == 200
    assert _headers(head) == _headers(got)
    assert head.content == b""


def test_head_answers_for_the_readiness_probe(client, shop_stripe):
    head = client.head("/api/ready")
    assert head.status_code == 200
    assert head.headers["content-type"] == "application/json"
    assert head.content == b""


def test_head_answers_for_a_product_image(client, media_image: str):
    got = client.get(media_image)
    head = client.head(media_image)
    assert head.status_code == 200
    assert head.headers["content-type"] == "image/webp"
    assert head.headers["content-length"] == got.headers["content-length"] == "160"
    assert head.content == b""


def test_head_of_an_unknown_api_path_is_a_json_404(client):
    head = client.head("/api/no-such-thing")
    assert head.status_code == 404
    assert head.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/health", "GET, HEAD"),
        ("GET", "/api/auth/login", "POST"),
        ("HEAD", "/api/auth/login", "POST"),
        ("PATCH", "/api/products/1", "GET, HEAD, PUT, DELETE"),
        ("DELETE", "/api/products", "GET, HEAD, POST"),
    ],
)
def test_a_wrong_method_on_a_known_api_path_is_405_with_allow(
    client, method: str, path: str, allow: str
):
    # when a known API path is asked with a method it does not answer
    response = client.request(method, path, headers={"Origin": "http://shop.test"})
    # then it says 405 and which methods it does answer, in the API's error shape
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/json"
    if method != "HEAD":
        error = response.json()["error"]
        assert error["code"] == "method_not_allowed"
        assert allow in error["message"]


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_an_unknown_api_path_stays_a_json_404(client, method: str):
    response = client.request(method, "/api/nothing/here", headers={"Origin": "http://shop.test"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
