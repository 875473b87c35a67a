"""/checkout and /checkout/success.

/checkout (sign-in required): the cart's summary, "Country" and "Province", a promo code with
"Apply", and the totals — subtotal, discount, each tax line, total — all computed on the
server by `orders.quote` from today's catalog at every change. Then Stripe's Payment Element
(the sandbox's stand-in in sandbox mode) and "Pay", driven by /checkout.js: it asks
`POST /api/payments/intent` for the order and its PaymentIntent (the server prices it again;
nothing the page shows is charged) and confirms with `stripe.confirmPayment`, 3-D Secure
included, showing a refusal in place with the order left payable. It sends the total shown as
`expected_total`: when the catalog has moved since (a price changed), the server places no
order and says what changed, the script shows that and presses the hidden "requote" button so
the totals here are priced again, and "Pay" then pays the new total.

/checkout/success?order=… (or ?payment_intent=…, as Stripe's redirect adds): asks the server
about the order — `payments.refresh_status` asks Stripe and runs the same fulfilment as the
webhook when the browser is first — and shows "Payment received" with the downloads.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx
from sqlmodel import Session

from shop.components.layout import link, not_allowed_notice, page
from shop.db import session_scope
from shop.models import Order, OrderStatus
from shop.services import cart as carts
from shop.services import checkout, downloads, orders, payments, refunds
from shop.services.countries import country_names
from shop.services.errors import ShopError
from shop.services.money import format_money
from shop.services.tax import tax_line_label
from shop.services.tax_rates import PROVINCES
from shop.settings import get_settings
from shop.state.buyer import READ_ALL_ORDERS, READ_OWN_DOWNLOADS, READ_OWN_ORDERS, BuyerState

COUNTRIES = country_names()
# Refusals over stock or promo code uses that other customers' unpaid orders hold.
MAY_CLEAR = frozenset({"sold_out", "promo_code_exhausted"})
STRIPE_JS_LIVE = "https://js.stripe.com/v3/"


def stripe_js_url() -> str:
    settings = get_settings()
    if settings.sandbox_mode:
        return settings.stripe_api_base.rstrip("/") + "/js/v3/stripe.js"
    return STRIPE_JS_LIVE


class CheckoutState(BuyerState):
    checkout_loaded: bool = False
    lines: list[dict[str, str]] = []
    country: str = "CA"
    region: str = ""
    promo_input: str = ""
    promo_code: str = ""  # the code the totals include
    promo_message: str = ""  # why a code was refused
    subtotal: str = ""
    discount: str = ""
    tax_lines: list[dict[str, str]] = []
    total: str = ""
    total_amount: int = 0
    currency: str = "cad"
    problem: str = ""  # what stands in the way of paying
    # The problem is stock or promo code uses other checkouts hold: it may clear by itself.
    may_clear: bool = False
    checked_note: str = ""  # said after "Check again" found nothing changed
    can_pay: bool = False
    free: bool = False  # the promo code pays the whole order: no card, "Place order"
    placing: bool = False
    stripe_js: str = ""
    publishable_key: str = ""
    # Whose choices the fields above hold: a tab is signed into another account, or out and
    # in again as someone else, and that person must not find the last one's code or province.
    _chosen_by: int | None = None

    @rx.var
    def needs_region(self) -> bool:
        return self.country == "CA"

    def _forget_promo_code(self) -> None:
        """A paid order used the code: the next checkout starts without one."""
        self.promo_input = self.promo_code = self.promo_message = ""

    def _choices_for(self, user_id: int) -> None:
        if self._chosen_by != user_id:
            self.country, self.region = "CA", ""
            self._forget_promo_code()
            self._chosen_by = user_id

    def _forget(self) -> None:
        self.lines, self.tax_lines = [], []
        self.subtotal = self.discount = self.total = ""
        self.total_amount, self.can_pay, self.may_clear = 0, False, False
        self.free = False

    async def _quote(self, promo_code: str) -> str | None:
        """Price the cart on the server; None when priced, else the refusal."""
        # Paying places an order of one's own: the API's `POST /api/payments/intent` rule.
        user = await self._require(READ_OWN_ORDERS)
        if user is None:
            self._forget()
            if self.access == "sign_in":
                return "Sign in again to check out."
            return "Your account is not allowed to buy."
        country, region = self.country, self.region

        def run() -> tuple[carts.CartView, orders.Quote | None, ShopError | str | None]:
            with session_scope() as session:
                found = carts.find_cart(session=session, user_id=user.id)
                view = carts.view_cart(session=session, cart=found)
                problem = carts.checkout_problem(view=view, country=country, region=region)
                if problem is not None:
                    return view, None, problem
                try:
                    quote = orders.quote(
                        session=session,
                        items=view.line_requests(),
                        billing=orders.Billing(country=country, region=region or None),
                        promo_code=promo_code or None,
                        user_id=user.id,
                    )
                except ShopError as exc:
                    return view, None, exc
                return view, quote, None

        view, quote, refused = await asyncio.to_thread(run)
        self.may_clear = isinstance(refused, ShopError) and refused.code in MAY_CLEAR
        refusal = refused.message if isinstance(refused, ShopError) else refused
        self.cart_count = view.item_count
        currency = view.currency or "cad"
        self.lines = [
            {
                "name": line.name,
                "quantity": str(line.quantity),
                "amount": format_money(line.amount, line.currency),
                "problem": line.problem or "",
            }
            for line in view.lines
        ]
        if quote is None:
            # A cart with a line that cannot be bought has no subtotal worth showing: the
            # lines that can would add up to a sum nobody asked for.
            self.subtotal = format_money(view.subtotal, currency) if view.can_checkout else ""
            self.discount, self.tax_lines, self.total = "", [], ""
            self.can_pay = self.free = False
            return refusal
        self.currency = quote.currency
        self.subtotal = format_money(quote.subtotal, quote.currency)
        self.discount = format_money(-quote.discount, quote.currency) if quote.discount else ""
        self.tax_lines = [
            {
                "label": tax_line_label(name=t.name, rate=t.rate),
                "amount": format_money(t.amount, quote.currency),
            }
            for t in quote.tax_lines
        ]
        self.total = format_money(quote.total, quote.currency)
        self.total_amount = quote.total
        beyond_card = orders.card_limit_problem(quote)
        self.can_pay = beyond_card is None
        self.free = orders.is_free(quote)
        return beyond_card.message if beyond_card else None

    async def _refresh(self) -> None:
        self.checked_note = ""
        self.problem = await self._quote(self.promo_code) or ""

    @rx.event
    async def load(self):
        user = await self._require(READ_OWN_ORDERS)
        if user is None:
            self._forget()
            return self._refusal()
        self._choices_for(user.id)
        self.stripe_js = stripe_js_url()
        self.publishable_key = get_settings().effective_stripe_publishable_key
        self.promo_message = ""
        await self._refresh()
        self.checkout_loaded = True
        return None

    @rx.event
    async def requote(self):
        """Price the cart again ("Check again"; checkout.js asks when the server's total
        differs from ours)."""
        held = self.may_clear
        # Emptied first, so that the same words are announced again at every press.
        self.checked_note = ""
        yield
        await self._refresh()
        if self.access == "sign_in":
            yield self._refusal()
            return
        if held and self.may_clear:
            self.checked_note = "Checked again just now: nothing has changed yet."

    @rx.event
    async def choose_country(self, value: str):
        self.country = value if value in COUNTRIES else "CA"
        if self.country != "CA":
            self.region = ""
        await self._refresh()
        return self._refusal()

    @rx.event
    async def choose_region(self, value: str):
        self.region = value if value in PROVINCES else ""
        await self._refresh()
        return self._refusal()

    @rx.event
    def set_promo_input(self, value: str):
        self.promo_input = value[:64]

    @rx.event
    def promo_key(self, key: str):
        """Enter in the promo code field applies it, as "Apply" does (the field is not in a form:
        the page has no submit of its own to trigger)."""
        return CheckoutState.apply_promo if key == "Enter" else None

    @rx.event
    async def apply_promo(self):
        code = self.promo_input.strip()
        self.promo_message = ""
        if not code:
            self.promo_message = "Enter a promo code first."
            return None
        if self.country == "CA" and not self.region:
            self.promo_message = "Choose your province first, then apply the code."
            return None
        refusal = await self._quote(code)
        if refusal is None:
            self.promo_code = code.upper()
            self.problem = ""
            return None
        if self.access == "sign_in":  # the session ended elsewhere (sign-out, time-out)
            return self._refusal()
        # Refused: say why, and keep the totals as they were without it.
        self.promo_message = refusal
        await self._refresh()
        return None

    @rx.event
    async def place_free_order(self):
        """The "Place order" button of an order its promo code pays in full: placed and
        delivered on the server (no card, no Stripe), then the success page."""
        user = await self._require(READ_OWN_ORDERS)
        if user is None:
            yield self._refusal()
            return
        if not self.free or self.placing:
            return
        self.placing = True
        yield
        country, region, promo_code = self.country, self.region, self.promo_code

        def run() -> int:
            started = checkout.start_cart_checkout(
                buyer_id=user.id,
                billing=orders.Billing(country=country, region=region or None),
                promo_code=promo_code or None,
                expected_total=0,  # only free: a total that moved since is shown, not charged
            )
            return started.order_id

        try:
            order_id = await asyncio.to_thread(run)
        except ShopError as exc:
            self.placing = False
            await self._refresh()
            self.problem = exc.message
            return
        self.placing = False
        yield rx.redirect(f"/checkout/success?order={order_id}")

    @rx.event
    async def remove_promo(self):
        self.promo_code = ""
        self.promo_input = ""
        self.promo_message = ""
        await self._refresh()
        return self._refusal()


def select_field(
    label: str, options: dict[str, str], value: Any, on_change: Any, field_id: str
) -> rx.Component:
    return rx.el.div(
        rx.el.label(label, html_for=field_id),
        rx.el.select(
            rx.el.option("Choose…", value="", disabled=True),
            *[rx.el.option(name, value=code) for code, name in options.items()],
            id=field_id,
            value=value,
            on_change=on_change,
            class_name="input",
        ),
        class_name="field",
    )


def summary() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Order summary", class_name="section-title"),
        rx.el.ul(
            rx.foreach(
                CheckoutState.lines,
                lambda line: rx.el.li(
                    rx.el.span(line["name"], " × ", line["quantity"]),
                    rx.el.span(line["amount"], class_name="price"),
                    rx.cond(
                        line["problem"] != "",
                        rx.el.span(line["problem"], class_name="form-error summary-problem"),
                    ),
                    class_name="summary-line",
                ),
            ),
            class_name="summary-lines",
        ),
        # Not "Change the cart": the header's cart link stays the only link named "Cart".
        link("Change items", to="/cart"),
        aria_label="Order summary",
    )


def billing() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Billing", class_name="section-title"),
        select_field(
            "Country", COUNTRIES, CheckoutState.country, CheckoutState.choose_country, "country"
        ),
        rx.cond(
            CheckoutState.needs_region,
            select_field(
                "Province", PROVINCES, CheckoutState.region, CheckoutState.choose_region, "province"
            ),
        ),
        rx.el.div(
            rx.el.label("Promo code", html_for="promo-code"),
            rx.el.div(
                rx.el.input(
                    id="promo-code",
                    value=CheckoutState.promo_input,
                    on_change=CheckoutState.set_promo_input,
                    on_key_down=CheckoutState.promo_key,
                    autocomplete="off",
                    class_name="input",
                ),
                rx.el.button(
                    "Apply",
                    type="button",
                    on_click=CheckoutState.apply_promo,
                    class_name="button button-ghost",
                ),
                class_name="inline-field",
            ),
            rx.cond(
                CheckoutState.promo_message != "",
                rx.el.p(CheckoutState.promo_message, role="alert", class_name="form-error"),
            ),
            rx.cond(
                CheckoutState.promo_code != "",
                rx.el.p(
                    "Code ",
                    rx.el.strong(CheckoutState.promo_code),
                    " applied. ",
                    rx.el.button(
                        "Remove code",
                        type="button",
                        on_click=CheckoutState.remove_promo,
                        class_name="link-button",
                    ),
                    role="status",
                ),
            ),
            class_name="field",
        ),
        aria_label="Billing",
    )


def totals() -> rx.Component:
    def row(label: Any, amount: Any, **props: Any) -> rx.Component:
        return rx.el.div(rx.el.dt(label), rx.el.dd(amount, class_name="price"), **props)

    return rx.el.dl(
        rx.cond(CheckoutState.subtotal != "", row("Subtotal", CheckoutState.subtotal)),
        rx.cond(CheckoutState.discount != "", row("Discount", CheckoutState.discount)),
        rx.foreach(CheckoutState.tax_lines, lambda t: row(t["label"], t["amount"])),
        rx.cond(
            CheckoutState.total != "",
            row("Total", CheckoutState.total, class_name="total-row"),
        ),
        class_name="totals",
        aria_label="Totals",
        aria_live="polite",
    )


def payment() -> rx.Component:
    """The Payment Element's host and "Pay"; /checkout.js mounts Stripe.js into it."""
    return rx.el.section(
        rx.el.h2("Payment", class_name="section-title"),
        rx.el.div(
            id="payment-element",
            data_stripe_js=CheckoutState.stripe_js,
            data_publishable_key=CheckoutState.publishable_key,
            data_amount=CheckoutState.total_amount,
            data_currency=CheckoutState.currency,
            class_name="payment-element",
        ),
        # Hidden while empty, so that the page has no empty alert beside a real one (checkout.js
        # shows it with its message).
        rx.el.div(id="payment-message", role="alert", class_name="form-error", hidden=True),
        rx.el.button(
            "Pay",
            id="pay-button",
            type="button",
            disabled=~CheckoutState.can_pay,
            data_country=CheckoutState.country,
            data_region=CheckoutState.region,
            data_promo=CheckoutState.promo_code,
            class_name="button button-primary",
        ),
        # Not for people: checkout.js clicks it to have the totals priced again.
        rx.el.button(
            id="checkout-requote",
            type="button",
            hidden=True,
            aria_hidden="true",
            tab_index=-1,
            on_click=CheckoutState.requote,
        ),
        rx.el.script(src="/checkout.js", async_=True),
        aria_label="Payment",
    )


