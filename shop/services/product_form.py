"""The admin product form: text typed by a person → the fields `products_admin` takes, and back.

The form speaks dollars and empty boxes ("" inventory = unlimited); the service speaks minor
units and None. Every problem found here is reported per form field at once (so a person sees
all of them), in the form's own field names; `form_field` maps a service error's field to the
form field it belongs next to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shop.models import Category, Product
from shop.services.money import ZERO_DECIMAL_CURRENCIES, format_money, parse_amount
from shop.services.products_admin import PRICE_MAX, PRICE_MIN

# The form's field names, in the order the form shows them, with their visible labels.
LABELS: dict[str, str] = {
    "name": "Name",
    "slug": "Slug",
    "description": "Description",
    "price": "Price",
    "currency": "Currency",
    "kind": "Kind",
    "interval": "Interval",
    "category": "Category",
    "seo_title": "SEO title",
    "seo_description": "SEO description",
    "inventory": "Inventory count",
    "download_limit": "Download limit",
    # How long after the purchase its download links keep working (the grant's expiry), in
    # the merchant's words; each link handed out is itself valid for minutes only.
    "download_days": "Link lifetime (days)",
    "is_active": "Active",
    "is_tax_exempt": "Tax-exempt",
    "is_featured": "Featured",
}

# Service field names (as in InvalidInput.field) → form field names.
_SERVICE_TO_FORM = {
    "price.amount": "price",
    "price_amount": "price",
    "price.currency": "currency",
    "inventory_count": "inventory",
}
_SERVICE_NAMES = {"inventory": "inventory_count", "price": "price.amount"}

# ASCII: int() reads other scripts' digits ("٣" is 3), which nobody types on purpose here.
_WHOLE = re.compile(r"^\d{1,10}$", re.ASCII)


@dataclass
class ParsedForm:
    """What the service gets, or the problems to show next to the fields."""

    fields: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def form_field(service_field: str | None) -> str:
    """Where a service error belongs on the form ("form" when it is about no one field)."""
    if not service_field:
        return "form"
    name = _SERVICE_TO_FORM.get(service_field, service_field)
    return name if name in LABELS else "form"


def humanize(message: str, service_field: str | None) -> str:
    """A service message that opens with its field's code name, opened with the label instead."""
    name = form_field(service_field)
    label = LABELS.get(name)
    for code in filter(None, (service_field, _SERVICE_NAMES.get(name), name)):
        if label and message.startswith(code + " "):
            return label + message[len(code) :]
    return message


def parse_price(text: str, currency: str = "cad") -> int:
    """ "19.99" / "$1,234.5" / "20" → minor units. Raises ValueError with a message for people."""
    code = (currency or "cad").strip().lower()
    amount = parse_amount(text, code, noun="price")
    if amount < PRICE_MIN:
        raise ValueError(f"The price must be at least {format_money(PRICE_MIN, code)}.")
    if amount > PRICE_MAX:
        raise ValueError(f"The price must be at most {format_money(PRICE_MAX, code)}.")
    return amount


def format_price_input(amount: int, currency: str) -> str:
    """Minor units → what the price box shows ("19.99"; whole units for JPY and the like)."""
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return str(amount)
    return f"{amount // 100}.{amount % 100:02d}"


def _optional_whole(text: str, *, empty_means: str) -> int | None:
    cleaned = (text or "").strip().replace(",", "")
    if not cleaned:
        return None
    if not _WHOLE.match(cleaned):
        raise ValueError(f"Enter a whole number, or leave it empty for {empty_means}.")
    return int(cleaned)


def parse_form(values: Mapping[str, Any]) -> ParsedForm:
    """The submitted form (strings; a checked checkbox is present, an unchecked one absent)."""
    parsed = ParsedForm()

    def text(name: str) -> str:
        value = values.get(name)
        return value if isinstance(value, str) else ""

    for name in ("name", "slug", "description", "seo_title", "seo_description"):
        parsed.fields[name] = text(name)
    currency = text("currency").strip().lower() or "cad"
    parsed.fields["currency"] = currency
    try:
        parsed.fields["price_amount"] = parse_price(text("price"), currency)
    except ValueError as exc:
        parsed.errors["price"] = str(exc)
    kind = text("kind") or "one_time"
    parsed.fields["kind"] = kind
    interval = text("interval").strip()
    # A one-time product has no interval; the box may still hold the last choice.
    parsed.fields["interval"] = (interval or None) if kind == "subscription" else None
    if kind == "subscription" and not interval:
        parsed.errors["interval"] = "Choose how often a subscription renews: month or year."
    parsed.fields["category"] = text("category").strip() or None
    for form_name, service_name, empty_means in (
        ("inventory", "inventory_count", "unlimited"),
        ("download_limit", "download_limit", "the shop default"),
        ("download_days", "download_days", "the shop default"),
    ):
        try:
            parsed.fields[service_name] = _optional_whole(text(form_name), empty_means=empty_means)
        except ValueError as exc:
            parsed.errors[form_name] = str(exc)
    for flag in ("is_active", "is_tax_exempt", "is_featured"):
        parsed.fields[flag] = bool(values.get(flag))
    return parsed


def form_values(product: Product | None, category: Category | None = None) -> dict[str, str]:
    """What the form boxes show for `product` (a new product's defaults when None)."""
    if product is None:
        return {
            "name": "",
            "slug": "",
            "description": "",
            "price": "",
            "currency": "cad",
            "kind": "one_time",
            "interval": "",
            "category": "",
            "seo_title": "",
            "seo_description": "",
            "inventory": "",
            "download_limit": "",
            "download_days": "",
            "is_active": "true",
            "is_tax_exempt": "",
            "is_featured": "",
        }
    return {
        "name": product.name,
        "slug": product.slug,
        "description": product.description,
        "price": format_price_input(product.price_amount, product.currency),
        "currency": product.currency,
        "kind": product.kind,
        "interval": product.interval or "",
        "category": category.slug if category else "",
        "seo_title": product.seo_title or "",
        "seo_description": product.seo_description or "",
        "inventory": "" if product.inventory_count is None else str(product.inventory_count),
        "download_limit": "" if product.download_limit is None else str(product.download_limit),
        "download_days": "" if product.download_days is None else str(product.download_days),
        "is_active": "true" if product.is_active else "",
        "is_tax_exempt": "true" if product.is_tax_exempt else "",
        "is_featured": "true" if product.is_featured else "",
    }
