"""The 404 page."""

from __future__ import annotations

import reflex as rx

from shop.components.layout import link, page


def not_found_page() -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                rx.el.div(
                    rx.el.p("404", class_name="eyebrow"),
                    rx.el.h1("Page not found", class_name="page-title"),
                    rx.el.p(
                        "The page you were looking for has moved or never existed.",
                        class_name="muted",
                    ),
                    rx.el.div(
                        # Named apart from the header's "Home" and "Products".
                        link("Go to the front page", to="/", class_name="button button-primary"),
                        link(
                            "Browse the catalogue", to="/products", class_name="button button-ghost"
                        ),
                        class_name="hero-actions",
                    ),
                    class_name="empty-state",
                ),
                class_name="container",
            ),
            class_name="section",
        )
    )
