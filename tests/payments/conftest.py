"""Checkout tests run for real: the shop's API served by uvicorn on a free port, the Stripe
sandbox on another, the official SDK between them, webhooks delivered (and retried, duplicated,
shuffled) by the sandbox to the shop's endpoint, mail written to the outbox."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
import uvicorn
from sqlmodel import Session, func, select

from shop import db
from shop.models import (
    DownloadGrant,
    Order,
    OrderEmail,
    OrderItem,
    Product,
    ProductFile,
    WebhookEvent,
)
from shop.services import auth
from shop.settings import get_settings
from stripe_sandbox import Sandbox
from tests.factories import make_product

WEBHOOK_SECRET = "whsec_test_payments_suite_secret"


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header computed the way Stripe does."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def wait_until(check: Callable[[], bool], timeout: float = 15.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def bound_socket() -> socket.socket:
    """A loopback socket bound to a free port now and kept: picking a free port and binding it
    later lets another process (the other suite, run side by side) take it in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def serve_in_thread(app: Any, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="shop-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the shop API did not start")
        time.sleep(0.01)
    return server, thread


@dataclass
class Customer:
    id: int
    email: str
    headers: dict[str, str]


@dataclass
class Shop:
    """The running shop, its sandbox and helpers to drive and inspect them."""

    url: str
    sandbox_url: str
    sandbox: Sandbox
    database_url: str
    data_dir: Path
    http: httpx.Client
    _emails: list[str] = field(default_factory=list)

    # -- data ---------------------------------------------------------------------------------
    def session(self) -> Any:
        return db.session_scope(self.database_url)

    def customer(
        self, email: str | None = None, roles: tuple[str, ...] = ("customer",)
    ) -> Customer:
        email = email or f"buyer{len(self._emails) + 1}@example.com"
        self._emails.append(email)
        with self.session() as session:
            user = auth.create_user(
                session=session, email=email, password=None, roles=roles, email_verified=True
            )
            signed_in = auth.start_session(session=session, user=user)
            assert user.id is not None
            return Customer(
                id=user.id,
                email=email,
                headers={"Authorization": f"Bearer {signed_in.tokens.access_token}"},
            )

    def product(self, *, price: int = 1000, files: int = 1, **fields: Any) -> int:
        with self.session() as session:
            product = make_product(session, price_amount=price, **fields)
            for n in range(files):
                body = f"{product.slug}-{n}".encode()
                session.add(
                    ProductFile(
                        product_id=product.id,  # type: ignore[arg-type]
                        storage_key=f"files/{product.slug}-{n}.zip",
                        original_name=f"{product.slug}-{n}.zip",
                        size_bytes=len(body),
                        sha256=hashlib.sha256(body).hexdigest(),
                    )
                )
            assert product.id is not None
            return product.id

    def order(self, order_id: int) -> Order:
        with self.session() as session:
            order = session.get(Order, order_id)
            assert order is not None
            return order

    def inventory(self, product_id: int) -> int | None:
        with self.session() as session:
            product = session.get(Product, product_id)
            assert product is not None
            return product.inventory_count

    def grant_count(self, order_id: int) -> int:
        with self.session() as session:
            return _count(
                session,
                select(func.count())
                .select_from(DownloadGrant)
                .join(OrderItem, DownloadGrant.order_item_id == OrderItem.id)  # type: ignore[arg-type]
                .where(OrderItem.order_id == order_id),
            )

    def receipt_rows(self, order_id: int) -> int:
        with self.session() as session:
            return _count(
                session,
                select(func.count()).select_from(OrderEmail).where(OrderEmail.order_id == order_id),
            )

    def event_rows(self, event_type: str | None = None) -> int:
        statement = select(func.count()).select_from(WebhookEvent)
        if event_type is not None:
            statement = statement.where(WebhookEvent.type == event_type)
        with self.session() as session:
            return _count(session, statement)

    def receipts_sent(self, order_id: int) -> list[str]:
        """Receipt emails in the outbox for this order."""
        number = self.order(order_id).number
        outbox = self.data_dir / "outbox"
        if not outbox.exists():
            return []
        found = []
        for path in sorted(outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if "receipt" in str(message["Subject"]) and f"order {number}" in str(
                message["Subject"]
            ):
                plain = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
                found.append(plain.get_content())
        return found

    # -- API ----------------------------------------------------------------------------------
    def start_checkout(
        self,
        customer: Customer,
        items: list[tuple[int, int]],
        *,
        country: str = "CA",
        region: str | None = "ON",
        promo_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "items": [{"product_id": pid, "quantity": q} for pid, q in items],
            "billing": {"country": country, "region": region},
        }
        if promo_code is not None:
            body["promo_code"] = promo_code
        body.update(extra or {})
        return self.http.post("/api/payments/intent", json=body, headers=customer.headers)

    def confirm(
        self, customer: Customer, payment_intent_id: str, payment_method: str
    ) -> httpx.Response:
        return self.http.post(
            "/api/payments/confirm",
            json={"payment_intent_id": payment_intent_id, "payment_method": payment_method},
            headers=customer.headers,
        )

    def status(self, customer: Customer, reference: str | int) -> httpx.Response:
        return self.http.get(f"/api/payments/status/{reference}", headers=customer.headers)

    # -- sandbox --------------------------------------------------------------------------------
    def stripe(self) -> stripe.StripeClient:
        """The official SDK pointed at the sandbox, as a customer's browser reaches Stripe."""
        return stripe.StripeClient(
            get_settings().effective_stripe_secret_key,
            base_addresses={"api": self.sandbox_url},
            max_network_retries=0,
        )

    def pay_at_stripe(self, payment_intent_id: str, payment_method: str = "pm_card_visa") -> str:
        """Confirm straight at Stripe (what the Payment Element does); the PaymentIntent's
        status after it."""
        intent = self.stripe().v1.payment_intents.confirm(
            payment_intent_id,
            params={"payment_method": payment_method, "return_url": f"{self.url}/checkout/success"},
        )
        return str(intent.status)

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.sandbox_url}/_sandbox/{path}", json=body or {}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def flush_webhooks(self, timeout: float = 20) -> dict[str, Any]:
        return self.control("webhooks/flush", {"timeout": timeout})

    def deliveries(self, event_type: str | None = None) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.sandbox_url}/_sandbox/deliveries", params={"limit": 5000})
        rows = response.json()["data"]
        return [r for r in rows if event_type is None or r["type"] == event_type]

    def stripe_event(self, event_type: str, payment_intent_id: str) -> dict[str, Any]:
        """The sandbox's event of this type about this PaymentIntent (as Stripe would send it)."""
        response = httpx.get(
            f"{self.sandbox_url}/v1/events",
            params={"type": event_type, "limit": 100},
            headers={"Authorization": f"Bearer {get_settings().effective_stripe_secret_key}"},
        )
        assert response.status_code == 200, response.text
        for event in response.json()["data"]:
            if event["data"]["object"]["id"] == payment_intent_id:
                return event
        raise AssertionError(f"no {event_type} event for {payment_intent_id}")

    def post_event(self, payload: str, signature: str) -> httpx.Response:
        return self.http.post(
            "/api/webhooks/stripe",
            content=payload.encode(),
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )


