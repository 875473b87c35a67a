"""/products/[slug]: one product. Crawlers get the same facts from shop/web/product_pages.py.

Once the app runs, it writes the page's head tags (title, description, canonical link,
Open Graph, JSON-LD) from the same `product_head` as the server, whose copies
assets/product-head.js takes out: one set, for the product shown, also after in-app
navigation; React removes them when the visitor leaves the product pages.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from shop.components.forms import native_form
from shop.components.layout import link, page
from shop.components.product_card import download_terms as describe_terms
from shop.components.product_card import image_placeholder
from shop.services import catalog, products_admin
from shop.settings import get_settings
from shop.state import catalog_data
from shop.web.product_pages import DEFAULT_SOCIAL_IMAGE, absolute_url, product_head

SHOP_NAME = get_settings().shop_name


class ProductState(rx.State):
    product: dict[str, str] = {}
    description_html: str = ""  # sanitised by shop/services/markdown.py
    loaded: bool = False
    found: bool = False
    added: bool = False  # back from the "Add to cart" form
    cart_error: str = ""
    head: dict[str, str] = {}  # shop.web.product_pages.ProductHead's fields

    @rx.var
    def page_title(self) -> str:
        """The SEO title when the merchant set one, else the name: what the server renders."""
        if self.found:
            return self.head.get("title", "")
        return f"{'Product not found' if self.loaded else 'Product'} | {SHOP_NAME}"

    @rx.var
    def meta_description(self) -> str:
        return self.head.get("description", "")

    @rx.var
    def social_image(self) -> str:
        """og:image, an absolute URL as link previews need."""
        if self.found:
            return self.head.get("image", "")
        return absolute_url(get_settings(), DEFAULT_SOCIAL_IMAGE)

    @rx.var
    def sold_out(self) -> bool:
        return bool(self.product.get("sold_out"))

    @rx.var
    def is_subscription(self) -> bool:
        return self.product.get("kind") == "subscription"

    @rx.event
    async def load(self):
        slug = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        self.added = self.router.url.query_parameters.get("added") == "1"
        self.cart_error = self.router.url.query_parameters.get("cart_error", "")
        self.loaded = False
        found = (
            await catalog_data.in_session(lambda s: _product_with_terms(s, slug)) if slug else None
        )
        self.found = found is not None
        self.product, self.description_html, self.head = found or ({}, "", {})
        self.loaded = True


def download_terms(*, session: Any, product_id: int) -> str:
    """What a buyer of the product is granted, as fulfilment grants it: the product's own
    download limit and period, else the shop's defaults."""
    settings = get_settings()
    product = products_admin.get_product(session=session, product_id=product_id)
    limit = product.download_limit or settings.default_download_limit
    days = product.download_days or settings.default_download_days
    return describe_terms(limit, days)


def _product_with_terms(
    session: Any, slug: str
) -> tuple[dict[str, str], str, dict[str, str]] | None:
    view = catalog.get_product(session=session, id_or_slug=slug)
    found = catalog_data.product(session, slug) if view is not None else None
    if view is None or found is None:
        return None
    data, description = found
    data["download_terms"] = download_terms(session=session, product_id=int(data["id"]))
    return data, description, dataclasses.asdict(product_head(view, get_settings()))


def head_tags() -> rx.Component:
    """The product's head tags besides the title, description and og:image (which the page's
    registration in shop/shop.py gives). React hoists <meta> and <link> into the head; the
    JSON-LD stays in the body, where search engines read it too."""
    h = ProductState.head
    return rx.fragment(
        rx.el.link(rel="canonical", href=h["url"]),
        rx.el.meta(property="og:type", content="product"),
        rx.el.meta(property="og:site_name", content=h["site_name"]),
        rx.el.meta(property="og:title", content=h["seo_title"]),
        rx.el.meta(property="og:description", content=h["description"]),
        rx.el.meta(property="og:url", content=h["url"]),
        rx.el.meta(property="product:price:amount", content=h["price"]),
        rx.el.meta(property="product:price:currency", content=h["currency"]),
        rx.el.meta(name="twitter:card", content="summary_large_image"),
        rx.el.script(h["json_ld"], type="application/ld+json"),
    )


