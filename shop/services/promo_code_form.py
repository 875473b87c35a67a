"""The admin's promo code form: its text boxes → `promo_codes.create_promo_code` arguments, and
the codes as the admin's list shows them.

Amounts are typed in dollars ("5.00"), percentages as numbers ("15"), the expiry as the
browser's date-and-time box gives it ("2026-12-31T23:59", read as UTC, which the page says).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shop.models import PromoCode, utcnow
from shop.services import ids
from shop.services.errors import InvalidInput
from shop.services.money import format_money, parse_amount

PRODUCT_PREFIX = "product_"  # one checkbox per product: product_12 = "on"
MAX_REDEMPTIONS = 10_000_000


def parse_promo_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `create_promo_code`; `InvalidInput` names the box that is wrong."""

    def text(name: str) -> str:
        return str(values.get(name) or "").strip()

    currency = (text("currency") or "CAD").lower()
    percent, amount = text("percent_off"), text("amount_off")
    if bool(percent) == bool(amount):
        raise InvalidInput(
            "Give either a percentage or an amount off, not both.", field="percent_off"
        )
    parsed: dict[str, Any] = {
        "code": text("code"),
        "percent_off": percent or None,
        "amount_off": _money(amount, currency, "amount_off") if amount else None,
        "currency": currency if amount else None,
        "expires_at": _expiry(text("expires_at")),
        "max_redemptions": _whole(text("max_redemptions"), "max_redemptions"),
        "min_subtotal": _money(text("min_subtotal"), currency, "min_subtotal")
        if text("min_subtotal")
        else None,
        "once_per_customer": text("once_per_customer") in ("on", "true", "1"),
        "product_ids": sorted(
            product_id
            for name, value in values.items()
            if name.startswith(PRODUCT_PREFIX)
            and (product_id := ids.parse_id(name.removeprefix(PRODUCT_PREFIX))) is not None
            and str(value) in ("on", "true", "1")
        ),
    }
    return parsed


def _money(value: str, currency: str, field: str) -> int:
    try:
        amount = parse_amount(value, currency)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from exc
    if amount > ids.MAX_INT:  # what the database keeps
        raise InvalidInput("That amount is too large.", field=field)
    return amount


def _whole(value: str, field: str) -> int | None:
    if not value:
        return None
    count = ids.parse_whole(value, MAX_REDEMPTIONS)  # not "²", which int() refuses
    if count is None or count < 1:
        raise InvalidInput(f"Enter a whole number from 1 to {MAX_REDEMPTIONS:,}.", field=field)
    return count


def _expiry(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            "Enter a date and time, like 2026-12-31 23:59.", field="expires_at"
        ) from exc
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment <= utcnow():
        raise InvalidInput(
            "That moment has passed; choose a later date and time.", field="expires_at"
        )
    return moment


def describe_discount(promo: PromoCode) -> str:
    """ "15% off" / "$5.00 CAD off"."""
    if promo.percent_off is not None:
        return f"{promo.percent_off}% off"
    return f"{format_money(promo.amount_off or 0, promo.currency or 'cad')} off"


def describe_conditions(promo: PromoCode, product_names: Mapping[int, str]) -> str:
    """What limits a code, in words: expiry, minimum, products, once per customer."""
    parts = []
    if promo.expires_at is not None:
        parts.append(f"until {promo.expires_at:%Y-%m-%d %H:%M} UTC")
    if promo.min_subtotal:
        parts.append(f"from {format_money(promo.min_subtotal, promo.currency or 'cad')}")
    if promo.product_ids:
        names = [product_names.get(pid, f"product {pid}") for pid in promo.product_ids]
        parts.append("only " + ", ".join(names))
    if promo.once_per_customer:
        parts.append("once per customer")
    return "; ".join(parts) or "none"


def describe_uses(promo: PromoCode) -> str:
    limit = f"{promo.max_redemptions:,}" if promo.max_redemptions is not None else "no limit"
    return f"{promo.times_redeemed:,} of {limit}"
