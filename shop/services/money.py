"""Money is an integer of minor units plus a currency code; this turns it into text."""

from __future__ import annotations

CURRENCY_SYMBOLS = {"cad": "$", "usd": "$", "eur": "€", "gbp": "£"}
ZERO_DECIMAL_CURRENCIES = {"jpy", "krw", "vnd", "clp", "pyg", "xof", "xaf", "ugx", "rwf"}


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