def free_order() -> rx.Component:
    """In place of the payment step when the promo code pays the whole order."""
    return rx.el.section(
        rx.el.h2("Payment", class_name="section-title"),
        rx.el.p("Nothing to pay: your promo code covers the whole order.", class_name="muted"),
        rx.el.button(
            rx.cond(CheckoutState.placing, "Placing your order…", "Place order"),
            id="place-free-order",
            type="button",
            disabled=CheckoutState.placing,
            on_click=CheckoutState.place_free_order,
            class_name="button button-primary",
        ),
        aria_label="Payment",
    )


def checkout_body() -> rx.Component:
    return rx.cond(
        CheckoutState.lines.length() > 0,  # type: ignore[attr-defined]
        rx.el.div(
            rx.el.div(summary(), billing(), class_name="checkout-details"),
            rx.el.div(
                totals(),
                rx.cond(
                    CheckoutState.problem != "",
                    rx.el.p(CheckoutState.problem, role="status", class_name="muted"),
                ),
                rx.cond(
                    CheckoutState.may_clear,
                    # Another customer's checkout may end meanwhile; without this the page
                    # would only learn of it from a reload.
                    rx.el.div(
                        rx.el.button(
                            "Check again",
                            id="check-again",
                            type="button",
                            on_click=CheckoutState.requote,
                            class_name="button",
                        ),
                        rx.el.p(CheckoutState.checked_note, role="status", class_name="muted"),
                        class_name="check-again",
                    ),
                ),
                rx.cond(CheckoutState.free, free_order(), payment()),
                class_name="checkout-payment",
            ),
            class_name="checkout-layout",
        ),
        rx.el.div(
            rx.el.p("Your cart is empty.", class_name="muted"),
            link("Browse the catalogue", to="/products", class_name="button button-primary"),
            class_name="empty-state",
        ),
    )


