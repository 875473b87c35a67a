"""After payment: the receipt email's HTML part, the receipt PDF (owner and staff only), the
cart emptied of what was bought; and Stripe's deliveries are never rate limited."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shop.services.tax import demo_registrations
from tests.payments.conftest import Shop, sign, wait_until


def _receipt_message(shop: Shop, order_id: int) -> email.message.EmailMessage:
    number = shop.order(order_id).number
    for path in sorted((shop.data_dir / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if f"order {number}" in str(message["Subject"]):
            return message  # type: ignore[return-value]
    raise AssertionError("no receipt in the outbox")


def _paid_order(shop: Shop, customer, *, region: str = "QC", name: str = "Field Guide") -> int:
    product_id = shop.product(price=1000, name=name)
    body = shop.start_checkout(customer, [(product_id, 1)], region=region).json()
    confirmed = shop.confirm(customer, body["payment_intent_id"], "pm_card_visa")
    assert confirmed.status_code == 200, confirmed.text
    return body["order_id"]


def test_the_receipt_email_has_an_html_part_with_the_same_facts(shop: Shop):
    # given a paid order in Quebec (GST + QST)
    customer = shop.customer()
    order_id = _paid_order(shop, customer)
    # when its receipt has gone out
    wait_until(lambda: len(shop.receipts_sent(order_id)) > 0)
    message = _receipt_message(shop, order_id)
    # then it is text plus HTML, and the HTML names the order, item, taxes, total, downloads
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    registrations = demo_registrations()
    order = shop.order(order_id)
    assert f"Order {order.number}" in html
    assert "Field Guide" in html
    assert f"GST 5% (reg. {registrations.gst_hst_number})" in html
    assert f"QST 9.975% (reg. {registrations.qst_number})" in html
    assert "$11.50 CAD" in html  # 10.00 + 0.50 GST + 0.9975 → 1.00 QST
    assert 'href="http://shop.test/account/downloads"' in html


def test_the_receipt_pdf_is_for_the_owner_and_staff_only(shop: Shop):
    # given a paid order, its owner, another customer and a support agent
    owner = shop.customer()
    order_id = _paid_order(shop, owner, region="ON", name="Trail Map")
    number = shop.order(order_id).number
    stranger = shop.customer()
    support = shop.customer(roles=("support",))
    url = f"/api/orders/{number}/receipt.pdf"
    # when each asks for the receipt PDF
    mine = shop.http.get(url, headers=owner.headers)
    theirs = shop.http.get(url, headers=stranger.headers)
    staff = shop.http.get(url, headers=support.headers)
    anonymous = shop.http.get(url)
    # then the owner and staff get a PDF naming the order, tax number and total; others do not
    assert mine.status_code == 200, mine.text
    assert mine.headers["content-type"] == "application/pdf"
    assert mine.content.startswith(b"%PDF-")
    assert f'filename="receipt-{number}.pdf"' in mine.headers["content-disposition"]
    assert number.encode() in mine.content
    assert demo_registrations().gst_hst_number.encode() in mine.content
    assert b"$11.30 CAD" in mine.content
    assert staff.status_code == 200
    assert theirs.status_code == 404
    assert anonymous.status_code == 401


def test_an_unpaid_order_has_no_receipt(shop: Shop):
    # given an order whose card was declined
    customer = shop.customer()
    product_id = shop.product(price=1000)
    body = shop.start_checkout(customer, [(product_id, 1)]).json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_visa_chargeDeclined")
    # when its receipt PDF is asked for
    response = shop.http.get(
        f"/api/orders/{body['order_id']}/receipt.pdf", headers=customer.headers
    )
    # then there is none (409 with a reason)
    assert response.status_code == 409
    assert "not paid" in response.json()["error"]["message"]


def test_paying_empties_the_cart_of_what_was_bought_only(shop: Shop):
    # given a customer's cart with two products, of which only one is bought
    customer = shop.customer()
    bought, kept = shop.product(price=1000), shop.product(price=700)
    origin = {**customer.headers, "Origin": shop.url}
    for product_id in (bought, kept):
        shop.http.post(
            "/api/cart/items", json={"product_id": product_id}, headers=origin
        ).raise_for_status()
    body = shop.start_checkout(customer, [(bought, 1)]).json()
    # when that order is paid (and its webhook comes too)
    shop.confirm(customer, body["payment_intent_id"], "pm_card_visa")
    shop.flush_webhooks()
    # then the cart keeps only the other product
    cart = shop.http.get("/api/cart", headers=customer.headers).json()
    assert [line["product_id"] for line in cart["items"]] == [kept]


def test_webhook_deliveries_are_not_rate_limited(shop_env: Path, monkeypatch: pytest.MonkeyPatch):
    # given a per-IP limit of 5 requests a minute
    from shop.api.app import create_api_app
    from shop.settings import get_settings

    monkeypatch.setenv("RATE_LIMIT_PER_IP", "5/minute")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_test_payments_suite_secret")
    get_settings.cache_clear()
    with TestClient(create_api_app(), base_url="http://shop.test") as client:
        # when Stripe delivers 12 signed events from one address
        statuses = []
        for n in range(12):
            payload = json.dumps(
                {"id": f"evt_burst_{n}", "type": "charge.updated", "data": {"object": {}}}
            )
            response = client.post(
                "/api/webhooks/stripe",
                content=payload.encode(),
                headers={"Stripe-Signature": sign(payload), "Content-Type": "application/json"},
            )
            statuses.append(response.status_code)
        # then every one is accepted, while other endpoints are limited
        assert statuses == [200] * 12
        others = [client.get("/api/products").status_code for _ in range(8)]
    assert 429 in others
