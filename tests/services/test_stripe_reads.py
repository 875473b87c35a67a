"""Reads made while a database write is open try once: a slow or failing Stripe must not hold
the shop's write lock for the whole retry schedule."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shop.services import stripe_api
from shop.settings import get_settings


class _FailingStripe(BaseHTTPRequestHandler):
    """A Stripe that answers every request with a retryable 500, and counts them."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        _FailingStripe.requests.append(self.path)
        body = json.dumps({"error": {"type": "api_error", "message": "down"}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Stripe-Should-Retry", "true")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_stripe(shop_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FailingStripe)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{server.server_address[1]}")
    get_settings.cache_clear()
    _FailingStripe.requests = []
    yield _FailingStripe.requests
    server.shutdown()
    get_settings.cache_clear()


def test_a_read_under_a_lock_tries_once_where_other_reads_retry(failing_stripe: list[str]):
    # given a Stripe that fails every request with a retryable error
    # when a subscription is read while a database write is open
    with pytest.raises(stripe_api.StripeUnavailable):
        stripe_api.retrieve_subscription(subscription_id="sub_1", locked=True)
    # then it was asked once
    assert len(failing_stripe) == 1
    # when the same read is made with no write open
    with pytest.raises(stripe_api.StripeUnavailable):
        stripe_api.retrieve_subscription(subscription_id="sub_1")
    # then Stripe's retry schedule applies
    assert len(failing_stripe) == 1 + 1 + stripe_api.NETWORK_RETRIES
