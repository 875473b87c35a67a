"""/products: the catalogue with category filter, search and numbered pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import reflex as rx

from shop.components.layout import link, page
from shop.components.product_card import product_grid, skeleton_grid
from shop.services import catalog, ids
from shop.state import catalog_data

PER_PAGE = 12  # fills rows of 2, 3 or 4 cards alike


def catalog_href(category: str = "", q: str = "", page_number: int = 1) -> str:
    """A catalogue URL, every parameter percent-encoded ("&", "#", "+" and "%" stay text)."""
    params = {
        k: v
        for k, v in (("category", category), ("q", q), ("page", str(page_number)))
        if v and (k != "page" or page_number > 1)
    }
    return "/products" + (f"?{urlencode(params, quote_via=quote)}" if params else "")


class CatalogState(rx.State):
    items: list[dict[str, str]] = []
    categories: list[dict[str, str]] = []
    category: str = ""
    q: str = ""
    page_number: int = 1
    total: int = 0
    has_next: bool = False
    loaded: bool = False

    @rx.var
    def category_name(self) -> str:
        for c in self.categories:
            if c["slug"] == self.category:
                return c["name"]
        return ""

    @rx.var
    def category_links(self) -> list[dict[str, str]]:
        """The category chips ("All" first), each keeping the current search."""
        chips = [{"slug": "", "name": "All"}, *self.categories]
        return [
            {"slug": c["slug"], "name": c["name"], "href": catalog_href(c["slug"], self.q)}
            for c in chips
        ]

    @rx.var
    def prev_href(self) -> str:
        return catalog_href(self.category, self.q, self.page_number - 1)

    @rx.var
    def next_href(self) -> str:
        return catalog_href(self.category, self.q, self.page_number + 1)

    @rx.var
    def page_count(self) -> int:
        return max(1, -(-self.total // PER_PAGE))

    @rx.var
    def result_label(self) -> str:
        noun = "product" if self.total == 1 else "products"
        found = f"{self.total} {noun}"
        if self.q:
            found += f" matching “{self.q}”"
        return found

    @rx.event
    async def load(self):
        params = self.router.url.query_parameters
        self.category = (params.get("category") or "")[:64]
        self.q = catalog.clean_query(params.get("q"))
        page_number = ids.parse_whole(params.get("page"), ids.MAX_ID) or 1
        self.page_number = min(page_number, catalog_data.MAX_PAGE)
        self.categories = await catalog_data.in_session(catalog_data.categories)
        category, q, page_number = self.category or None, self.q or None, self.page_number
        result = await catalog_data.in_session(
            lambda s: catalog_data.listing(
                s, category=category, q=q, page=page_number, per_page=PER_PAGE
            )
        )
        self.items = result["items"]
        self.total = result["total"]
        self.page_number = result["page"]  # a page past the end shows the last one
        self.has_next = result["has_next"]
        self.loaded = True

    @rx.event
    def search(self, form: dict[str, Any]):
        q = catalog.clean_query(str(form.get("q") or ""))
        return rx.redirect(catalog_href(self.category, q))


def filters() -> rx.Component:
    def chip(c: Any) -> rx.Component:
        active = CatalogState.category == c["slug"]
        return rx.el.li(
            link(
                c["name"],
                to=c["href"],
                class_name=rx.cond(active, "chip chip-active", "chip"),
                aria_current=rx.cond(active, "page", "false"),
            )
        )

    return rx.el.div(
        rx.el.form(
            rx.el.label("Search products", html_for="catalog-search", class_name="visually-hidden"),
            rx.el.input(
                id="catalog-search",
                name="q",
                type="search",
                placeholder="Search guides, templates, audio…",
                default_value=CatalogState.q,
                key=CatalogState.q,
                class_name="search-input",
                max_length=200,
            ),
            rx.el.button("Search", type="submit", class_name="button button-primary"),
            on_submit=CatalogState.search,
            role="search",
            class_name="search-form",
        ),
        rx.el.nav(
            rx.el.ul(rx.foreach(CatalogState.category_links, chip), class_name="chip-list"),
            aria_label="Categories",
        ),
        class_name="filters",
    )


def pagination() -> rx.Component:
    return rx.cond(
        CatalogState.page_count > 1,
        rx.el.nav(
            rx.cond(
                CatalogState.page_number > 1,
                link("← Previous", to=CatalogState.prev_href, class_name="button button-ghost"),
                rx.el.span(),
            ),
            rx.el.span(
                "Page ",
                CatalogState.page_number,
                " of ",
                CatalogState.page_count,
                class_name="muted",
            ),
            rx.cond(
                CatalogState.has_next,
                link("Next →", to=CatalogState.next_href, class_name="button button-ghost"),
                rx.el.span(),
            ),
            class_name="pagination",
            aria_label="Pages",
        ),
    )


def results() -> rx.Component:
    return rx.cond(
        CatalogState.loaded,
        rx.cond(
            CatalogState.total > 0,
            rx.fragment(product_grid(CatalogState.items), pagination()),
            rx.el.div(
                rx.el.h2("Nothing found"),
                rx.el.p(
                    "Try another search word or browse the whole catalogue.", class_name="muted"
                ),
                link("Browse the catalogue", to="/products", class_name="button button-primary"),
                class_name="empty-state",
            ),
        ),
        skeleton_grid(6),
    )


def catalog_page() -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                rx.el.h1(
                    rx.cond(
                        CatalogState.category_name != "", CatalogState.category_name, "All products"
                    ),
                    class_name="page-title",
                ),
                rx.el.p(
                    rx.cond(
                        CatalogState.loaded, CatalogState.result_label, "Loading the catalogue…"
                    ),
                    class_name="muted",
                    aria_live="polite",
                ),
                filters(),
                results(),
                class_name="container",
            ),
            class_name="section",
        )
    )
