import pytest

from shop.services import money
from shop.services.money import format_money, parse_amount


def test_format_money():
    assert format_money(1999, "cad") == "$19.99 CAD"
    assert format_money(5, "cad") == "$0.05 CAD"
    assert format_money(123456789, "usd") == "$1,234,567.89 USD"
    assert format_money(-250, "cad") == "-$2.50 CAD"
    assert format_money(500, "jpy") == "500 JPY"


@pytest.mark.parametrize("text", ["٣", "١٩.٩٩", "３", "19.٩٩", "1,٢٣٤"])
def test_amounts_in_other_scripts_digits_are_refused(text: str):
    # when an amount is typed with digits int() would read but nobody means as dollars here
    # then it is refused like any other amount that is not dollars
    with pytest.raises(ValueError, match="in dollars"):
        parse_amount(text, "cad")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(1999, "cad", "19.99"), (5, "CAD", "0.05"), (1000, "jpy", "1000"), (1000, "JPY", "1000")],
)
def test_decimal_amount_follows_the_currencys_minor_unit(amount: int, currency: str, text: str):
    assert money.decimal_amount(amount, currency) == text
