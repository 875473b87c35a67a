"""Security headers on every response, CORS for PUBLIC_URL only, websocket origin check."""

from __future__ import annotations

import base64
import hashlib
import logging
import re

import pytest
from starlette.websockets import WebSocketDisconnect

from shop.logs import request_id_var
from shop.settings import get_settings
from shop.web.security import content_security_policy, inline_script_hashes
from tests.factories import make_product
from tests.web.conftest import FAKE_ASSET, FAKE_INLINE_SCRIPT

EVERY_KIND_OF_RESPONSE = [
    ("/", 200),  # prerendered HTML
    (f"/{FAKE_ASSET}", 200),  # static asset
    ("/api/health", 200),  # REST API
    ("/api/nope", 404),  # API error
    ("/no-such-page", 404),  # storefront 404
    ("/products/no-such-product", 404),  # crawlable product page, unknown slug
    ("/ping", 200),  # Reflex's own endpoint
    ("/robots.txt", 200),
]


def _csp(response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split("; ")}


@pytest.mark.parametrize(("path", "status"), EVERY_KIND_OF_RESPONSE)
def test_every_response_carries_the_security_headers(client, path, status):
    response = client.get(path)

    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["x-frame-options"] == "DENY"
    csp = _csp(response)
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "ws://shop.test" in csp["connect-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp["script-src"]
    # Plain http: no HSTS (it would pin a scheme the shop does not serve).
    assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize(("path", "status"), EVERY_KIND_OF_RESPONSE)
def test_every_response_carries_one_request_id_the_proxys_when_it_sent_one(client, path, status):
    # when the same path is asked without and with a proxy's X-Request-ID
    generated = client.get(path)
    forwarded = client.get(path, headers={"X-Request-ID": "proxy-trace-0001"})
    # then each answer carries exactly one id: a fresh one, or the proxy's
    assert generated.status_code == forwarded.status_code == status
    assert len(generated.headers.get_list("x-request-id")) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert forwarded.headers.get_list("x-request-id") == ["proxy-trace-0001"]


def test_product_pages_and_cors_preflights_carry_a_request_id(client, session):
    # given a product
    make_product(session, slug="traced")
    session.commit()
    # when its crawlable page is fetched through a proxy, and a foreign preflight arrives
    page = client.get(
        "/products/traced", headers={"accept": "text/html", "X-Request-ID": "proxy-trace-0002"}
    )
    preflight = client.options(
        "/api/products",
        headers={"origin": "http://evil.test", "access-control-request-method": "GET"},
    )
    # then both carry an id, the page the proxy's
    assert page.status_code == 200
    assert page.headers.get_list("x-request-id") == ["proxy-trace-0002"]
    assert len(preflight.headers.get_list("x-request-id")) == 1


def test_an_api_request_through_the_whole_app_is_logged_once_under_its_id(client):
    # given a log handler noting the request id each access log line is written under
    written: list[tuple[str, str | None]] = []

    class Note(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append((getattr(record, "path", ""), request_id_var.get()))

    logger = logging.getLogger("shop.http")
    note, level = Note(), logger.level
    logger.addHandler(note)
    logger.setLevel(logging.INFO)
    try:
        # when an API request passes both request-id layers (the whole app's and the API's)
        response = client.get("/api/health", headers={"X-Request-ID": "proxy-trace-0003"})
    finally:
        logger.removeHandler(note)
        logger.setLevel(level)
    # then one access log line is written, under the id the answer carries
    assert response.headers.get_list("x-request-id") == ["proxy-trace-0003"]
    assert written == [("/api/health", "proxy-trace-0003")]


def test_product_page_carries_the_security_headers(client, session):
    make_product(session, slug="secure-page")
    session.commit()

    response = client.get("/products/secure-page")

    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_csp_allows_exactly_the_builds_inline_scripts(client):
    digest = base64.b64encode(hashlib.sha256(FAKE_INLINE_SCRIPT.encode()).digest()).decode()

    script_src = _csp(client.get("/"))["script-src"]

    assert f"'sha256-{digest}'" in script_src
    assert script_src[0] == "'self'"


def test_inline_script_hashes_skip_external_and_data_scripts():
    html = (
        b'<script src="/a.js"></script><script type="application/ld+json">{"a": 1}</script>'
        b"<script>run()</script>"
    )
    digest = base64.b64encode(hashlib.sha256(b"run()").digest()).decode()
    assert inline_script_hashes(html) == {f"'sha256-{digest}'"}


def test_hsts_is_sent_when_the_public_url_is_https(client, monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://shop.example")
    get_settings.cache_clear()

    response = client.get("/api/health")

    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "wss://shop.example" in response.headers["content-security-policy"]


def test_payment_sources_are_one_switch_away(shop_env):
    settings = get_settings()
    closed = content_security_policy(settings)
    opened = content_security_policy(settings, payments=True)

    assert "127.0.0.1:12111" not in closed
    assert "frame-src 'none'" in closed
    assert "script-src 'self' http://127.0.0.1:12111" in opened
    assert "frame-src http://127.0.0.1:12111" in opened


def test_hashed_assets_are_compressed_and_cached_for_good(client):
    response = client.get(f"/{FAKE_ASSET}", headers={"accept-encoding": "gzip"})

    assert response.headers["content-encoding"] == "gzip"
    assert "immutable" in response.headers["cache-control"]
    assert response.text.startswith("console.log")


def test_cors_allows_the_public_url_only(client):
    ours = client.options(
        "/api/products",
        headers={"origin": "http://shop.test", "access-control-request-method": "GET"},
    )
    foreign = client.options(
        "/api/products",
        headers={"origin": "http://evil.test", "access-control-request-method": "GET"},
    )
    simple_foreign = client.get("/api/health", headers={"origin": "http://evil.test"})

    assert ours.headers["access-control-allow-origin"] == "http://shop.test"
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    assert "access-control-allow-origin" not in simple_foreign.headers
    # Even the preflight answer carries the security headers.
    assert foreign.headers["x-content-type-options"] == "nosniff"


def test_cors_never_ships_the_wildcard():
    from reflex_base.config import get_config

    assert "*" not in get_config().cors_allowed_origins


EVENT_URL = "/_event/?EIO=4&transport=websocket"


def test_event_websocket_refuses_a_foreign_origin(client):
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(
            EVENT_URL, headers={"origin": "http://evil.test", "upgrade": "websocket"}
        ),
    ):
        pass
    assert refused.value.code == 1008


def test_event_websocket_accepts_the_shop_origin(client):
    headers = {"origin": "http://shop.test", "upgrade": "websocket"}
    with client.websocket_connect(EVENT_URL, headers=headers) as ws:
        opening = ws.receive_text()
    # Engine.IO "open" packet: the Reflex event channel is up.
    assert opening.startswith("0{")
    assert '"sid"' in opening


def test_event_websocket_accepts_a_page_opened_at_the_shops_own_address(client):
    # given a shop whose PUBLIC_URL names it http://shop.test, opened at its IP address instead
    headers = {"origin": "http://127.0.0.1:8600", "host": "127.0.0.1:8600", "upgrade": "websocket"}
    # when that page opens the event channel, then it is up: the page came from this server
    with client.websocket_connect(EVENT_URL, headers=headers) as ws:
        assert ws.receive_text().startswith("0{")


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://evil.test:8600", "evil.test:8600"),  # a name: DNS can point it anywhere
        ("http://127.0.0.1:8600", "127.0.0.1:8601"),  # another port is another origin
        ("https://127.0.0.1:8600", "127.0.0.1:8600"),  # another scheme too
        ("http://192.168.1.20:8600", "127.0.0.1:8600"),
    ],
)
def test_event_websocket_refuses_an_address_that_is_not_the_one_asked(
    client, origin: str, host: str
):
    headers = {"origin": origin, "host": host, "upgrade": "websocket"}
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(EVENT_URL, headers=headers),
    ):
        pass
    assert refused.value.code == 1008


def test_only_checkout_pages_may_load_stripe_js(client):
    # given the sandbox's origin, where its stripe.js stand-in lives
    sandbox = "http://127.0.0.1:12111"
    # when the checkout pages and ordinary pages are fetched
    checkout = _csp(client.get("/checkout"))
    success = _csp(client.get("/checkout/success?order=1"))
    home = _csp(client.get("/"))
    cart = _csp(client.get("/cart"))
    # then only the checkout pages allow its scripts, frames and requests
    for policy in (checkout, success):
        assert sandbox in policy["script-src"]
        assert sandbox in policy["connect-src"]
    for policy in (home, cart):
        assert sandbox not in policy["script-src"]
        assert policy["frame-src"] == ["'none'"]
