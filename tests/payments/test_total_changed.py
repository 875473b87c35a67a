"""The total a buyer was shown is the total they pay, or nothing is placed: a price change
between the quote and "Pay" answers 409 `total_changed` with the new figures, and leaves no
order and no PaymentIntent behind. Failed payments are explained in customer words."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import func, select

from shop.models import Order, User
from shop.pages.checkout import CheckoutSuccessState
from shop.services.auth import SESSION_COOKIE
from tests.factories import sign_in_as
from tests.payments.conftest import Customer, Shop
from tests.state.harness import page_state, run

SECRET = {"Authorization": "Bearer sk_test_sandbox"}


def _payment_intents(shop: Shop) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{shop.sandbox_url}/v1/payment_intents", params={"limit": 100}, headers=SECRET
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _orders_of(shop: Shop, customer: Customer) -> int:
    with shop.session() as session:
        statement = select(func.count()).select_from(Order).where(Order.user_id == customer.id)
        return int(session.exec(statement).one())


def _set_price(shop: Shop, product_id: int, amount: int) -> None:
    """As the admin does, through the API."""
    admin = shop.customer(roles=("admin",))
    response = shop.http.put(
        f"/api/products/{product_id}",
        json={"price": {"amount": amount, "currency": "cad"}},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text


def test_a_price_changed_since_the_quote_is_refused_with_the_new_total(shop: Shop):
    # given a customer shown a $10.00 product in Ontario: $11.30 with HST
    customer = shop.customer()
    product_id = shop.product(price=1000, name="Harbour Charts")
    quoted = 1130
    # when the admin raises the price to $25.00 and the customer pays the total they saw
    _set_price(shop, product_id, 2500)
    intents_before = len(_payment_intents(shop))
    response = shop.start_checkout(
        customer, [(product_id, 1)], region="ON", extra={"expected_total": quoted}
    )

    # then 409 total_changed, saying the total moved, with the new figures
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "total_changed"
    assert error["message"] == (
        "The total is now $28.25 CAD, not the $11.30 CAD shown; check the new total and pay again."
    )
    assert error["amount"]["subtotal"] == 2500
    assert error["amount"]["total"] == 2825
    assert error["amount"]["currency"] == "cad"
    assert [(t["name"], t["amount"]) for t in error["amount"]["tax"]] == [("HST", 325)]
    # and no order was placed, no PaymentIntent created
    assert _orders_of(shop, customer) == 0
    assert len(_payment_intents(shop)) == intents_before

    # when they pay again with the new total they were shown
    again = shop.start_checkout(
        customer, [(product_id, 1)], region="ON", extra={"expected_total": 2825}
    )

    # then the order is placed at it and can be paid
    assert again.status_code == 201, again.text
    body = again.json()
    assert body["amount"]["total"] == 2825
    assert _orders_of(shop, customer) == 1
    paid = shop.confirm(customer, body["payment_intent_id"], "pm_card_visa")
    assert paid.json()["status"] == "paid", paid.text


def test_a_total_changed_for_no_price_change_gets_a_general_message(shop: Shop):
    # given a $10.00 product whose price never changed, and a client with a wrong total
    customer = shop.customer()
    product_id = shop.product(price=1000)

    # when it sends that total
    response = shop.start_checkout(
        customer, [(product_id, 1)], region="ON", extra={"expected_total": 1000}
    )

    # then the answer gives the real total without pretending to know why
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "total_changed"
    assert error["message"] == (
        "The total is now $11.30 CAD, not the $10.00 CAD shown; check the new total and pay again."
    )
    assert error["amount"]["total"] == 1130
    assert _orders_of(shop, customer) == 0


def test_without_expected_total_the_order_is_placed_as_before(shop: Shop):
    # given a product whose price changed after an earlier look
    customer = shop.customer()
    product_id = shop.product(price=1000)
    _set_price(shop, product_id, 2500)

    # when an API client starts checkout without expected_total
    response = shop.start_checkout(customer, [(product_id, 1)], region="ON")

    # then the order is placed at today's price, as it always was
    assert response.status_code == 201, response.text
    assert response.json()["amount"]["total"] == 2825


def test_expected_total_must_be_a_whole_number_of_minor_units(shop: Shop):
    customer = shop.customer()
    product_id = shop.product(price=1000)
    for wrong in ("1130", 11.3, -1, True):
        response = shop.start_checkout(
            customer, [(product_id, 1)], region="ON", extra={"expected_total": wrong}
        )
        assert response.status_code == 422, (wrong, response.text)
        assert response.json()["error"]["field"] == "expected_total"
    assert _orders_of(shop, customer) == 0


def test_a_failed_3d_secure_is_explained_in_customer_words(shop: Shop):
    # given an order whose 3-D Secure challenge the customer failed
    customer = shop.customer()
    product_id = shop.product()
    body = shop.start_checkout(customer, [(product_id, 1)]).json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_authenticationRequired")
    shop.control(f"payment_intents/{body['payment_intent_id']}/authenticate", {"outcome": "fail"})

    # when the page asks how the payment stands
    status = shop.status(customer, body["order_id"]).json()

    # then it gets the customer's words, not Stripe's developer text
    assert status["payment_error"] == {
        "code": "payment_intent_authentication_failure",
        "message": "We couldn't verify this card with your bank. Try again or use another card.",
    }


def test_a_declined_card_keeps_stripes_cardholder_message(shop: Shop):
    # given an order whose card was declined
    customer = shop.customer()
    product_id = shop.product()
    body = shop.start_checkout(customer, [(product_id, 1)]).json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_visa_chargeDeclined")

    # when the page asks how the payment stands, then Stripe's card_error text is kept,
    # with Stripe's code and the bank's reason as the confirmation gave them
    status = shop.status(customer, body["order_id"]).json()
    assert status["payment_error"] == {
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
    }


def test_the_success_page_explains_a_failed_3d_secure_in_customer_words(shop: Shop):
    # given an order whose 3-D Secure challenge the customer failed, back on the success page
    customer = shop.customer()
    product_id = shop.product()
    body = shop.start_checkout(customer, [(product_id, 1)]).json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_authenticationRequired")
    shop.control(f"payment_intents/{body['payment_intent_id']}/authenticate", {"outcome": "fail"})
    with shop.session() as session:
        user = session.get(User, customer.id)
        assert user is not None
        cookie = f"{SESSION_COOKIE}={sign_in_as(session, user).session_token}"
    url = f"/checkout/success?order={body['order_id']}"
    state = page_state(CheckoutSuccessState, url=url, cookie=cookie)

    # when the page loads (it asks Stripe about the order)
    run(state.load())

    # then it says what happened in words for the customer, not Stripe's developer text
    assert state.outcome == "failed"
    assert state.failure == (
        "We couldn't verify this card with your bank. Try again or use another card."
    )