def _count(session: Session, statement: Any) -> int:
    return int(session.exec(statement).one())


@pytest.fixture
def shop(shop_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """The shop API and a fresh Stripe sandbox that delivers its webhooks to it."""
    from shop.api.app import create_api_app

    app_socket = bound_socket()
    app_port = app_socket.getsockname()[1]
    webhook_url = f"http://127.0.0.1:{app_port}/api/webhooks/stripe"
    sandbox = Sandbox(
        str(shop_env.parent / "sandbox.sqlite3"),
        webhook_url=webhook_url,
        webhook_secret=WEBHOOK_SECRET,
        retry_base=0.2,
        max_attempts=10,
    )
    with sandbox.serve() as sandbox_url:
        monkeypatch.setenv("STRIPE_API_BASE", sandbox_url)
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        monkeypatch.setenv("RATE_LIMIT_ENABLED", "false")
        get_settings.cache_clear()
        server, thread = serve_in_thread(create_api_app(), app_socket)
        http = httpx.Client(base_url=f"http://127.0.0.1:{app_port}", timeout=60)
        try:
            yield Shop(
                url=f"http://127.0.0.1:{app_port}",
                sandbox_url=sandbox_url,
                sandbox=sandbox,
                database_url=database_url,
                data_dir=shop_env,
                http=http,
            )
        finally:
            http.close()
            # Stop deliveries before the shop goes away, so nothing lands in the next test.
            httpx.post(f"{sandbox_url}/_sandbox/webhooks/pause", json={}, timeout=10)
            server.should_exit = True
            thread.join(timeout=10)
            app_socket.close()


def payload_of(event: dict[str, Any]) -> str:
    return json.dumps(event)