def checkout_page() -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                rx.el.h1("Checkout", class_name="page-title"),
                rx.cond(
                    CheckoutState.refused,
                    not_allowed_notice(),
                    rx.cond(
                        CheckoutState.checkout_loaded,
                        checkout_body(),
                        rx.el.p("Loading…", class_name="muted", aria_busy="true"),
                    ),
                ),
                class_name="container",
            ),
            class_name="section",
        )
    )


# --- /checkout/success -----------------------------------------------------------------------


class CheckoutSuccessState(BuyerState):
    outcome: str = ""  # "", "paid", "pending", "failed", "missing", "forbidden"
    order_number: str = ""
    order_total: str = ""
    order_items: list[dict[str, str]] = []
    download_links: list[dict[str, str]] = []
    failure: str = ""
    refund_note: str = ""  # a paid order refunded since, in part or in full
    free: bool = False  # paid in full by its promo code

    @rx.event
    async def load(self):
        # Own orders for buyers, every order for staff: the API's payment status rule.
        user = await self._require(READ_OWN_ORDERS, READ_ALL_ORDERS)
        if user is None:
            self.outcome = "forbidden" if self.access == "forbidden" else ""
            self.order_number = self.order_total = self.failure = self.refund_note = ""
            self.order_items, self.download_links = [], []
            return self._refusal()
        params = self.router.url.query_parameters
        reference = (params.get("order") or params.get("payment_intent") or "").strip()[:255]
        if not reference:
            self.outcome = "missing"
            return None

        def run() -> dict[str, Any]:
            with session_scope() as session:
                state = payments.refresh_status(
                    session=session,
                    user_id=user.id,
                    reference=reference,
                    see_all=user.can(READ_ALL_ORDERS),
                )
                order = orders.find_order(
                    session=session,
                    reference=state.order_id,
                    user_id=user.id,
                    see_all=user.can(READ_ALL_ORDERS),
                )
                detail = orders.order_detail(session=session, order=order)
                links = []
                if (
                    order.fulfilled_at is not None
                    and order.user_id == user.id
                    and user.can(READ_OWN_DOWNLOADS)
                ):
                    links = [
                        {"name": e.name, "file": e.file_name, "url": e.link.path}
                        for e in downloads.list_downloads(session=session, user_id=user.id)
                        if e.order_number == order.number and e.link is not None
                    ]
                return {
                    "status": order.status,
                    "paid": order.fulfilled_at is not None,
                    "free": order.total_amount == 0,
                    "number": order.number or str(order.id),
                    "total": format_money(order.total_amount, order.currency),
                    "items": [
                        {
                            "name": i.product_name,
                            "quantity": str(i.quantity),
                            "amount": format_money(i.price_at_time * i.quantity, order.currency),
                        }
                        for i in detail.items
                    ],
                    "links": links,
                    "error": payments.payment_error_for_customer(state=state, order=order),
                    "refund_note": _refund_note(session, order),
                }

        try:
            found = await asyncio.to_thread(run)
        except ShopError:
            self.outcome = "missing"
            return None
        self.order_number = found["number"]
        self.order_total = found["total"]
        self.order_items = found["items"]
        self.download_links = found["links"]
        self.failure = found["error"]
        self.refund_note = found["refund_note"]
        self.free = found["free"]
        if found["paid"]:
            self.outcome = "paid"
            await self._refresh_cart_count(user)
            checkout = await self.get_state(CheckoutState)
            checkout._forget_promo_code()
        elif found["status"] in payments.PAYABLE and not found["error"]:
            self.outcome = "pending"
        elif found["status"] == "canceled":
            self.outcome = "canceled"
        else:
            self.outcome = "failed"
        return None


