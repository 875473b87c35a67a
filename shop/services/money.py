"""Money is an integer of minor units plus a currency code; this turns it into text and back."""

from __future__ import annotations

import re
from decimal import Decimal

CURRENCY_SYMBOLS = {"cad": "$", "usd": "$", "eur": "€", "gbp": "£"}
ZERO_DECIMAL_CURRENCIES = {"jpy", "krw", "vnd", "clp", "pyg", "xof", "xaf", "ugx", "rwf"}
# ASCII: `\d` would also match "٣" or "３", which int() reads as 3, so "٣" would price at $3.
_DOLLARS = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?$", re.ASCII)
# The French-Canadian way: a decimal comma ("12,50"), thousands apart by a space ("1 234,56").
# A comma with one or two digits after it cannot be a thousands comma, so "1,50" is $1.50,
# never $150; "1,500" stays one thousand five hundred.
_DOLLARS_DECIMAL_COMMA = re.compile(
    r"^(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+),(\d{1,2})$|^\d{1,3}(?:[ \u00a0\u202f]\d{3})+$",
    re.ASCII,
)


def format_money(amount: int, currency: str) -> str:
    """`format_money(1999, "cad")` → `"$19.99 CAD"`."""
    code = currency.lower()
    symbol = CURRENCY_SYMBOLS.get(code, "")
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if code in ZERO_DECIMAL_CURRENCIES:
        number = f"{amount:,}"
    else:
        number = f"{amount // 100:,}.{amount % 100:02d}"
    return f"{sign}{symbol}{number} {code.upper()}"


def is_currency(code: str) -> bool:
    """An ISO 4217 currency code, in either case ("cad", "CAD")."""
    import pycountry

    return len(code) == 3 and pycountry.currencies.get(alpha_3=code.upper()) is not None


def parse_amount(text: str, currency: str = "cad", *, noun: str = "amount") -> int:
    """ "19.99" / "$1,234.5" / "20" / "19,99" / "1 234,50" → minor units. Raises ValueError
    with a message for people that names the `noun` ("price", "amount")."""
    cleaned = (text or "").strip().removeprefix("$").strip()
    if not cleaned:
        raise ValueError(f"Enter {'an' if noun[0] in 'aeiou' else 'a'} {noun}.")
    code = (currency or "cad").strip().lower()
    if _DOLLARS.match(cleaned) is not None:
        whole, _, cents = cleaned.replace(",", "").partition(".")
    elif _DOLLARS_DECIMAL_COMMA.match(cleaned) is not None:
        whole, _, cents = re.sub(r"[ \u00a0\u202f]", "", cleaned).partition(",")
    else:
        raise ValueError(f"Enter the {noun} in dollars, like 19.99.")
    if code in ZERO_DECIMAL_CURRENCIES:
        if cents.strip("0"):
            raise ValueError(f"{code.upper()} has no cents: enter a whole amount.")
        return int(whole)
    return int(whole) * 100 + int(cents.ljust(2, "0") or 0)


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point of `currency`: 0 for JPY (amounts are whole yen), else 2."""
    return 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2


def decimal_amount(amount: int, currency: str) -> str:
    """Minor units as a plain decimal number in the currency's major unit, as schema.org and
    Open Graph prices want it: `decimal_amount(1999, "cad")` → `"19.99"`, `(1000, "jpy")` → `"1000"`.
    """
    exponent = minor_unit_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"
