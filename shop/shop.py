"""The Reflex app: storefront pages, the REST API mounted above them, ASGI wrappers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import cast

import reflex as rx

from shop.api.app import create_api_app
from shop.jobs import start_scheduler
from shop.pages.account import AccountState, account_page
from shop.pages.account_downloads import AccountDownloadsState, account_downloads_page
from shop.pages.account_orders import (
    AccountOrdersState,
    AccountOrderState,
    account_order_page,
    account_orders_page,
)
from shop.pages.account_subscriptions import (
    AccountSubscriptionsState,
    account_subscriptions_page,
)
from shop.pages.admin_audit import AuditState, admin_audit_page
from shop.pages.admin_categories import AdminCategoriesState, admin_categories_page
from shop.pages.admin_customers import (
    AdminCustomersState,
    AdminCustomerState,
    admin_customer_page,
    admin_customers_page,
)
from shop.pages.admin_home import AdminHomeState, admin_home_page
from shop.pages.admin_orders import (
    AdminOrdersState,
    AdminOrderState,
    admin_order_page,
    admin_orders_page,
)
from shop.pages.admin_products import (
    AdminProductEditState,
    AdminProductsState,
    admin_product_edit_page,
    admin_product_new_page,
    admin_products_page,
)
from shop.pages.admin_promo_codes import AdminPromoCodesState, admin_promo_codes_page
from shop.pages.admin_reconciliation import ReconciliationState, admin_reconciliation_page
from shop.pages.auth_pages import (
    ForgotPasswordState,
    LoginState,
    RegisterState,
    ResetPasswordState,
    VerifyEmailState,
    forgot_password_page,
    login_page,
    register_page,
    reset_password_page,
    verify_email_page,
)
from shop.pages.cart import CartState, cart_page
from shop.pages.catalog import CatalogState, catalog_page
from shop.pages.checkout import (
    CheckoutState,
    CheckoutSuccessState,
    checkout_page,
    success_page,
)
from shop.pages.home import HomeState, home_page
from shop.pages.not_found import not_found_page
from shop.pages.product import ProductState, product_page
from shop.pages.receipt import ReceiptState, receipt_page
from shop.pages.subscribe import SubscribeState, subscribe_page
from shop.settings import get_settings
from shop.state.session import SessionState
from shop.web.asgi import wrap_storefront
from shop.web.security import event_channel_accepts

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
if app.sio is not None:
    # Engine.IO checks the websocket's Origin against a fixed list; ours also takes the shop
    # opened at its own address (http://127.0.0.1:8000 while PUBLIC_URL says localhost).
    app.sio.eio.cors_allowed_origins = event_channel_accepts

app.add_page(
    product_page,
    route="/products/[slug]",
    # From the product's state, as the server renders them (shop/web/product_pages.py).
    title=ProductState.page_title,
    description=rx.cond(ProductState.found, ProductState.meta_description, DESCRIPTION),
    image=cast(str, ProductState.social_image),  # a Var works; the signature says str
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
# --- accounts ---
for account_page_function, route, title, load in (
    (login_page, "/login", "Sign in", LoginState.load),
    (register_page, "/register", "Create account", RegisterState.load),
    (forgot_password_page, "/forgot-password", "Forgot your password?", ForgotPasswordState.load),
    (reset_password_page, "/reset-password", "Choose a new password", ResetPasswordState.load),
    (verify_email_page, "/verify-email", "Confirm your email", VerifyEmailState.load),
):
    app.add_page(
        account_page_function,
        route=route,
        title=_title(title),
        on_load=[SessionState.load_session, load],
    )
# /account resolves the user itself too (and sends strangers to /login).
app.add_page(
    account_page,
    route="/account",
    title=_title("Your account"),
    on_load=[SessionState.load_session, AccountState.load],
)
# The customer's orders and downloads (issue 7): each load sends strangers to /login?next=….
for customer_page_function, route, title, load in (
    (account_orders_page, "/account/orders", "Your orders", AccountOrdersState.load),
    (account_order_page, "/account/orders/[number]", "Your order", AccountOrderState.load),
    (account_downloads_page, "/account/downloads", "Your downloads", AccountDownloadsState.load),
    (
        account_subscriptions_page,
        "/account/subscriptions",
        "Your subscriptions",
        AccountSubscriptionsState.load,
    ),
):
    app.add_page(
        customer_page_function,
        route=route,
        title=_title(title),
        on_load=[SessionState.load_session, load],
    )
app.add_page(
    admin_audit_page,
    route="/admin/audit",
    title=_title("Audit log"),
    on_load=[SessionState.load_session, AuditState.load],
)
# --- cart and checkout (issue 6) ---
app.add_page(cart_page, route="/cart", title=_title("Your cart"), on_load=CartState.load)
# Sign-in required: each load sends strangers to /login?next=….
app.add_page(checkout_page, route="/checkout", title=_title("Checkout"), on_load=CheckoutState.load)
app.add_page(
    success_page,
    route="/checkout/success",
    title=_title("Payment received"),
    on_load=CheckoutSuccessState.load,
)
# Memberships: sign-in required (strangers go to /login?next=…), never indexed.
app.add_page(
    subscribe_page,
    route="/subscribe/[slug]",
    title=_title("Subscribe"),
    meta=[{"name": "robots", "content": "noindex"}],
    on_load=[SessionState.load_session, SubscribeState.load],
)
app.add_page(
    receipt_page,
    route="/account/orders/[number]/receipt",
    title=_title("Receipt"),
    on_load=ReceiptState.load,
)
# --- staff pages ---
app.add_page(
    admin_home_page,
    route="/admin",
    title=_title("Administration"),
    on_load=AdminHomeState.load,
)
# Catalog administration (issue 5): every on_load and handler checks the permission itself.
for admin_page_function, route, title, load in (
    (admin_products_page, "/admin/products", "Products", AdminProductsState.load),
    (admin_product_new_page, "/admin/products/new", "New product", AdminProductEditState.load),
    (
        admin_product_edit_page,
        "/admin/products/[product_id]",
        "Edit product",
        AdminProductEditState.load,
    ),
    (admin_categories_page, "/admin/categories", "Categories", AdminCategoriesState.load),
    (admin_promo_codes_page, "/admin/promo-codes", "Promo codes", AdminPromoCodesState.load),
):
    app.add_page(admin_page_function, route=route, title=_title(title), on_load=load)
# Orders, customers and reconciliation (issue 7): each load and action checks its permission.
for staff_page_function, route, title, load in (
    (admin_orders_page, "/admin/orders", "Orders", AdminOrdersState.load),
    (admin_order_page, "/admin/orders/[number]", "Order", AdminOrderState.load),
    (admin_customers_page, "/admin/customers", "Customers", AdminCustomersState.load),
    (admin_customer_page, "/admin/customers/[customer_id]", "Customer", AdminCustomerState.load),
    (
        admin_reconciliation_page,
        "/admin/reconciliation",
        "Reconciliation",
        ReconciliationState.load,
    ),
):
    app.add_page(staff_page_function, route=route, title=_title(title), on_load=load)

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


@contextlib.asynccontextmanager
async def running_mark() -> AsyncIterator[None]:
    """While the app serves, `python -m shop restore` on its data dir refuses to run."""
    from shop.services.backups import running_mark as held

    with held():
        yield


app.register_lifespan_task(running_mark)
