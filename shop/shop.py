"""The Reflex app: storefront pages, the REST API mounted above them, ASGI wrappers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import reflex as rx

from shop.api.app import create_api_app
from shop.jobs import start_scheduler
from shop.pages.admin_home import AdminHomeState, admin_home_page
from shop.pages.catalog import CatalogState, catalog_page
from shop.pages.home import HomeState, home_page
from shop.pages.not_found import not_found_page
from shop.pages.product import ProductState, product_page
from shop.settings import get_settings
from shop.state.session import SessionState
from shop.web.asgi import wrap_storefront

_settings = get_settings()
SHOP_NAME = _settings.shop_name
DESCRIPTION = (
    f"{SHOP_NAME}: Canadian digital guides, templates, audio and memberships. "
    "Prices in CAD, instant download."
)
OG_IMAGE = "/og-image.png"


def _title(text: str) -> str:
    return f"{text} | {SHOP_NAME}"


app = rx.App(
    stylesheets=["/styles.css"],
    # No toast library on storefront pages: it is weight every visitor pays for.
    toaster=None,
    html_lang="en-CA",
    head_components=[
        rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml"),
        rx.el.meta(name="theme-color", content="#1f3b2d"),
    ],
    # The REST API (and /media, /sitemap.xml, /robots.txt) sits above Reflex's routes;
    # then crawlable product pages and security headers wrap everything.
    api_transformer=[create_api_app(), wrap_storefront],
)

app.add_page(
    product_page,
    route="/products/[slug]",
    title=ProductState.page_title,
    description=DESCRIPTION,
    image=OG_IMAGE,
    on_load=[SessionState.load_session, ProductState.load],
)
app.add_page(
    catalog_page,
    route="/products",
    title=_title("Products"),
    description=DESCRIPTION,
    image=OG_IMAGE,
    on_load=[SessionState.load_session, CatalogState.load],
)
app.add_page(
    home_page,
    route="/",
    title=f"{SHOP_NAME} — Canadian digital goods",
    description=DESCRIPTION,
    image=OG_IMAGE,
    on_load=[SessionState.load_session, HomeState.load],
)
# --- staff pages ---
app.add_page(
    admin_home_page,
    route="/admin",
    title=_title("Administration"),
    on_load=AdminHomeState.load,
)

app.add_page(
    not_found_page,
    route="404",
    title=_title("Page not found"),
    description=DESCRIPTION,
    image=OG_IMAGE,
)


@contextlib.asynccontextmanager
async def periodic_jobs() -> AsyncIterator[None]:
    """Stripe sync retry, reconciliation and clean-up run beside the server (shop/jobs.py)."""
    scheduler = start_scheduler()
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


app.register_lifespan_task(periodic_jobs)
