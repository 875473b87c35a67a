"""A promo code that pays the whole order makes a free order: placed, paid and delivered at
once, with no PaymentIntent (Stripe charges nothing below 0.50), exactly once."""

from __future__ import annotations

import httpx
from sqlmodel import func, select

from shop.models import PromoRedemption
from tests.concurrency import at_once
from tests.payments.conftest import Shop


def _create_code(shop: Shop, body: dict) -> dict:
    admin = shop.customer(f"marketing{body['code']}@example.com", roles=("admin",))
    created = shop.http.post("/api/admin/promo-codes", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    return created.json()


def _payment_intents_at_stripe(shop: Shop) -> int:
    response = httpx.get(
        f"{shop.sandbox_url}/v1/payment_intents",
        params={"limit": 100},
        headers={"Authorization": "Bearer sk_test_sandbox"},
    )
    assert response.status_code == 200, response.text
    return len(response.json()["data"])


def _redemptions(shop: Shop, promo_code_id: int) -> int:
    with shop.session() as session:
        return session.exec(
            select(func.count())
            .select_from(PromoRedemption)
            .where(PromoRedemption.promo_code_id == promo_code_id)
        ).one()


def test_a_code_that_pays_everything_delivers_the_order_without_stripe(shop: Shop):
    # given a 100 % code, a customer and a product with a file and counted stock
    code = _create_code(shop, {"code": "REVIEWER", "percent_off": 100})
    customer = shop.customer()
    product_id = shop.product(price=1500, inventory_count=5)
    intents_before = _payment_intents_at_stripe(shop)

    # when the customer checks out with the code
    response = shop.start_checkout(customer, [(product_id, 1)], promo_code="REVIEWER")

    # then the order is paid at once, with nothing to confirm and no tax on a zero total
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["payment_intent_id"], body["client_secret"]) == (
        "paid",
        None,
        None,
    )
    assert body["amount"]["subtotal"] == 1500
    assert body["amount"]["discount"] == 1500
    assert body["amount"]["tax"] == []
    assert body["amount"]["total"] == 0
    # and it is delivered once: a grant, a receipt, the stock taken, the code redeemed
    assert shop.status(customer, body["order_id"]).json()["status"] == "paid"
    assert shop.grant_count(body["order_id"]) == 1
    assert shop.receipt_rows(body["order_id"]) == 1
    assert shop.inventory(product_id) == 4
    assert _redemptions(shop, code["id"]) == 1
    downloads = shop.http.get("/api/downloads", headers=customer.headers).json()
    assert [d["product_id"] for d in downloads] == [product_id]
    # and Stripe was not asked for anything
    assert _payment_intents_at_stripe(shop) == intents_before


def test_a_fixed_amount_over_the_subtotal_makes_a_free_order_and_is_used_once(shop: Shop):
    # given a $50.00 code (once per customer, as codes are by default) and a $10.00 product
    _create_code(shop, {"code": "FIFTYOFF", "amount_off": 5000, "currency": "cad"})
    customer = shop.customer()
    product_id = shop.product(price=1000)

    # when the customer uses it, then tries it again
    first = shop.start_checkout(customer, [(product_id, 1)], promo_code="FIFTYOFF")
    again = shop.start_checkout(customer, [(product_id, 1)], promo_code="FIFTYOFF")

    # then the discount stops at the subtotal and the order is free; the second use is refused
    assert first.status_code == 201, first.text
    assert (first.json()["amount"]["discount"], first.json()["amount"]["total"]) == (1000, 0)
    assert first.json()["status"] == "paid"
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "promo_code_used"


def test_a_free_order_has_nothing_to_confirm_or_refund(shop: Shop):
    # given a free order
    _create_code(shop, {"code": "GIFT", "percent_off": 100})
    customer = shop.customer()
    admin = shop.customer("owner@example.com", roles=("admin",))
    body = shop.start_checkout(customer, [(shop.product(), 1)], promo_code="GIFT").json()
    intents_before = _payment_intents_at_stripe(shop)

    # when someone confirms it with a card, or the owner refunds it
    confirmed = shop.confirm(customer, str(body["order_id"]), "pm_card_visa")
    refunded = shop.http.post(
        "/api/payments/refund", json={"order_id": body["order_id"]}, headers=admin.headers
    )

    # then the confirmation only says it is paid, charging nothing; the refund is refused
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["payment_intent_id"]) == ("paid", None)
    assert _payment_intents_at_stripe(shop) == intents_before
    assert refunded.status_code == 409, refunded.text
    assert refunded.json()["error"]["message"] == (
        f"Order {body['order_number']} was free; there is nothing to refund."
    )
    assert shop.order(body["order_id"]).status == "paid"


def test_a_code_with_one_use_left_makes_one_free_order_for_two_buyers_at_once(shop: Shop):
    # given a 100 % code that may be used once in all, and two customers checking out together
    code = _create_code(shop, {"code": "ONLYONE", "percent_off": 100, "max_redemptions": 1})
    buyers = [shop.customer(), shop.customer()]
    product_id = shop.product(price=1000)
    answers: list[httpx.Response] = []

    def checkout_as(n: int):
        return lambda: answers.append(
            shop.start_checkout(buyers[n], [(product_id, 1)], promo_code="ONLYONE")
        )

    # when both check out at the same instant
    at_once([checkout_as(0), checkout_as(1)])

    # then one free order is made and delivered; the other is refused
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 201, [a.text for a in answers]
    assert statuses[1] in (409, 422), [a.text for a in answers]
    assert _redemptions(shop, code["id"]) == 1
