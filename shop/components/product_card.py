"""A product card: one link whose accessible name is the product name."""

from __future__ import annotations

from typing import Any

import reflex as rx

from shop.components.layout import link


def image_placeholder(name: Any) -> rx.Component:
    """Where a product without a picture would show one: its name on the shop's colours
    (decorative: the name is read out by the card or the page heading already)."""
    return rx.el.div(
        rx.el.span(name, class_name="image-placeholder-name"),
        class_name="image-placeholder",
        aria_hidden="true",
    )


def product_card(item: Any) -> rx.Component:
    return rx.el.li(
        link(
            rx.el.div(
                rx.cond(
                    item["image"] != "",
                    rx.el.img(
                        src=item["image"],
                        alt="",
                        width="400",
                        height="300",
                        loading="lazy",
                        class_name="card-image",
                    ),
                    image_placeholder(item["name"]),
                ),
                class_name="card-media",
            ),
            rx.el.div(
                rx.el.p(item["category"], class_name="card-category"),
                rx.el.h3(item["name"], class_name="card-title"),
                rx.el.p(item["summary"], class_name="card-summary"),
                rx.el.p(
                    rx.el.span(item["price"], class_name="price"),
                    rx.el.span(" ", item["per"], class_name="per"),
                    rx.cond(
                        item["sold_out"] != "",
                        rx.el.span(item["sold_out"], class_name="sold-out-badge"),
                    ),
                    class_name="card-price",
                ),
                class_name="card-body",
            ),
            to=item["href"],
            aria_label=item["name"],
            class_name="card",
        ),
        class_name="card-item",
    )


def product_grid(items: Any) -> rx.Component:
    return rx.el.ul(rx.foreach(items, product_card), class_name="product-grid")


def skeleton_grid(count: int = 4) -> rx.Component:
    return rx.el.ul(
        *[
            rx.el.li(rx.el.div(class_name="card skeleton"), class_name="card-item")
            for _ in range(count)
        ],
        class_name="product-grid",
        aria_hidden="true",
    )


def download_terms(limit: int, days: int, *, what: str = "it") -> str:
    """How often and how long a purchase can be downloaded, as fulfilment grants it:
    "download it up to 5 times within 7 days of payment"."""
    times = "once" if limit == 1 else "twice" if limit == 2 else f"up to {limit} times"
    return f"download {what} {times} within {days} day{'' if days == 1 else 's'} of payment"
