"""Home: hero, featured products, categories."""

from __future__ import annotations

import reflex as rx

from shop.components.layout import link, page
from shop.components.product_card import download_terms, product_grid, skeleton_grid
from shop.settings import get_settings
from shop.state import catalog_data


class HomeState(rx.State):
    featured: list[dict[str, str]] = []
    categories: list[dict[str, str]] = []
    loaded: bool = False

    @rx.event
    async def load(self):
        self.featured = await catalog_data.in_session(catalog_data.featured)
        self.categories = await catalog_data.in_session(catalog_data.categories)
        self.loaded = True


def hero() -> rx.Component:
    return rx.el.section(
        rx.el.div(
            rx.el.p("Made in Canada · Instant download", class_name="eyebrow"),
            rx.el.h1(
                "Guides, templates and sounds for ",
                rx.el.em("everyday makers"),
                class_name="hero-title",
                id="hero-title",  # names the hero section (aria-labelledby)
            ),
            rx.el.p(
                "Practical e-books, ready-to-use templates and royalty-free audio from independent "
                "Canadian creators. Pay once in CAD and download right away.",
                class_name="hero-lead",
            ),
            rx.el.div(
                link("Browse the catalogue", to="/products", class_name="button button-primary"),
                # Not "Templates & Tools": that is the category link further down the page.
                link(
                    "Ready-to-use templates",
                    to="/products?category=templates",
                    class_name="button button-ghost",
                ),
                class_name="hero-actions",
            ),
            class_name="container hero-inner",
        ),
        class_name="hero",
        aria_labelledby="hero-title",
    )


def category_strip() -> rx.Component:
    return rx.el.section(
        rx.el.div(
            rx.el.h2("Shop by category", class_name="section-title"),
            rx.el.ul(
                rx.foreach(
                    HomeState.categories,
                    lambda c: rx.el.li(
                        link(c["name"], to="/products?category=" + c["slug"], class_name="chip")
                    ),
                ),
                class_name="chip-list",
            ),
            class_name="container",
        ),
        class_name="section",
    )


def featured() -> rx.Component:
    return rx.el.section(
        rx.el.div(
            rx.el.div(
                rx.el.h2("Featured", class_name="section-title"),
                # Not "… products": the header's "Products" link must stay the only match.
                link(
                    "See the whole catalogue",
                    rx.el.span(" →", aria_hidden="true"),
                    to="/products",
                    class_name="section-link",
                ),
                class_name="section-head",
            ),
            rx.cond(HomeState.loaded, product_grid(HomeState.featured), skeleton_grid(4)),
            class_name="container",
        ),
        class_name="section",
    )


def promises() -> rx.Component:
    settings = get_settings()
    terms = download_terms(
        settings.default_download_limit, settings.default_download_days, what="each purchase"
    )
    items = [
        ("Instant delivery", "A secure download link arrives the moment your payment clears."),
        ("Canadian pricing", "Prices in CAD; GST/HST, PST or QST added by province at checkout."),
        # What the shop grants by default (a product may set its own; its page says so).
        ("Save your files", f"{terms.capitalize()}, and keep the files on your own devices."),
    ]
    return rx.el.section(
        rx.el.div(
            rx.el.ul(
                *[
                    rx.el.li(
                        rx.el.h3(title), rx.el.p(text, class_name="muted"), class_name="promise"
                    )
                    for title, text in items
                ],
                class_name="promise-list",
            ),
            class_name="container",
        ),
        class_name="section section-alt",
        aria_label="Why shop with us",
    )


def home_page() -> rx.Component:
    return page(hero(), featured(), category_strip(), promises())
