"""The shared page frame: sandbox banner, header with navigation, main, footer."""

from __future__ import annotations

import reflex as rx
from reflex_components_core.react_router.dom import ReactRouterLink

from shop.components.forms import native_form
from shop.state.session import SessionState
from shop.state.site import SiteState

NAV_ITEMS = [("Home", "/"), ("Products", "/products")]


def link(*children: rx.Component | str, to: str | rx.Var, **props) -> rx.Component:
    """Client-side navigation link (React Router), a real <a href> for everyone else."""
    return ReactRouterLink.create(*children, to=to, **props)


def not_allowed_notice() -> rx.Component:
    """What a signed-in account sees on a page its permissions do not open."""
    return rx.el.div(
        rx.el.p("Your account is not allowed to see this page."),
        class_name="notice notice-error",
        role="alert",
    )


def sandbox_banner() -> rx.Component:
    return rx.cond(
        SiteState.sandbox,
        rx.el.div(
            rx.el.strong("Sandbox"),
            " — payments are simulated",
            class_name="sandbox-banner",
            # A standing note, not a live status: the page's own status messages ("Added to
            # your cart.") stay the only role=status element, as they are without the sandbox.
            role="note",
            aria_label="Sandbox — payments are simulated",
        ),
    )


def logo_mark() -> rx.Component:
    return rx.el.span("✦", class_name="logo-mark", aria_hidden="true")


def cart_link() -> rx.Component:
    return link(
        "Cart",
        rx.el.span(SessionState.cart_count, class_name="cart-count", aria_hidden="true"),
        to="/cart",
        class_name="nav-link cart-link",
        aria_label=rx.cond(
            SessionState.cart_count == 1,
            "Cart, 1 item",
            f"Cart, {SessionState.cart_count} items",
        ),
    )


def account_area() -> rx.Component:
    """Staff links, the account link and "Sign out" when signed in; else sign-in links.

    Sign-out is a plain form post: it works without JavaScript state and the HttpOnly
    session cookie is cleared by the server's answer."""
    return rx.cond(
        SessionState.signed_in,
        rx.el.div(
            rx.cond(SessionState.is_staff, link("Admin", to="/admin", class_name="nav-link")),
            link("Account", to="/account", class_name="nav-link"),
            native_form(
                rx.el.button("Sign out", type="submit", class_name="link-button"),
                action="/api/auth/logout/form",
                class_name="inline-form",
            ),
            class_name="account-area",
        ),
        rx.el.div(
            link("Sign in", to="/login", class_name="nav-link"),
            link("Create account", to="/register", class_name="nav-link"),
            class_name="account-area",
        ),
    )


def header() -> rx.Component:
    return rx.el.header(
        rx.el.div(
            link(logo_mark(), rx.el.span(SiteState.shop_name), to="/", class_name="brand"),
            rx.el.nav(
                rx.el.ul(
                    *[
                        rx.el.li(link(label, to=href, class_name="nav-link"))
                        for label, href in NAV_ITEMS
                    ],
                    rx.el.li(cart_link()),
                    class_name="nav-list",
                ),
                aria_label="Main",
            ),
            account_area(),
            class_name="container header-inner",
        ),
        class_name="site-header",
    )


def footer() -> rx.Component:
    # No links: a copy of the header's "Home" and "Products" made every page carry two links
    # of each name (twice in a screen reader's list of links, ambiguous for anyone finding a
    # link by its name). The header's navigation is the one on every page.
    return rx.el.footer(
        rx.el.div(
            rx.el.div(
                rx.el.p(logo_mark(), " ", SiteState.shop_name, class_name="footer-brand"),
                rx.el.p(
                    "Digital guides, templates and recordings made in Canada. "
                    "Prices in Canadian dollars; sales tax is added at checkout by province.",
                    class_name="muted",
                ),
            ),
            class_name="container footer-inner",
        ),
        class_name="site-footer",
    )


def page(*children: rx.Component) -> rx.Component:
    """Wrap a page's content in the shared layout."""
    return rx.el.div(
        rx.el.a("Skip to content", href="#main", class_name="skip-link"),
        sandbox_banner(),
        header(),
        rx.el.main(*children, id="main", class_name="site-main"),
        footer(),
        class_name="site",
    )
