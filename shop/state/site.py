"""Small shared state: what every page's layout shows."""

from __future__ import annotations

import reflex as rx

from shop.services.catalog import ProductView
from shop.services.markdown import plain_text
from shop.settings import get_settings

_settings = get_settings()


class SiteState(rx.State):
    """Shop name and sandbox flag, read from the settings when the server starts."""

    shop_name: str = _settings.shop_name
    sandbox: bool = _settings.sandbox_mode


def product_card_data(product: ProductView) -> dict[str, str]:
    """The plain fields a product card renders (state vars must be serialisable)."""
    summary = plain_text(product.description)
    if len(summary) > 140:
        summary = summary[:137].rsplit(" ", 1)[0] + "…"
    return {
        "slug": product.slug,
        "name": product.name,
        "href": f"/products/{product.slug}",
        "price": product.price_display,
        "per": f"per {product.interval}"
        if product.kind == "subscription" and product.interval
        else "",
        "category": product.category_name or "",
        "category_slug": product.category_slug or "",
        "image": product.image_url or "",
        "summary": summary,
        "sold_out": "Sold out" if product.sold_out else "",
    }
