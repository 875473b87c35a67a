"""/cart: the visitor's cart at today's catalog prices; change quantities, remove, check out.

The cart is found on the server for every event: the account's cart when signed in, else the
anonymous cart of the HttpOnly `shop_cart` cookie read from the websocket handshake (the
"Add to cart" form's answer set it before this page loaded). Nothing here trusts the browser
with a token or a price.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from shop.components.forms import NativeForm
from shop.components.layout import link, page
from shop.db import session_scope
from shop.services import cart as carts
from shop.services import ids
from shop.services.errors import ShopError
from shop.services.money import format_money
from shop.services.orders import MAX_QUANTITY
from shop.state.session import SessionState

QUANTITIES = [str(n) for n in range(1, MAX_QUANTITY + 1)]


def cart_lines(view: carts.CartView) -> list[dict[str, str]]:
    """Display rows (state vars must be plain and serialisable)."""
    return [
        {
            "product_id": str(line.product_id),
            "name": line.name,
            "href": f"/products/{line.slug}",
            "quantity": str(line.quantity),
            "unit_price": format_money(line.unit_amount, line.currency),
            "amount": format_money(line.amount, line.currency),
            "problem": line.problem or "",
        }
        for line in view.lines
    ]


class CartState(SessionState):
    lines: list[dict[str, str]] = []
    subtotal: str = ""
    can_checkout: bool = False
    cart_loaded: bool = False
    cart_message: str = ""

    async def _run(self, work: Any) -> None:
        """Do `work(session, cart)` on this visitor's cart (if any) and show the result."""
        user = await self._current_user()
        self._show(user)
        user_id, token = self._cart_owner(user)

        def run() -> carts.CartView:
            with session_scope() as session:
                found = carts.find_cart(session=session, token=token, user_id=user_id)
                if found is not None and work is not None:
                    work(session, found)
                return carts.view_cart(session=session, cart=found)

        try:
            view = await asyncio.to_thread(run)
        except ShopError as exc:
            self.cart_message = exc.message
            return
        self.lines = cart_lines(view)
        self.subtotal = format_money(view.subtotal, view.currency or "cad")
        self.can_checkout = view.can_checkout
        self.cart_count = view.item_count
        self.cart_loaded = True

    @rx.event
    async def load(self):
        self.cart_message = ""
        await self._run(None)

    @rx.event
    async def change_quantity(self, product_id: str, quantity: str):
        self.cart_message = ""
        line_id = ids.parse_id(product_id)
        asked = ids.parse_whole(quantity, ids.MAX_INT)
        if line_id is None or asked is None:  # no line has that product: nothing to change
            return
        wanted = min(asked, MAX_QUANTITY)
        await self._run(
            lambda session, cart: carts.set_quantity(
                session=session, cart=cart, product_id=line_id, quantity=wanted
            )
        )

    @rx.event
    async def remove(self, product_id: str):
        self.cart_message = ""
        line_id = ids.parse_id(product_id)
        if line_id is None:
            return
        await self._run(
            lambda session, cart: carts.remove_item(session=session, cart=cart, product_id=line_id)
        )


def line_row(line: Any) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            link(line["name"], to=line["href"], class_name="cart-line-name"),
            rx.el.span(line["unit_price"], " each", class_name="muted"),
            rx.cond(
                line["problem"] != "",
                rx.el.p(line["problem"], class_name="form-error", role="alert"),
            ),
            class_name="cart-line-info",
        ),
        rx.el.label(
            rx.el.span("Quantity", class_name="visually-hidden"),
            rx.el.select(
                *[rx.el.option(q, value=q) for q in QUANTITIES],
                value=line["quantity"],
                on_change=lambda value: CartState.change_quantity(line["product_id"], value),  # type: ignore[operator]
                aria_label="Quantity of " + line["name"].to(str),
            ),
            class_name="cart-line-quantity",
        ),
        rx.el.span(line["amount"], class_name="price cart-line-amount"),
        rx.el.button(
            "Remove",
            type="button",
            on_click=CartState.remove(line["product_id"]),  # type: ignore[operator]
            aria_label="Remove " + line["name"].to(str),
            class_name="link-button",
        ),
        class_name="cart-line",
    )


def cart_body() -> rx.Component:
    return rx.cond(
        CartState.lines.length() > 0,  # type: ignore[attr-defined]
        rx.el.div(
            rx.el.ul(rx.foreach(CartState.lines, line_row), class_name="cart-lines"),
            rx.el.p(
                "Subtotal: ",
                rx.el.strong(CartState.subtotal, class_name="price"),
                class_name="cart-subtotal",
            ),
            rx.el.p("Sales tax is added at checkout by province.", class_name="muted"),
            rx.cond(
                CartState.can_checkout,
                # A button, as "Add to cart" is, in a plain form: a full page load, since the
                # checkout page's own security policy is what allows Stripe.js. The server
                # answers 303 to /checkout (a GET form would add an empty "?").
                NativeForm.create(
                    rx.el.button("Checkout", type="submit", class_name="button button-primary"),
                    action="/api/cart/checkout/form",
                    method="post",
                    class_name="inline-form",
                ),
                rx.el.div(
                    rx.el.button("Checkout", type="button", disabled=True, class_name="button"),
                    rx.el.p(
                        "Change or remove the lines marked above to check out.",
                        class_name="muted",
                    ),
                ),
            ),
            class_name="cart",
        ),
        rx.el.div(
            rx.el.p("Your cart is empty.", class_name="muted"),
            link("Browse the catalogue", to="/products", class_name="button button-primary"),
            class_name="empty-state",
        ),
    )


def cart_page() -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                rx.el.h1("Your cart", class_name="page-title"),
                rx.cond(
                    CartState.cart_message != "",
                    rx.el.p(CartState.cart_message, role="alert", class_name="form-error"),
                ),
                rx.cond(
                    CartState.cart_loaded,
                    cart_body(),
                    rx.el.p("Loading your cart…", class_name="muted", aria_busy="true"),
                ),
                class_name="container",
            ),
            class_name="section",
        )
    )