def details() -> rx.Component:
    p = ProductState.product
    return rx.el.article(
        # Starts at the catalogue, named as everywhere else in the shop: "Home" and "Products"
        # are the header's links, and a second link of the same name is ambiguous.
        rx.el.nav(
            rx.el.ol(
                rx.el.li(link("Catalogue", to="/products")),
                # (no empty-named link for a product without a category)
                rx.cond(
                    p["category"] != "",
                    rx.el.li(link(p["category"], to="/products?category=" + p["category_slug"])),
                ),
                class_name="breadcrumbs",
            ),
            aria_label="Breadcrumb",
        ),
        rx.el.div(
            rx.el.div(
                rx.cond(
                    p["image"] != "",
                    rx.el.img(
                        src=p["image"],
                        alt="Cover of " + p["name"],
                        width="640",
                        height="480",
                        class_name="product-image",
                    ),
                    image_placeholder(p["name"]),
                ),
                class_name="product-media",
            ),
            rx.el.div(
                rx.el.p(p["category"], class_name="eyebrow"),
                rx.el.h1(p["name"], class_name="product-title"),
                rx.el.p(
                    rx.el.span(p["price"], class_name="price price-large"),
                    rx.el.span(" ", p["per"], class_name="per"),
                    class_name="product-price",
                ),
                rx.cond(
                    ProductState.sold_out,
                    rx.el.p("Sold out", class_name="sold-out-badge sold-out-notice"),
                ),
                rx.html(ProductState.description_html, class_name="product-description"),
                buy_box(),
                rx.cond(
                    ProductState.is_subscription,
                    # What shop.services.subscriptions does: each paid period grants the plan's
                    # files, an ended membership revokes them, cancelling waits for the period end.
                    rx.el.ul(
                        rx.el.li("A membership: download the plan's files while it lasts"),
                        rx.el.li(
                            rx.match(
                                p["per"],
                                ("per month", "Billed monthly"),
                                ("per year", "Billed yearly"),
                                ("per week", "Billed weekly"),
                                ("per day", "Billed daily"),
                                "Billed " + p["per"].to(str),  # type: ignore[attr-defined]
                            ),
                            ", renewing until you cancel",
                        ),
                        rx.el.li(
                            "Cancel any time; you keep access until the end of the paid period"
                        ),
                        rx.el.li("Price in Canadian dollars; sales tax added by province"),
                        class_name="product-facts",
                    ),
                    rx.el.ul(
                        # What the grant allows, not "whenever you need": downloads expire.
                        rx.el.li("One-time purchase — ", p["download_terms"]),
                        rx.el.li("Delivered by a secure download link right after payment"),
                        rx.el.li(
                            "Price in Canadian dollars; sales tax added by province at checkout"
                        ),
                        class_name="product-facts",
                    ),
                ),
                class_name="product-info",
            ),
            class_name="product-layout",
        ),
        class_name="product",
    )


def buy_box() -> rx.Component:
    """The "Add to cart" button: a plain form post (works without scripts; the server sets the
    HttpOnly cart cookie and comes back here). Sold-out products show a disabled "Sold out"."""
    p = ProductState.product
    return rx.cond(
        ProductState.is_subscription,
        # A plan is not put in the cart: /subscribe/<slug> (sign-in first, then back there)
        # shows the tax for the buyer's province and hands over to Stripe Checkout.
        rx.el.div(
            link(
                "Subscribe",
                to="/subscribe/" + p["slug"],
                class_name="button button-primary",
            ),
            class_name="buy-box",
        ),
        rx.el.div(
            rx.cond(
                ProductState.sold_out,
                # Still the "Add to cart" control, named so, but disabled: it cannot be bought.
                # Its text is not "Sold out" again: the notice above says that, once.
                rx.el.button(
                    "Add to cart",
                    type="button",
                    disabled=True,
                    aria_label="Add to cart — sold out",
                    class_name="button",
                ),
                native_form(
                    rx.el.input(type="hidden", name="product_id", value=p["id"]),
                    rx.el.input(type="hidden", name="quantity", value="1"),
                    rx.el.input(type="hidden", name="next", value=p["href"] + "?added=1"),
                    rx.el.button("Add to cart", type="submit", class_name="button button-primary"),
                    action="/api/cart/items/form",
                    class_name="inline-form",
                ),
            ),
            rx.cond(
                ProductState.added,
                # No "View cart" link beside it: the header's cart link (with the count) is the
                # one link to the cart, so a search for the link named "Cart" finds one.
                rx.el.p(
                    "Added to your cart.",
                    role="status",
                    class_name="notice",
                ),
            ),
            rx.cond(
                ProductState.cart_error != "",
                rx.el.p(
                    "This product could not be added to your cart.",
                    role="alert",
                    class_name="form-error",
                ),
            ),
            class_name="buy-box",
        ),
    )


def not_found() -> rx.Component:
    return rx.el.div(
        rx.el.h1("Product not found", class_name="page-title"),
        rx.el.p("This product does not exist or is no longer for sale.", class_name="muted"),
        link("Browse the catalogue", to="/products", class_name="button button-primary"),
        class_name="empty-state",
    )


def loading() -> rx.Component:
    return rx.el.div(
        rx.el.div(class_name="skeleton product-image-skeleton"),
        rx.el.p("Loading product…", class_name="muted"),
        class_name="product-layout",
        aria_busy="true",
    )


def product_page() -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                rx.cond(
                    ProductState.loaded,
                    rx.cond(ProductState.found, details(), not_found()),
                    loading(),
                ),
                rx.cond(ProductState.found, head_tags()),
                class_name="container",
            ),
            class_name="section",
        )
    )