def _refund_note(session: Session, order: Order) -> str:
    refunded = refunds.refunded_amount(session=session, order_id=order.id)  # type: ignore[arg-type]
    if refunded <= 0:
        return ""
    amount = format_money(refunded, order.currency)
    if order.status == OrderStatus.REFUNDED.value:  # as the receipt decides it
        return f"Your order {order.number or order.id} was paid, then refunded in full ({amount})."
    return f"Your order {order.number or order.id} is paid; {amount} of it has been refunded."


def paid_view() -> rx.Component:
    s = CheckoutSuccessState
    return rx.el.div(
        rx.el.h1(rx.cond(s.free, "Order complete", "Payment received"), class_name="page-title"),
        rx.cond(
            s.refund_note != "",
            rx.el.p(s.refund_note, role="status"),
            rx.el.p("Thank you! Your order ", rx.el.strong(s.order_number), " is paid."),
        ),
        rx.el.p("Total paid: ", rx.el.strong(s.order_total, class_name="price order-total")),
        rx.el.ul(
            rx.foreach(
                s.order_items,
                lambda i: rx.el.li(i["name"], " × ", i["quantity"], " — ", i["amount"]),
            ),
            class_name="success-items",
        ),
        rx.el.h2("Your downloads", class_name="section-title success-downloads-title"),
        rx.cond(
            s.download_links.length() > 0,  # type: ignore[attr-defined]
            rx.el.ul(
                rx.foreach(
                    s.download_links,
                    lambda d: rx.el.li(
                        # A file from the API, not a page: the browser must ask the server.
                        link(
                            "Download ",
                            d["name"],
                            " (",
                            d["file"],
                            ")",
                            to=d["url"],
                            reload_document=True,
                        )
                    ),
                ),
                class_name="success-downloads",
            ),
            rx.el.p("Your files will be listed in your account.", class_name="muted"),
        ),
        rx.el.p(
            link("All your downloads", to="/account/downloads"),
            " · ",
            rx.el.a("Receipt", href="/account/orders/" + s.order_number + "/receipt"),
        ),
    )


