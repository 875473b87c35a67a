"""OPTIONS on /api through the whole app: an answer of the API's own (never the storefront's
text/plain 405), and CORS preflights from PUBLIC_URL still answered by the CORS middleware."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/orders", "GET, HEAD, OPTIONS"),
        ("/api/downloads", "GET, HEAD, OPTIONS"),
        ("/api/admin/orders", "GET, HEAD, OPTIONS"),
        ("/api/payments/refund", "POST, OPTIONS"),
    ],
)
def test_options_on_an_api_path_says_which_methods_it_answers(client, path: str, allow: str):
    answer = client.options(path)
    assert answer.status_code == 204, answer.text
    assert answer.headers["allow"] == allow
    assert answer.content == b""


def test_options_on_an_unknown_api_path_is_the_json_404(client):
    answer = client.options("/api/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"]["code"] == "not_found"


def test_a_preflight_from_the_public_url_is_still_allowed(client):
    answer = client.options(
        "/api/orders",
        headers={
            "origin": "http://shop.test",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "http://shop.test"
    assert "POST" in answer.headers["access-control-allow-methods"]
