"""Audit findings on checkout and payment: a burst of one buyer's checkouts, confirming by
order id or number, the status of a failed attempt before its webhook, no zero-base tax lines,
and what a refund's 503 promises."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from sqlmodel import col, select

from shop.models import Order, Refund
from shop.services import checkout, orders, payments, refunds, stripe_api
from shop.services.errors import Conflict
from tests.concurrency import at_once
from tests.payments.conftest import Customer, Shop, wait_until

BURST = 5


def _create_code(shop: Shop, body: dict[str, Any]) -> None:
    admin = shop.customer(f"admin-{body['code'].lower()}@example.com", roles=("admin",))
    created = shop.http.post("/api/admin/promo-codes", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text


def _orders_of(shop: Shop, customer: Customer) -> list[Order]:
    with shop.session() as session:
        return list(
            session.exec(
                select(Order).where(Order.user_id == customer.id).order_by(col(Order.id))
            ).all()
        )


def _burst(shop: Shop, customer: Customer, **checkout: Any) -> list[httpx.Response]:
    answers: list[httpx.Response] = []

    def start() -> None:
        answers.append(shop.start_checkout(customer, **checkout))

    at_once([start] * BURST)
    return answers


def _assert_the_newest_checkout_is_left_payable(
    shop: Shop, customer: Customer, answers: list[httpx.Response]
) -> None:
    # every answer is a new checkout or the documented 409 about a newer one, never an order
    # the client was not told about
    for answer in answers:
        assert answer.status_code in (201, 409), answer.text
        if answer.status_code == 409:
            error = answer.json()["error"]
            assert error["code"] == "checkout_busy", answer.text
            assert "ORD-" not in error["message"]
    started = {a.json()["order_id"]: a.json() for a in answers if a.status_code == 201}
    assert started, [a.text for a in answers]
    # and the buyer is left with a payable order that a request answered 201 for
    payable = [o for o in _orders_of(shop, customer) if o.status in payments.PAYABLE]
    assert payable, [(o.id, o.status) for o in _orders_of(shop, customer)]
    assert {o.id for o in payable} <= set(started)
    newest = max(payable, key=lambda o: o.created_at)
    assert shop.pay_at_stripe(started[newest.id]["payment_intent_id"]) == "succeeded"
    wait_until(lambda: shop.order(newest.id).status == "paid")  # type: ignore[arg-type]


def test_a_burst_of_one_buyers_checkouts_with_a_once_per_customer_code_leaves_one_payable(
    shop: Shop,
):
    # given a once-per-customer code (the hold makes each checkout replace the buyer's others)
    _create_code(shop, {"code": "ONCEBURST", "percent_off": 10})
    product_id = shop.product(price=1000)
    for n in range(3):
        customer = shop.customer(f"burst{n}@example.com")

        # when the buyer starts five checkouts at once with it (double clicks, tabs)
        answers = _burst(shop, customer, items=[(product_id, 1)], promo_code="ONCEBURST")

        # then each answer is a checkout or checkout_busy, and the newest checkout can be paid
        _assert_the_newest_checkout_is_left_payable(shop, customer, answers)


def test_a_burst_of_one_buyers_checkouts_for_the_last_copy_leaves_one_payable(shop: Shop):
    for n in range(3):
        # given the last copy of a product
        product_id = shop.product(price=1000, inventory_count=1)
        customer = shop.customer(f"lastcopy{n}@example.com")

        # when one buyer starts five checkouts for it at once
        answers = _burst(shop, customer, items=[(product_id, 1)])

        # then the newest checkout can be paid, the others were told checkout_busy
        _assert_the_newest_checkout_is_left_payable(shop, customer, answers)


def test_an_order_replaced_before_its_payment_intent_is_made_answers_checkout_busy(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
):
    # given a buyer's newer checkout that replaces this one before its PaymentIntent is made
    customer = shop.customer()
    product_id = shop.product(price=1000)
    real_create = stripe_api.create_payment_intent

    def replaced_first(**kwargs: Any) -> stripe_api.PaymentIntentInfo:
        order_id = int(kwargs["metadata"]["order_id"])
        assert checkout.release(order_id=order_id, why=checkout.REPLACED)
        return real_create(**kwargs)

    monkeypatch.setattr(stripe_api, "create_payment_intent", replaced_first)

    # when the checkout goes on to make it
    answer = shop.start_checkout(customer, [(product_id, 1)])

    # then the answer is the documented checkout_busy, not about an order the client never saw
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "checkout_busy"
    assert error["message"] == checkout.NEWER_CHECKOUT_MESSAGE
    [order] = _orders_of(shop, customer)
    assert order.number not in error["message"]


def test_a_checkout_gives_way_to_the_same_buyers_checkout_placed_since_it_started(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
):
    # given a buyer's unpaid order holding a once-per-customer code
    _create_code(shop, {"code": "ONCENEWER", "percent_off": 10})
    customer = shop.customer()
    product_id = shop.product(price=1000)
    newer = shop.start_checkout(customer, [(product_id, 1)], promo_code="ONCENEWER").json()
    placed_at = shop.order(newer["order_id"]).created_at
    # and a checkout of theirs that started before that order was placed (a slower tab)
    monkeypatch.setattr(checkout, "utcnow", lambda: placed_at - timedelta(milliseconds=1))

    # when it reaches the placement
    with pytest.raises(Conflict) as refused:
        checkout.start_checkout(
            buyer_id=customer.id,
            items=[orders.LineRequest(product_id, 1)],
            billing=orders.Billing(country="CA", region="ON"),
            promo_code="ONCENEWER",
            sessions=shop.session,
        )

    # then it answers checkout_busy and the newer order stays payable
    assert refused.value.code == "checkout_busy"
    assert shop.order(newer["order_id"]).status == "pending"
    assert [o.id for o in _orders_of(shop, customer)] == [newer["order_id"]]


# --- F4: confirming by order id or number ------------------------------------------------------


@pytest.mark.parametrize("reference", ["order_id", "order_number"])
def test_confirming_by_the_orders_id_or_number_pays_its_own_payment_intent(
    shop: Shop, reference: str
):
    # given a customer's unpaid order
    customer = shop.customer()
    body = shop.start_checkout(customer, [(shop.product(price=1000), 1)]).json()

    # when they confirm it naming the order instead of its PaymentIntent
    answer = shop.confirm(customer, str(body[reference]), "pm_card_visa")

    # then the order's own PaymentIntent is confirmed and the order is paid
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "paid"
    assert answer.json()["payment_intent_id"] == body["payment_intent_id"]
    assert shop.order(body["order_id"]).status == "paid"


def test_confirming_someone_elses_order_by_its_number_is_a_404(shop: Shop):
    owner, other = shop.customer("owner@example.com"), shop.customer("other@example.com")
    body = shop.start_checkout(owner, [(shop.product(price=1000), 1)]).json()

    answer = shop.confirm(other, body["order_number"], "pm_card_visa")

    assert answer.status_code == 404, answer.text
    assert shop.order(body["order_id"]).status == "pending"


def test_confirming_an_order_whose_payment_intent_is_not_made_yet_is_a_409(shop: Shop):
    # given an order placed a moment ago, its PaymentIntent not made yet
    customer = shop.customer()
    product_id = shop.product(price=1000)
    with shop.session() as session:
        order = orders.place_order(
            session=session,
            buyer_id=customer.id,
            items=[orders.LineRequest(product_id, 1)],
            billing=orders.Billing(country="CA", region="ON"),
        )
        order_id = order.id

    # when it is confirmed by its id
    answer = shop.confirm(customer, str(order_id), "pm_card_visa")

    # then a clear 409, no 5xx and no Stripe wording
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "payment_not_started"
    assert "No such" not in answer.json()["error"]["message"]


# --- F5: a failed attempt is `failed` before its webhook arrives -------------------------------


def test_a_failed_3d_secure_reads_failed_before_its_webhook_arrives(shop: Shop):
    # given webhooks held back and an order waiting for authentication
    shop.control("webhooks/pause")
    customer = shop.customer()
    body = shop.start_checkout(customer, [(shop.product(), 1)]).json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_authenticationRequired")

    # when the customer fails the challenge and the page asks for the status
    shop.control(f"payment_intents/{body['payment_intent_id']}/authenticate", {"outcome": "fail"})
    status = shop.status(customer, body["order_id"]).json()

    # then it is failed at once, in the customer's words, as after the webhook
    assert status["status"] == "failed", status
    assert status["payment_error"]["code"] == "payment_intent_authentication_failure"
    assert "PaymentMethod" not in status["payment_error"]["message"]
    assert shop.order(body["order_id"]).status == "failed"
    # and the webhook that arrives later changes nothing, the order stays payable
    shop.control("webhooks/resume")
    shop.flush_webhooks()
    assert shop.status(customer, body["order_id"]).json()["status"] == "failed"
    assert shop.grant_count(body["order_id"]) == 0
    paid = shop.confirm(customer, body["payment_intent_id"], "pm_card_visa")
    assert paid.json()["status"] == "paid", paid.text


def test_a_decline_in_the_browser_reads_failed_before_its_webhook_arrives(shop: Shop):
    # given webhooks held back and a card declined straight at Stripe (the Payment Element)
    shop.control("webhooks/pause")
    customer = shop.customer()
    body = shop.start_checkout(customer, [(shop.product(), 1)]).json()
    with pytest.raises(stripe.CardError):
        shop.pay_at_stripe(body["payment_intent_id"], "pm_card_visa_chargeDeclined")

    # when the page asks for the status
    status = shop.status(customer, body["order_id"]).json()

    # then it is failed, and asking again changes nothing
    assert status["status"] == "failed", status
    assert status["payment_error"]["message"]
    assert shop.status(customer, body["order_id"]).json()["status"] == "failed"
    shop.control("webhooks/resume")


def test_a_pending_order_with_no_failed_attempt_stays_pending(shop: Shop):
    customer = shop.customer()
    body = shop.start_checkout(customer, [(shop.product(), 1)]).json()

    status = shop.status(customer, body["order_id"]).json()

    assert status == {"order_id": body["order_id"], "status": "pending"}


# --- F3: no tax lines on a zero taxable base ----------------------------------------------------


def test_a_cart_of_only_exempt_products_has_no_tax_lines_at_checkout_or_on_the_receipt(
    shop: Shop,
):
    # given a tax-exempt $10.00 product and a Quebec buyer (GST and QST collected)
    customer = shop.customer()
    product_id = shop.product(price=1000, name="Exempt Guide", is_tax_exempt=True)

    # when they check out and pay
    body = shop.start_checkout(customer, [(product_id, 1)], region="QC").json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_visa")

    # then no "GST 5% $0.00" lines: not at checkout, not on the order, not on the receipt
    assert body["amount"]["tax"] == []
    assert body["amount"]["tax_total"] == 0
    assert body["amount"]["total"] == 1000
    order = shop.http.get(f"/api/orders/{body['order_id']}", headers=customer.headers).json()
    assert order["amount"]["tax"] == []
    wait_until(lambda: len(shop.receipts_sent(body["order_id"])) > 0)
    [receipt] = shop.receipts_sent(body["order_id"])
    assert "GST" not in receipt
    assert "QST" not in receipt
    assert "$10.00 CAD" in receipt


# --- F9: what a refund's 503 promises -----------------------------------------------------------


def test_a_refund_503_tells_staff_to_check_the_order_before_asking_again(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
):
    # given a paid order and a connection to Stripe that loses the answer to a refund Stripe made
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = shop.start_checkout(buyer, [(shop.product(price=6000), 1)]).json()
    assert shop.confirm(buyer, body["payment_intent_id"], "pm_card_visa").json()["status"] == (
        "paid"
    )
    shop.flush_webhooks()
    real = stripe_api.create_refund
    calls: list[str] = []

    def answer_lost(**params: Any) -> stripe_api.RefundInfo:
        calls.append(params["idempotency_key"])
        info = real(**params)
        if len(calls) == 1:
            raise stripe_api.StripeUnavailable("the connection was reset")
        return info

    monkeypatch.setattr(stripe_api, "create_refund", answer_lost)
    request = {"order_id": body["order_id"], "amount": 1000, "reason": "down test"}

    # when staff refund $10.00 and Stripe's answer is lost
    lost = shop.http.post("/api/payments/refund", json=request, headers=admin.headers)

    # then the 503 does not promise that asking again is safe: it says to check the order first
    assert lost.status_code == 503, lost.text
    message = lost.json()["error"]["message"]
    assert "never refunds twice" not in message
    assert "check the order's refunds" in message.lower()
    assert message == refunds.UNANSWERED_MESSAGE

    # when the refund Stripe made is recorded (its webhooks arrive)
    shop.flush_webhooks()
    wait_until(lambda: _refunded(shop, body["order_id"]) == [1000])

    # then, as the message said, the same request again is a second refund (allowed on purpose)
    again = shop.http.post("/api/payments/refund", json=request, headers=admin.headers)
    assert again.status_code == 200, again.text
    assert again.json()["refunded_total"] == 2000


def _refunded(shop: Shop, order_id: int) -> list[int]:
    with shop.session() as session:
        rows = session.exec(select(Refund).where(Refund.order_id == order_id)).all()
        return [row.amount for row in rows]
