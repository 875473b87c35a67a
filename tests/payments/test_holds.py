"""Unpaid orders hold limited stock and promo code uses: the Payment Element confirms straight
at Stripe, so whatever an order needs is set aside when it is placed, never checked later."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import stripe
from sqlmodel import func, select

from shop.models import Order, PromoCode, PromoRedemption
from shop.services import checkout, stripe_api
from shop.settings import get_settings
from tests.payments.conftest import Customer, Shop, wait_until


def _create_code(shop: Shop, body: dict) -> None:
    admin = shop.customer(f"admin-{body['code'].lower()}@example.com", roles=("admin",))
    created = shop.http.post("/api/admin/promo-codes", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text


def _backdate(shop: Shop, order_id: int, minutes: int) -> None:
    with shop.session() as session:
        order = session.get(Order, order_id)
        assert order is not None
        order.created_at = order.created_at - timedelta(minutes=minutes)
        session.add(order)


def _intent(shop: Shop, payment_intent_id: str) -> stripe.PaymentIntent:
    return shop.stripe().v1.payment_intents.retrieve(payment_intent_id)


def _redemptions(shop: Shop, code: str) -> int:
    with shop.session() as session:
        promo = session.exec(select(PromoCode).where(PromoCode.code == code)).one()
        counted = session.exec(
            select(func.count())
            .select_from(PromoRedemption)
            .where(PromoRedemption.promo_code_id == promo.id)
        ).one()
        assert promo.times_redeemed == counted
        return int(counted)


def _paid(shop: Shop, order_id: int) -> bool:
    return shop.order(order_id).status == "paid"


def test_the_last_copy_is_held_for_the_buyer_who_is_paying(shop: Shop):
    # given the last copy of a product in one customer's unpaid order
    product_id = shop.product(price=1000, inventory_count=1)
    first, second = shop.customer("a@example.com"), shop.customer("b@example.com")
    held = shop.start_checkout(first, [(product_id, 1)]).json()

    # when another customer tries to buy it
    refused = shop.start_checkout(second, [(product_id, 1)])

    # then they are told it is in someone's checkout and when to try again; no order is made
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "sold_out"
    assert refused.json()["error"]["message"] == (
        f"The last copy of {shop_product_name(shop, product_id)} is in another customer's "
        "checkout; try again in 30 minutes."
    )
    assert shop.http.get("/api/orders", headers=second.headers).json()["items"] == []

    # when the first customer pays straight at Stripe, as the Payment Element does
    assert shop.pay_at_stripe(held["payment_intent_id"]) == "succeeded"
    wait_until(lambda: _paid(shop, held["order_id"]))

    # then it is sold to them, and the other customer now hears it is sold out
    assert shop.inventory(product_id) == 0
    again = shop.start_checkout(second, [(product_id, 1)])
    assert again.status_code == 409
    assert again.json()["error"]["message"].endswith("is sold out.")


def shop_product_name(shop: Shop, product_id: int) -> str:
    return shop.http.get(f"/api/products/{product_id}").json()["name"]


def test_a_hold_past_its_time_gives_way_and_can_no_longer_be_paid(shop: Shop):
    # given the last copy held by an order left unpaid for longer than CHECKOUT_HOLD_MINUTES
    product_id = shop.product(price=1000, inventory_count=1)
    first, second = shop.customer("a@example.com"), shop.customer("b@example.com")
    stale = shop.start_checkout(first, [(product_id, 1)]).json()
    _backdate(shop, stale["order_id"], get_settings().checkout_hold_minutes + 1)

    # when another customer checks out the same product
    started = shop.start_checkout(second, [(product_id, 1)])

    # then they get it; the stale order is canceled at Stripe first, then in the shop
    assert started.status_code == 201, started.text
    intent = _intent(shop, stale["payment_intent_id"])
    assert (intent.status, intent.cancellation_reason) == ("canceled", "abandoned")
    closed = shop.order(stale["order_id"])
    assert closed.status == "canceled"
    assert closed.payment_error == checkout.EXPIRED.message
    # and its buyer's late attempt to pay is refused by Stripe, charging nothing
    with pytest.raises(stripe.InvalidRequestError):
        shop.pay_at_stripe(stale["payment_intent_id"])
    assert shop.pay_at_stripe(started.json()["payment_intent_id"]) == "succeeded"
    wait_until(lambda: _paid(shop, started.json()["order_id"]))
    assert shop.inventory(product_id) == 0
    assert shop.grant_count(stale["order_id"]) == 0


def test_a_stale_hold_paid_before_its_webhook_arrived_is_fulfilled_not_canceled(shop: Shop):
    # given a stale hold on the last copy whose buyer has just paid, webhook not yet delivered
    product_id = shop.product(price=1000, inventory_count=1)
    first, second = shop.customer("a@example.com"), shop.customer("b@example.com")
    stale = shop.start_checkout(first, [(product_id, 1)]).json()
    _backdate(shop, stale["order_id"], get_settings().checkout_hold_minutes + 1)
    shop.control("webhooks/pause")
    assert shop.pay_at_stripe(stale["payment_intent_id"]) == "succeeded"

    # when another customer checks out the same product
    refused = shop.start_checkout(second, [(product_id, 1)])

    # then Stripe's answer decides: the first order is fulfilled, the second buyer refused
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["message"].endswith("is sold out.")
    assert shop.order(stale["order_id"]).status == "paid"
    assert shop.grant_count(stale["order_id"]) == 1
    assert shop.inventory(product_id) == 0
    # and the late webhook changes nothing
    shop.control("webhooks/resume")
    shop.flush_webhooks()
    assert shop.receipt_rows(stale["order_id"]) == 1
    assert shop.inventory(product_id) == 0


def test_a_second_checkout_with_a_once_per_customer_code_replaces_the_first(shop: Shop):
    # given a once-per-customer code in a customer's unpaid order
    _create_code(shop, {"code": "ONCE10", "percent_off": 10})
    customer = shop.customer()
    product_id = shop.product(price=1000)
    first = shop.start_checkout(customer, [(product_id, 1)], promo_code="ONCE10").json()

    # when the same customer starts another checkout with the code (a reloaded page, a tab)
    second = shop.start_checkout(customer, [(product_id, 1)], promo_code="ONCE10")

    # then the new one is placed and the old one can no longer be paid
    assert second.status_code == 201, second.text
    intent = _intent(shop, first["payment_intent_id"])
    assert (intent.status, intent.cancellation_reason) == ("canceled", "duplicate")
    assert shop.order(first["order_id"]).status == "canceled"
    assert shop.order(first["order_id"]).payment_error == checkout.REPLACED.message
    with pytest.raises(stripe.InvalidRequestError):
        shop.pay_at_stripe(first["payment_intent_id"])

    # when they pay the new one at Stripe
    assert shop.pay_at_stripe(second.json()["payment_intent_id"]) == "succeeded"
    wait_until(lambda: _paid(shop, second.json()["order_id"]))

    # then the code is used exactly once, and a third checkout with it is refused
    assert _redemptions(shop, "ONCE10") == 1
    third = shop.start_checkout(customer, [(product_id, 1)], promo_code="ONCE10")
    assert third.status_code == 422
    assert third.json()["error"]["code"] == "promo_code_used"


def test_the_last_use_of_a_code_is_held_for_the_buyer_who_is_paying(shop: Shop):
    # given a one-use code in one customer's unpaid order
    _create_code(shop, {"code": "LASTONE", "percent_off": 20, "max_redemptions": 1})
    product_id = shop.product(price=1000)
    first, second = shop.customer("a@example.com"), shop.customer("b@example.com")
    held = shop.start_checkout(first, [(product_id, 1)], promo_code="LASTONE").json()

    # when another customer uses it
    refused = shop.start_checkout(second, [(product_id, 1)], promo_code="LASTONE")

    # then they are refused with the reason, and can still buy without it
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "promo_code_exhausted"
    assert refused.json()["error"]["message"] == (
        "The last use of the promo code LASTONE is in another customer's checkout; "
        "try again in 30 minutes."
    )
    assert shop.start_checkout(second, [(product_id, 1)]).status_code == 201

    # when both unpaid orders are paid straight at Stripe
    assert shop.pay_at_stripe(held["payment_intent_id"]) == "succeeded"
    wait_until(lambda: _paid(shop, held["order_id"]))

    # then the code was used once
    assert _redemptions(shop, "LASTONE") == 1


def test_customers_racing_for_the_last_copies_get_exactly_the_stock(shop: Shop):
    # given three copies and eight customers
    product_id = shop.product(price=1000, inventory_count=3)
    customers = [shop.customer(f"racer{n}@example.com") for n in range(8)]
    answers: dict[int, tuple[int, dict]] = {}
    barrier = threading.Barrier(len(customers))

    def race(customer: Customer) -> None:
        barrier.wait()
        response = shop.start_checkout(customer, [(product_id, 1)])
        answers[customer.id] = (response.status_code, response.json())

    # when they all check out at once
    threads = [threading.Thread(target=race, args=(c,)) for c in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then exactly three get an order, the others a clear refusal
    statuses = sorted(code for code, _ in answers.values())
    assert statuses == [201, 201, 201, 409, 409, 409, 409, 409], answers
    # and all three pay straight at Stripe: the stock is exactly used up
    placed = [body for code, body in answers.values() if code == 201]
    for body in placed:
        assert shop.pay_at_stripe(body["payment_intent_id"]) == "succeeded"
    wait_until(lambda: all(_paid(shop, body["order_id"]) for body in placed))
    assert shop.inventory(product_id) == 0


def test_with_stripe_down_a_stale_hold_stays_and_the_checkout_answers_503(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
):
    # given a stale hold on the last copy, and Stripe unreachable
    product_id = shop.product(price=1000, inventory_count=1)
    first, second = shop.customer("a@example.com"), shop.customer("b@example.com")
    stale = shop.start_checkout(first, [(product_id, 1)]).json()
    _backdate(shop, stale["order_id"], get_settings().checkout_hold_minutes + 1)

    def unreachable(**_kwargs: object) -> None:
        raise stripe_api.StripeUnavailable("connection refused")

    monkeypatch.setattr(stripe_api, "cancel_payment_intent", unreachable)

    # when another customer checks out the same product
    refused = shop.start_checkout(second, [(product_id, 1)])

    # then they are asked to try again; the stale order is untouched and still payable
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "payment_service_unavailable"
    assert shop.order(stale["order_id"]).status == "pending"
    assert _intent(shop, stale["payment_intent_id"]).status == "requires_payment_method"
    assert shop.http.get("/api/orders", headers=second.headers).json()["items"] == []


def test_an_order_closed_while_its_payment_intent_was_made_gets_none(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
):
    # given a newer checkout that replaces an order just as its PaymentIntent is being made
    customer = shop.customer()
    product_id = shop.product(price=1000)
    created: list[str] = []
    real_create = stripe_api.create_payment_intent

    def create_then_replaced(**kwargs: object) -> stripe_api.PaymentIntentInfo:
        intent = real_create(**kwargs)  # type: ignore[arg-type]
        created.append(intent.id)
        order_id = int(str(kwargs["metadata"]["order_id"]))  # type: ignore[index]
        assert checkout.release(order_id=order_id, why=checkout.REPLACED)
        return intent

    monkeypatch.setattr(stripe_api, "create_payment_intent", create_then_replaced)

    # when the checkout finishes making it
    answer = shop.start_checkout(customer, [(product_id, 1)])

    # then the buyer is told the order cannot be paid, and the PaymentIntent is canceled
    assert answer.status_code == 409, answer.text
    [payment_intent_id] = created
    assert _intent(shop, payment_intent_id).status == "canceled"
    with shop.session() as session:
        [order] = session.exec(select(Order).where(Order.user_id == customer.id)).all()
    assert (order.status, order.stripe_payment_intent_id) == ("canceled", None)


def test_a_buyers_new_checkout_replaces_their_unpaid_one_only_when_short(shop: Shop):
    # given a customer's unpaid order for one of two copies
    product_id = shop.product(price=1000, inventory_count=2)
    customer = shop.customer()
    first = shop.start_checkout(customer, [(product_id, 1)]).json()

    # when they check out one more, then two at once
    second = shop.start_checkout(customer, [(product_id, 1)]).json()
    both = shop.start_checkout(customer, [(product_id, 2)])

    # then the second order sits beside the first (there was stock for both); the third
    # replaces both, which can no longer be paid and say why
    assert both.status_code == 201, both.text
    for replaced in (first, second):
        assert _intent(shop, replaced["payment_intent_id"]).status == "canceled"
        status = shop.status(customer, replaced["order_id"]).json()
        assert status["status"] == "canceled"
        assert status["payment_error"] == {
            "code": "order_canceled",
            "message": checkout.REPLACED.message,
        }
    assert shop.pay_at_stripe(both.json()["payment_intent_id"]) == "succeeded"
    wait_until(lambda: _paid(shop, both.json()["order_id"]))
    assert shop.inventory(product_id) == 0


def test_a_declined_order_that_gave_way_tells_its_buyer_why_not_the_old_decline(shop: Shop):
    # given a customer whose card was declined, who then left the last copy unpaid too long
    product_id = shop.product(price=1000, inventory_count=1)
    first, second = shop.customer("a@example.com"), shop.customer("b@example.com")
    stale = shop.start_checkout(first, [(product_id, 1)]).json()
    declined = shop.confirm(first, stale["payment_intent_id"], "pm_card_visa_chargeDeclined")
    assert declined.status_code == 402
    _backdate(shop, stale["order_id"], get_settings().checkout_hold_minutes + 1)

    # when another customer buys it (the canceled webhook and the release race to close it)
    assert shop.start_checkout(second, [(product_id, 1)]).status_code == 201
    shop.flush_webhooks()

    # then the first customer is told the checkout expired, not that the card was declined
    status = shop.status(first, stale["order_id"]).json()
    assert status["status"] == "canceled"
    assert status["payment_error"]["message"] == checkout.EXPIRED.message
