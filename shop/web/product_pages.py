"""Crawlable product pages.

Reflex prerenders static routes only, so `/products/<slug>` would reach crawlers (and
link previews) as an empty shell with a generic title. This wrapper answers HTML
requests for that route itself: it takes the built shell, puts the product's title,
description, Open Graph tags, canonical link and JSON-LD in the head, and a no-JS copy
of the product (name, price, image, and the description as sanitised HTML from
shop/services/markdown.py) in the body. The product is read from
the catalog service at every request, so changes show at once; an unknown or archived
slug gets the 404 page with status 404. The React app hydrates over the same shell; a
small same-origin script (assets/product-head.js) first takes out the head tags written
here, as the app writes the same ones (shop/pages/product.py) and keeps them up to date.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from shop.services.catalog import ProductView
from shop.services.markdown import render_description_html
from shop.services.money import decimal_amount
from shop.settings import Settings, get_settings
from shop.web.build import read_shell

PRODUCT_PATH = re.compile(r"^/products/(?P<slug>[^/]+)/?$")
PRODUCT_SHELL = "__spa-fallback.html"
NOT_FOUND_SHELL = "404.html"
# The shop's 1200×630 preview image (assets/og-image.png), for products without their own.
DEFAULT_SOCIAL_IMAGE = "/og-image.png"
_GENERIC_HEAD_TAGS = re.compile(
    rb"""<title>.*?</title>"""
    rb"""|<meta\b[^>]*\b(?:name|property)\s*=\s*"(?:description|og:[^"]*|twitter:[^"]*)"[^>]*>"""
    rb"""|<link\b[^>]*\brel\s*=\s*"canonical"[^>]*>""",
    re.S | re.I,
)
# Takes the server's head tags out before the app starts and writes its own from the same
# `product_head` (shop/pages/product.py): one set of tags once JavaScript runs.
HEAD_SCRIPT = "/product-head.js"


def lookup_product(slug: str) -> ProductView | None:
    """The active product with this slug (or id), from the catalog service."""
    from shop.db import session_scope
    from shop.services import catalog

    with session_scope() as session:
        return catalog.get_product(session=session, id_or_slug=slug)


def absolute_url(settings: Settings, path_or_url: str) -> str:
    if path_or_url.startswith(("http://", "https://")):
        return path_or_url
    return settings.public_url + "/" + path_or_url.lstrip("/")


@dataclass(frozen=True, slots=True)
class ProductHead:
    """What a product page's <head> says: written by the server for clients without
    JavaScript, and by the React app (shop/pages/product.py) once it runs."""

    title: str  # the document title
    seo_title: str
    description: str
    url: str  # canonical
    image: str  # absolute
    price: str
    currency: str
    site_name: str
    json_ld: str  # safe inside <script>


def product_head(product: ProductView, settings: Settings) -> ProductHead:
    url = absolute_url(settings, f"/products/{product.slug}")
    image = absolute_url(settings, product.image_url or DEFAULT_SOCIAL_IMAGE)
    price = decimal_amount(product.price_amount, product.currency)
    json_ld = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "description": product.seo_description,
        "image": image,
        "url": url,
        "category": product.category_name,
        "offers": {
            "@type": "Offer",
            "price": price,
            "priceCurrency": product.currency.upper(),
            "availability": "https://schema.org/" + _availability(product),
            "url": url,
        },
    }
    # Inside <script>, "<" must not appear raw, or "</script>" could end the block.
    ld = json.dumps(json_ld, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return ProductHead(
        title=f"{product.seo_title} | {settings.shop_name}",
        seo_title=product.seo_title,
        description=product.seo_description,
        url=url,
        image=image,
        price=price,
        currency=product.currency.upper(),
        site_name=settings.shop_name,
        json_ld=ld,
    )


def head_tags(product: ProductView, settings: Settings) -> str:
    """The per-product <head> tags, every value HTML-escaped, and the script that takes them
    out when JavaScript runs (the app then writes the same tags itself)."""
    e = html.escape
    head = product_head(product, settings)
    return "".join(
        [
            f"<title>{e(head.title)}</title>",
            f'<meta name="description" content="{e(head.description)}"/>',
            f'<link rel="canonical" href="{e(head.url)}"/>',
            '<meta property="og:type" content="product"/>',
            f'<meta property="og:site_name" content="{e(head.site_name)}"/>',
            f'<meta property="og:title" content="{e(head.seo_title)}"/>',
            f'<meta property="og:description" content="{e(head.description)}"/>',
            f'<meta property="og:url" content="{e(head.url)}"/>',
            f'<meta property="og:image" content="{e(head.image)}"/>',
            f'<meta property="product:price:amount" content="{e(head.price)}"/>',
            f'<meta property="product:price:currency" content="{e(head.currency)}"/>',
            '<meta name="twitter:card" content="summary_large_image"/>',
            f'<script type="application/ld+json">{head.json_ld}</script>',
            # Parser-blocking on purpose: it must run before the app hydrates.
            f'<script src="{HEAD_SCRIPT}"></script>',
        ]
    )


def body_block(product: ProductView, settings: Settings) -> str:
    """What a client without JavaScript sees: the product, readable on its own."""
    e = html.escape
    category = (
        f'<p>Category: <a href="/products?category={e(product.category_slug or "")}">'
        f"{e(product.category_name)}</a></p>"
        if product.category_name
        else ""
    )
    image = (
        f'<img src="{e(product.image_url)}" alt="{e(product.name)}" width="640" height="480"/>'
        if product.image_url
        else ""
    )
    description = render_description_html(product.description)
    if description:
        description = f'<div class="product-description">{description}</div>'
    return (
        '<noscript><main class="noscript-product">'
        f'<p><a href="/">{e(settings.shop_name)}</a> › <a href="/products">Products</a></p>'
        f"<article><h1>{e(product.name)}</h1>"
        f'<p class="price">{e(product.price_display)}</p>'
        f"{'<p><strong>Sold out</strong></p>' if product.sold_out else ''}"
        f"{category}{image}{description}</article></main></noscript>"
    )


def render_product_page(shell: bytes, product: ProductView, settings: Settings) -> bytes:
    """The built shell with the product's head tags and no-JS body block put in."""
    page = _GENERIC_HEAD_TAGS.sub(b"", shell)
    head = head_tags(product, settings).encode()
    body = body_block(product, settings).encode()
    page = _insert_before(page, b"</head>", head)
    return _insert_before(page, b"</body>", body)


def _insert_before(page: bytes, marker: bytes, block: bytes) -> bytes:
    index = page.rfind(marker)
    if index < 0:
        return page + block
    return page[:index] + block + page[index:]


def standalone_shell() -> bytes:
    """Used when no production build exists (tests, API-only runs)."""
    return (
        b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>'
        b'<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        b"<title>Shop</title></head><body></body></html>"
    )


def _wants_html(scope: Scope) -> bool:
    accept = ""
    for key, value in scope.get("headers", []):
        if key == b"accept":
            accept = value.decode("latin-1").lower()
    return not accept or "text/html" in accept or "*/*" in accept


def _accepts_gzip(scope: Scope) -> bool:
    return any(
        key == b"accept-encoding" and b"gzip" in value.lower()
        for key, value in scope.get("headers", [])
    )


class ProductPageMiddleware:
    """Serves `/products/<slug>` HTML with per-product head tags; passes all else on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Callable[[], Settings] = get_settings,
        lookup: Callable[[str], ProductView | None] = lookup_product,
        shell: Callable[[str], bytes | None] = read_shell,
    ) -> None:
        self.app = app
        self._settings = settings
        self._lookup = lookup
        self._shell = shell

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PRODUCT_PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] not in ("GET", "HEAD") or not _wants_html(scope):
            await self.app(scope, receive, send)
            return
        slug = unquote(match.group("slug"))
        product = await asyncio.to_thread(self._lookup, slug) if len(slug) <= 200 else None
        if product is None:
            status = 404
            body = self._shell(NOT_FOUND_SHELL) or b"<!DOCTYPE html><title>Not found</title>"
        else:
            status = 200
            shell = self._shell(PRODUCT_SHELL) or standalone_shell()
            body = render_product_page(shell, product, self._settings())
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"vary", b"Accept-Encoding"),
        ]
        if _accepts_gzip(scope):
            body = gzip.compress(body, compresslevel=6)
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


def _availability(product: ProductView) -> str:
    """schema.org's word for whether the page's product can be bought now."""
    return "SoldOut" if product.sold_out else "InStock"
