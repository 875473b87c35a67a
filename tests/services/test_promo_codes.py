"""Promo code rules, checked by the service that checkout uses; refusals say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from shop.models import Order
from shop.services import auth, orders, promo_codes
from shop.services.errors import Conflict, InvalidInput
from shop.services.promo_codes import PromoCodeRefused, PromoLine
from tests.factories import make_product

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _apply(
    session: Session,
    code: str,
    lines: list[PromoLine],
    user_id: int | None = 1,  # a signed-in customer who has used no code yet
    now: datetime = NOW,
):
    return promo_codes.apply_promo_code(
        session=session, code=code, user_id=user_id, lines=lines, currency="cad", now=now
    )


def test_percent_and_amount_codes_discount_the_order(session: Session):
    # given a 15 % code and a $5.00 code
    promo_codes.create_promo_code(session=session, code="fifteen", percent_off="15")
    promo_codes.create_promo_code(session=session, code="FIVE", amount_off=500, currency="cad")
    lines = [PromoLine(1, 1999), PromoLine(2, 1000)]

    # when applied (in any letter case)
    fifteen = _apply(session, "Fifteen", lines)
    five = _apply(session, " five ", lines)

    # then the discounts are right, rounded half up, for the whole order
    assert fifteen.discount == 450  # 15 % of 29.99 = 4.4985
    assert fifteen.order_level is True
    assert five.discount == 500


def test_an_expired_code_is_refused_with_its_date(session: Session):
    # given a code that expired yesterday
    promo_codes.create_promo_code(
        session=session, code="OLD", percent_off=10, expires_at=NOW + timedelta(days=1)
    )

    # when used two days later
    with pytest.raises(PromoCodeRefused) as refused:
        _apply(session, "old", [PromoLine(1, 1000)], now=NOW + timedelta(days=2))

    # then the customer is told it expired, and when
    assert refused.value.code == "promo_code_expired"
    assert refused.value.message == "The promo code OLD expired on 2026-11-29."


def test_a_code_used_up_is_refused(session: Session):
    # given a code allowed twice and used twice
    promo = promo_codes.create_promo_code(
        session=session, code="TWICE", percent_off=10, max_redemptions=2
    )
    promo.times_redeemed = 2
    session.add(promo)
    session.flush()

    # when used once more
    with pytest.raises(PromoCodeRefused) as refused:
        _apply(session, "TWICE", [PromoLine(1, 1000)])

    # then
    assert refused.value.code == "promo_code_exhausted"
    assert "used as many times as it allows" in refused.value.message


def test_a_code_with_a_minimum_refuses_smaller_orders(session: Session):
    # given a code for orders of $50.00 or more
    promo_codes.create_promo_code(session=session, code="BIG", percent_off=20, min_subtotal=5000)

    # when used on $49.99 and on $50.00
    with pytest.raises(PromoCodeRefused) as refused:
        _apply(session, "BIG", [PromoLine(1, 4999)])
    applied = _apply(session, "BIG", [PromoLine(1, 5000)])

    # then the smaller order is told the minimum, the other gets 20 %
    assert refused.value.message == "The promo code BIG needs a subtotal of at least $50.00 CAD."
    assert applied.discount == 1000


def test_a_once_per_customer_code_is_refused_the_second_time(session: Session):
    # given a once-per-customer code already redeemed by a paid order of this customer
    user = auth.create_user(session=session, email="once@example.com", password=None)
    other = auth.create_user(session=session, email="other@example.com", password=None)
    promo = promo_codes.create_promo_code(
        session=session, code="WELCOME", percent_off=10, once_per_customer=True
    )
    order = Order(user_id=user.id, total_amount=900, subtotal_amount=1000, discount_amount=100)
    session.add(order)
    session.flush()
    first = promo_codes.record_redemption(
        session=session,
        promo_code_id=promo.id,
        order_id=order.id,
        user_id=user.id,
        discount_amount=100,  # type: ignore[arg-type]
    )

    # when the same customer tries it again, and another customer tries it
    with pytest.raises(PromoCodeRefused) as refused:
        _apply(session, "WELCOME", [PromoLine(1, 1000)], user_id=user.id)
    for_other = _apply(session, "WELCOME", [PromoLine(1, 1000)], user_id=other.id)

    # then the first is refused, the other customer gets it, and it was counted once
    assert first is True
    assert refused.value.message == "You have already used the promo code WELCOME."
    assert for_other.discount == 100
    session.refresh(promo)
    assert promo.times_redeemed == 1


def test_redemptions_are_counted_once_per_order_and_once_per_customer(session: Session):
    # given a once-per-customer code and two paid orders of one customer
    user = auth.create_user(session=session, email="twice@example.com", password=None)
    promo = promo_codes.create_promo_code(
        session=session, code="ONCE", percent_off=10, once_per_customer=True
    )
    first_order, second_order = Order(user_id=user.id), Order(user_id=user.id)
    session.add_all([first_order, second_order])
    session.flush()

    # when the redemption is recorded twice for the first order and once for the second
    def record(order: Order) -> bool:
        return promo_codes.record_redemption(
            session=session,
            promo_code_id=promo.id,
            order_id=order.id,
            user_id=user.id,
            discount_amount=1,  # type: ignore[arg-type]
        )

    results = [record(first_order), record(first_order), record(second_order)]

    # then only the first counts: the unique constraints refuse the rest
    assert results == [True, False, False]
    session.refresh(promo)
    assert promo.times_redeemed == 1


def test_a_code_restricted_to_products_discounts_only_those_lines(session: Session):
    # given a 50 % code for one product
    book = make_product(session, price_amount=2000)
    other = make_product(session, price_amount=1000)
    promo_codes.create_promo_code(
        session=session, code="BOOKHALF", percent_off=50, product_ids=[book.id]
    )  # type: ignore[list-item]

    # when applied to a cart with both, and to a cart without the book
    applied = _apply(session, "BOOKHALF", [PromoLine(other.id, 1000), PromoLine(book.id, 2000)])  # type: ignore[arg-type]
    with pytest.raises(PromoCodeRefused) as refused:
        _apply(session, "BOOKHALF", [PromoLine(other.id, 1000)])  # type: ignore[arg-type]

    # then only the book's line is discounted, and the other cart is told why not
    assert applied.discount == 1000
    assert applied.order_level is False
    assert applied.line_discounts == [0, 1000]
    assert (
        refused.value.message
        == "The promo code BOOKHALF does not apply to the products in your cart."
    )


def test_unknown_codes_and_bad_definitions_are_refused(session: Session):
    # given one code
    promo_codes.create_promo_code(session=session, code="TAKEN", percent_off=5)

    # when / then: an unknown code, a duplicate, a bad percent, both kinds, no currency
    with pytest.raises(PromoCodeRefused, match="The promo code NOPE is not valid."):
        _apply(session, "nope", [PromoLine(1, 1000)])
    with pytest.raises(Conflict):
        promo_codes.create_promo_code(session=session, code="taken", percent_off=5)
    with pytest.raises(InvalidInput):
        promo_codes.create_promo_code(session=session, code="BADPCT", percent_off="100.5")
    with pytest.raises(InvalidInput):
        promo_codes.create_promo_code(
            session=session, code="BOTH", percent_off=5, amount_off=100, currency="cad"
        )
    with pytest.raises(InvalidInput, match="xyz is not a currency code") as no_currency:
        promo_codes.create_promo_code(
            session=session, code="NOWHERE", amount_off=100, currency="xyz"
        )
    assert no_currency.value.field == "currency"


def test_a_promo_code_is_applied_before_tax_on_the_order(session: Session):
    # given a $100.00 product, a 10 % code and an Ontario buyer
    user = auth.create_user(session=session, email="tax@example.com", password=None)
    product = make_product(session, price_amount=10000)
    promo_codes.create_promo_code(session=session, code="TEN", percent_off=10)

    # when the order is placed
    order = orders.place_order(
        session=session,
        buyer_id=user.id,  # type: ignore[arg-type]
        items=[orders.LineRequest(product.id, 1)],  # type: ignore[arg-type]
        billing=orders.Billing(country="CA", region="ON"),
        promo_code="TEN",
        now=NOW,
    )

    # then HST is 13 % of the discounted $90.00
    assert (order.subtotal_amount, order.discount_amount, order.tax_amount) == (10000, 1000, 1170)
    assert order.total_amount == 10170


def test_an_order_placed_before_its_code_expired_is_not_charged_at_the_discount(session: Session):
    # given an order placed with a code that expires an hour later
    user = auth.create_user(session=session, email="late@example.com", password=None)
    product = make_product(session, price_amount=2000)
    promo_codes.create_promo_code(
        session=session, code="HOURLY", percent_off=10, expires_at=NOW + timedelta(hours=1)
    )
    order = orders.place_order(
        session=session,
        buyer_id=user.id,  # type: ignore[arg-type]
        items=[orders.LineRequest(product.id, 1)],  # type: ignore[arg-type]
        billing=orders.Billing(country="CA", region="ON"),
        promo_code="HOURLY",
        now=NOW,
    )

    # when it is about to be charged: within the hour it may be, after it it may not
    orders.check_still_payable(session=session, order=order, now=NOW + timedelta(minutes=59))
    with pytest.raises(PromoCodeRefused) as refused:
        orders.check_still_payable(session=session, order=order, now=NOW + timedelta(hours=2))

    # then the refusal says the code expired
    assert refused.value.code == "promo_code_expired"


@given(
    eligible=st.integers(min_value=0, max_value=10**9),
    more=st.integers(min_value=0, max_value=10**6),
    percent=st.decimals(min_value="0.01", max_value="100", places=2),
)
def test_a_percent_discount_is_within_the_total_and_grows_with_it(
    eligible: int, more: int, percent
):
    # given a percentage code, when it is applied to a total and to a larger one
    text = promo_codes.parse_percent(percent)
    small = promo_codes.discount_for(percent_off=text, amount_off=None, eligible_total=eligible)
    large = promo_codes.discount_for(
        percent_off=text, amount_off=None, eligible_total=eligible + more
    )
    # then it never exceeds the total, never goes negative, and never shrinks as the cart grows
    assert 0 <= small <= eligible
    assert small <= large
    assert abs(small - eligible * percent / 100) <= Decimal("0.5")


@given(
    amount_off=st.integers(min_value=1, max_value=10**7),
    eligible=st.integers(min_value=0, max_value=10**7),
)
def test_a_fixed_discount_is_capped_at_what_it_applies_to(amount_off: int, eligible: int):
    # when a fixed amount is applied, then it is the amount or the total, whichever is less
    assert promo_codes.discount_for(
        percent_off=None, amount_off=amount_off, eligible_total=eligible
    ) == min(amount_off, eligible)
