"""The refund form's amount: dollars as staff type them, to minor units, or a clear refusal."""

from __future__ import annotations

import pytest

from shop.pages.admin_orders import parse_amount


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("12.50", 1250),
        ("5", 500),
        ("$1,000.01", 100001),
        (" 0.01 ", 1),
        ("", None),
        # a decimal comma is a decimal comma: "1,50" refunds $1.50, never $150
        ("1,50", 150),
        ("12,5", 1250),
        ("1 000,01", 100001),
    ],
)
def test_an_amount_in_dollars_becomes_minor_units(typed: str, cents: int | None):
    assert parse_amount(typed) == cents


@pytest.mark.parametrize(
    "typed", ["0", "-3", "1.234", "abc", "NaN", "Infinity", "1e12", "1,5,0", "0,00", "1,234.5,0"]
)
def test_an_unusable_amount_is_refused_with_a_message(typed: str):
    with pytest.raises(ValueError, match="like 12.50"):
        parse_amount(typed)
