from shop.services.money import format_money


def test_format_money():
    assert format_money(1999, "cad") == "$19.99 CAD"
    assert format_money(5, "cad") == "$0.05 CAD"
    assert format_money(123456789, "usd") == "$1,234,567.89 USD"
    assert format_money(-250, "cad") == "-$2.50 CAD"
    assert format_money(500, "jpy") == "500 JPY"
