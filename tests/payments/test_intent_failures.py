"""Checkout when the PaymentIntent cannot be made: Stripe unreachable, or Stripe refusing."""

from __future__ import annotations

import socket

import pytest
from sqlmodel import select

from shop.models import Order, Product
from shop.settings import get_settings
from tests.payments.conftest import Shop


def _dead_url() -> str:
    """An address where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _orders_of(shop: Shop, user_id: int) -> list[Order]:
    with shop.session() as session:
        return list(session.exec(select(Order).where(Order.user_id == user_id).order_by(Order.id)))


def test_with_stripe_down_checkout_answers_503_closes_the_order_and_a_retry_pays(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
):
    # given a customer, a product with limited stock, and Stripe unreachable
    customer = shop.customer()
    product_id = shop.product(price=1000, inventory_count=3)
    monkeypatch.setenv("STRIPE_API_BASE", _dead_url())
    get_settings.cache_clear()

    # when they start checkout
    refused = shop.start_checkout(customer, [(product_id, 1)])

    # then the answer is a clear 503 without Stripe's own words
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "payment_service_unavailable"
    assert error["message"] == (
        "The payment service cannot be reached, so nothing was charged. Try again in a moment."
    )
    # and the order it made is closed with the reason, not left pending, holding no stock
    [failed] = _orders_of(shop, customer.id)
    assert (failed.status, failed.stripe_payment_intent_id) == ("canceled", None)
    assert failed.payment_error == error["message"]
    assert shop.inventory(product_id) == 3

    # when Stripe is back and the customer tries again
    monkeypatch.setenv("STRIPE_API_BASE", shop.sandbox_url)
    get_settings.cache_clear()
    retried = shop.start_checkout(customer, [(product_id, 1)])
    assert retried.status_code == 201, retried.text
    paid = shop.confirm(customer, retried.json()["payment_intent_id"], "pm_card_visa")

    # then the new order is paid, and the customer has exactly these two orders
    assert paid.json()["status"] == "paid", paid.text
    assert [(o.id, o.status) for o in _orders_of(shop, customer.id)] == [
        (failed.id, "canceled"),
        (retried.json()["order_id"], "paid"),
    ]
    assert shop.inventory(product_id) == 2
    # and the closed order can no longer be paid or mistaken for an open one
    assert shop.status(customer, failed.id or 0).json()["status"] == "canceled"


def test_when_stripe_refuses_the_payment_intent_checkout_answers_502_in_plain_words(shop: Shop):
    # given a product priced in XXX (an ISO 4217 code, "no currency", that Stripe refuses)
    customer = shop.customer()
    product_id = shop.product(price=1000)
    with shop.session() as session:
        product = session.get(Product, product_id)
        assert product is not None
        product.currency = "xxx"
        session.add(product)

    # when a customer starts checkout for it
    refused = shop.start_checkout(customer, [(product_id, 1)], country="US", region=None)

    # then the answer is a 502 that says nothing was charged, without Stripe's message
    assert refused.status_code == 502, refused.text
    error = refused.json()["error"]
    assert error["code"] == "payment_service_refused"
    assert "nothing was charged" in error["message"]
    assert "currenc" not in error["message"].lower()
    # and the order is closed, not left pending
    [order] = _orders_of(shop, customer.id)
    assert (order.status, order.stripe_payment_intent_id) == ("canceled", None)
