"""The success page explains an unpaid order in words for the customer: Stripe's developer
text kept on the order for the staff is never shown to the buyer."""

from __future__ import annotations

from sqlmodel import Session

from shop.pages.checkout import CheckoutSuccessState
from shop.services import payments
from shop.services.auth import SESSION_COOKIE
from tests.factories import make_order, make_product, make_user, sign_in_as
from tests.state.harness import page_state, run

STRIPE_DEVELOPER_TEXT = (
    "The provided PaymentMethod has failed authentication. You can provide "
    "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def test_a_failed_order_known_only_by_stripes_text_gets_the_general_words(session: Session):
    # given a buyer whose order failed with Stripe's developer text stored on it
    buyer = make_user(session, roles=("customer",))
    product = make_product(session, price_amount=1000)
    order = make_order(session, paid_at=None, status="failed", items=[(product, 1, 1000)])
    order.user_id, order.payment_error = buyer.id, STRIPE_DEVELOPER_TEXT
    session.add(order)
    cookie = f"{SESSION_COOKIE}={sign_in_as(session, buyer).session_token}"
    session.commit()
    state = page_state(
        CheckoutSuccessState, url=f"/checkout/success?order={order.id}", cookie=cookie
    )

    # when the success page loads
    run(state.load())

    # then it says the payment did not go through, in the shop's words
    assert state.outcome == "failed"
    assert state.failure == "The payment did not go through. Try again or use another card."


def test_an_order_the_shop_closed_keeps_the_shops_own_reason(session: Session):
    # given an order the shop closed because Stripe could not be reached
    buyer = make_user(session, roles=("customer",))
    product = make_product(session, price_amount=1000)
    order = make_order(session, paid_at=None, status="canceled", items=[(product, 1, 1000)])
    order.user_id, order.payment_error = buyer.id, payments.UNREACHABLE_MESSAGE
    session.add(order)
    cookie = f"{SESSION_COOKIE}={sign_in_as(session, buyer).session_token}"
    session.commit()
    state = page_state(
        CheckoutSuccessState, url=f"/checkout/success?order={order.id}", cookie=cookie
    )

    # when the success page loads, then it says the order was canceled, with that reason
    run(state.load())
    assert (state.outcome, state.failure) == ("canceled", payments.UNREACHABLE_MESSAGE)


def test_customer_words_for_stripes_errors():
    words = payments.customer_error_message
    assert words(
        code="payment_intent_authentication_failure",
        error_type="invalid_request_error",
        message=STRIPE_DEVELOPER_TEXT,
    ) == ("We couldn't verify this card with your bank. Try again or use another card.")
    # Stripe's card_error messages are written for cardholders: kept as they are
    assert (
        words(code="generic_decline", error_type="card_error", message="Your card was declined.")
        == "Your card was declined."
    )
    assert words(code="expired_card", error_type=None, message=None) == "Your card has expired."
    assert words(code="incorrect_cvc") == "Your card's security code is incorrect."
    assert words(code="processing_error") == (
        "An error occurred while processing your card. Try again in a little bit."
    )
    assert words(code="something_new", error_type="api_error", message="Internal detail") == (
        "The payment did not go through. Try again or use another card."
    )