def back_to_checkout() -> rx.Component:
    # A full page load: the checkout page's own security policy allows Stripe.js.
    return link(
        "Back to checkout", to="/checkout", reload_document=True, class_name="button button-primary"
    )


def success_page() -> rx.Component:
    s = CheckoutSuccessState
    return page(
        rx.el.section(
            rx.el.div(
                rx.match(
                    s.outcome,
                    ("paid", paid_view()),
                    (
                        "pending",
                        rx.el.div(
                            rx.el.h1("Confirming your payment…", class_name="page-title"),
                            rx.el.p(
                                "Order ",
                                rx.el.strong(s.order_number),
                                " is waiting for the payment to be confirmed.",
                            ),
                            rx.el.button(
                                "Check again",
                                type="button",
                                on_click=s.load,
                                class_name="button button-primary",
                            ),
                        ),
                    ),
                    (
                        "failed",
                        rx.el.div(
                            rx.el.h1("The payment did not go through", class_name="page-title"),
                            rx.el.p(s.failure, role="alert", class_name="form-error"),
                            back_to_checkout(),
                        ),
                    ),
                    (
                        "canceled",
                        rx.el.div(
                            rx.el.h1("This order was canceled", class_name="page-title"),
                            rx.el.p("Order ", rx.el.strong(s.order_number), ": ", s.failure),
                            back_to_checkout(),
                        ),
                    ),
                    (
                        "missing",
                        rx.el.div(
                            rx.el.h1("Order not found", class_name="page-title"),
                            link("Your orders", to="/account/orders"),
                        ),
                    ),
                    (
                        "forbidden",
                        rx.el.div(
                            rx.el.h1("Your order", class_name="page-title"), not_allowed_notice()
                        ),
                    ),
                    rx.el.p("Loading…", class_name="muted", aria_busy="true"),
                ),
                class_name="container",
            ),
            class_name="section",
        )
    )
