"""The admin's promo code form: boxes → the service's arguments, refusals naming the box."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shop.models import PromoCode
from shop.services.errors import InvalidInput
from shop.services.promo_code_form import (
    describe_conditions,
    describe_discount,
    describe_uses,
    parse_promo_form,
)


def test_a_filled_form_becomes_the_service_arguments():
    # given an amount code with every condition, two products ticked and one left unticked
    values = {
        "code": " spring ",
        "percent_off": "",
        "amount_off": "$5.50",
        "currency": "cad",
        "expires_at": "2026-12-31T23:59",
        "max_redemptions": "100",
        "min_subtotal": "20",
        "product_7": "on",
        "product_3": "on",
        "product_9": "",
    }

    # when it is parsed
    parsed = parse_promo_form(values)

    # then amounts are minor units, the expiry is UTC, and once per customer is off (unticked)
    assert parsed == {
        "code": "spring",
        "percent_off": None,
        "amount_off": 550,
        "currency": "cad",
        "expires_at": datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        "max_redemptions": 100,
        "min_subtotal": 2000,
        "once_per_customer": False,
        "product_ids": [3, 7],
    }


def test_product_boxes_naming_no_possible_product_are_left_out():
    # given ticked boxes for a product, an id beyond 64 bits and digits that are not ASCII
    values = {
        "code": "SOME",
        "percent_off": "10",
        "product_12": "on",
        "product_99999999999999999999": "on",
        "product_²": "on",
    }
    # when the form is parsed, then only the product that can exist is kept
    assert parse_promo_form(values)["product_ids"] == [12]


def test_the_largest_amount_the_database_keeps_is_accepted():
    parsed = parse_promo_form({"code": "BIG", "amount_off": "21,474,836.47"})
    assert parsed["amount_off"] == 2**31 - 1


def test_a_percentage_code_with_the_box_ticked_is_once_per_customer():
    parsed = parse_promo_form({"code": "TEN", "percent_off": "10", "once_per_customer": "on"})
    assert (parsed["percent_off"], parsed["amount_off"], parsed["currency"]) == ("10", None, None)
    assert parsed["once_per_customer"] is True


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"code": "X1", "percent_off": "10", "amount_off": "5"}, "percent_off"),
        ({"code": "X1"}, "percent_off"),
        ({"code": "X1", "amount_off": "five"}, "amount_off"),
        ({"code": "X1", "amount_off": "99999999999"}, "amount_off"),
        ({"code": "X1", "amount_off": "30,000,000.00"}, "amount_off"),  # beyond an INTEGER column
        ({"code": "X1", "percent_off": "10", "min_subtotal": "21474836.48"}, "min_subtotal"),
        ({"code": "X1", "percent_off": "10", "max_redemptions": "0"}, "max_redemptions"),
        ({"code": "X1", "percent_off": "10", "max_redemptions": "-3"}, "max_redemptions"),
        ({"code": "X1", "percent_off": "10", "max_redemptions": "²"}, "max_redemptions"),
        ({"code": "X1", "percent_off": "10", "max_redemptions": "١٢"}, "max_redemptions"),
        ({"code": "X1", "percent_off": "10", "max_redemptions": "9" * 5000}, "max_redemptions"),
        ({"code": "X1", "percent_off": "10", "min_subtotal": "1.234"}, "min_subtotal"),
        ({"code": "X1", "percent_off": "10", "expires_at": "next week"}, "expires_at"),
        ({"code": "X1", "percent_off": "10", "expires_at": "2020-01-01 00:00"}, "expires_at"),
    ],
)
def test_bad_boxes_are_refused_by_name(values: dict[str, str], field: str):
    with pytest.raises(InvalidInput) as refused:
        parse_promo_form(values)
    assert refused.value.field == field


def test_a_code_is_described_for_the_admin_list():
    promo = PromoCode(
        code="SPRING",
        amount_off=500,
        currency="cad",
        expires_at=datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        min_subtotal=2000,
        max_redemptions=10,
        times_redeemed=3,
        product_ids=[4],
        once_per_customer=True,
    )
    assert describe_discount(promo) == "$5.00 CAD off"
    assert describe_conditions(promo, {4: "Field Guide"}) == (
        "until 2026-12-31 23:59 UTC; from $20.00 CAD; only Field Guide; once per customer"
    )
    assert describe_uses(promo) == "3 of 10"
    assert describe_uses(PromoCode(code="OPEN", percent_off="5")) == "0 of no limit"
