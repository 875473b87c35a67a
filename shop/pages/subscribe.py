"""/subscribe/[slug]: start a membership (a product of kind `subscription`).

Sign-in required (strangers go to /login and come back here). The page shows the plan, its
price per period, "Country" and "Province" (the checkout's lists), and the tax on one period
for that address with the total, from `subscriptions.plan_tax` on the server at every change.
"Continue to payment" calls `subscriptions.start` without a card: the service checks the plan
and the buyer again, makes the Stripe Customer and the tax rates, and answers a Stripe Checkout
URL, where the browser goes. Stripe comes back to /account/subscriptions.

Every handler resolves the user from the session cookie and checks `subscriptions:manage_own`
on the server; the plan is always the one the page's address names, read again each time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import reflex as rx
from sqlmodel import Session

from shop.components.layout import link, not_allowed_notice, page
from shop.db import session_scope
from shop.pages.checkout import COUNTRIES, select_field
from shop.services import catalog, orders, products_admin, subscriptions
from shop.services.errors import InvalidInput, NotFound, ShopError
from shop.services.money import format_money
from shop.services.tax import tax_line_label
from shop.services.tax_rates import PROVINCES
from shop.state.buyer import BuyerState

MANAGE_OWN_SUBSCRIPTIONS = "subscriptions:manage_own"
ACCOUNT_PAGE = subscriptions.RETURN_PATH
MEMBERSHIPS_PAGE = "/products?category=memberships"
_SLUG_MAX = 200

INTERVAL_WORDS = {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}


def per_interval(interval: str | None) -> str:
    """ "per month" (what the product page says after the price)."""
    return f"per {interval}" if interval else ""


def billed(interval: str | None) -> str:
    """ "Billed monthly"."""
    if not interval:
        return ""
    return f"Billed {INTERVAL_WORDS.get(interval, 'every ' + interval)}"


def plan_view(session: Session, slug: str) -> dict[str, str] | None:
    """The plan's display fields (any active product: "is_plan" says whether it is one);
    None when no active product has that slug."""
    view = catalog.get_product(session=session, id_or_slug=slug)
    if view is None:
        return None
    return {
        "id": str(view.id),
        "slug": view.slug,
        "name": view.name,
        "href": view.path,
        "price": format_money(view.price_amount, view.currency),
        "per": per_interval(view.interval),
        "billed": billed(view.interval),
        "is_plan": "yes" if view.kind == "subscription" else "",
    }


def held_plan(session: Session, *, user_id: int, product_id: int) -> str | None:
    """The name of the plan of this membership that the user already holds, else None.
    `subscriptions.start` refuses such a buyer anyway; the page says so before they choose a
    province."""
    wanted = products_admin.get_product(session=session, product_id=product_id)
    held = subscriptions.held_plan(session=session, user_id=user_id, product=wanted)
    return held.name if held else None


def period_tax(
    session: Session, *, product_id: int, country: str, region: str, on: Any = None
) -> dict[str, Any]:
    """One period's tax lines and total for this address, as display strings:
    `{"lines": [{"label", "amount"}], "total": str, "hint": str}`; "hint" (and no total) while
    the address is incomplete, e.g. a Canadian one without its province."""
    product = products_admin.get_product(session=session, product_id=product_id)
    try:
        lines = subscriptions.plan_tax(
            product=product,
            billing=orders.Billing(country=country, region=region or None),
            on=on or datetime.now(UTC).date(),
        )
    except InvalidInput as exc:
        return {"lines": [], "total": "", "hint": exc.message}
    currency = product.currency
    return {
        "lines": [
            {
                "label": tax_line_label(name=line.name, rate=line.rate),
                "amount": format_money(line.amount, currency),
            }
            for line in lines
        ],
        "total": format_money(product.price_amount + sum(t.amount for t in lines), currency),
        "hint": "",
    }


def refusal_text(exc: ShopError) -> str:
    """What the page says when `start` refuses: the service's words, without the advice meant
    for API clients ("switch plans instead (PUT /api/subscriptions/…)")."""
    if exc.code == subscriptions.AlreadySubscribed.code:
        return exc.message.split(";", 1)[0].rstrip(".") + "."
    return exc.message


def start_checkout(*, user_id: int, slug: str, country: str, region: str) -> str:
    """Stripe Checkout's URL for this plan and buyer (every refusal a ShopError)."""
    with session_scope() as session:
        view = catalog.get_product(session=session, id_or_slug=slug) if slug else None
        if view is None:
            raise NotFound("This plan is not on sale.")
        product_id = view.id
    started = subscriptions.start(
        user_id=user_id,
        product_id=product_id,
        billing=orders.Billing(country=country, region=region or None),
        payment_method=None,
    )
    if not isinstance(started, subscriptions.CheckoutStarted) or not started.checkout_url:
        raise ShopError("The payment service did not answer a payment page. Try again later.")
    return started.checkout_url


class SubscribeState(BuyerState):
    plan_loaded: bool = False
    plan: dict[str, str] = {}
    country: str = "CA"
    region: str = ""
    tax_lines: list[dict[str, str]] = []
    total: str = ""
    hint: str = ""  # what to choose before the total can be shown
    problem: str = ""  # why the membership cannot be started (role="alert")
    problem_code: str = ""
    starting: bool = False
    # Whose choices the fields hold: another account in this tab starts afresh.
    _chosen_by: int | None = None

    @rx.var
    def needs_region(self) -> bool:
        return self.country == "CA"

    @rx.var
    def plan_found(self) -> bool:
        return bool(self.plan)

    @rx.var
    def is_plan(self) -> bool:
        return self.plan.get("is_plan") == "yes"

    @rx.var
    def already_subscribed(self) -> bool:
        return self.problem_code == subscriptions.AlreadySubscribed.code

    @rx.var
    def can_continue(self) -> bool:
        return (
            self.is_plan and self.total != "" and not self.starting and not self.already_subscribed
        )

    @rx.var
    def plan_title(self) -> str:
        return f"Subscribe to {self.plan['name']}" if self.plan else "Subscribe"

    def _slug(self) -> str:
        return self.router.url.path.rstrip("/").rsplit("/", 1)[-1][:_SLUG_MAX]

    def _forget(self) -> None:
        self.plan, self.tax_lines = {}, []
        self.total = self.hint = self.problem = self.problem_code = ""
        self.starting = False

    async def _price(self) -> None:
        """The tax and total for the chosen address (the plan shown must still be on sale)."""
        product_id = int(self.plan["id"]) if self.plan.get("is_plan") else None
        if product_id is None:
            self.tax_lines, self.total, self.hint = [], "", ""
            return
        country, region = self.country, self.region

        def run() -> dict[str, Any]:
            with session_scope() as session:
                return period_tax(session, product_id=product_id, country=country, region=region)

        priced = await asyncio.to_thread(run)
        self.tax_lines, self.total, self.hint = priced["lines"], priced["total"], priced["hint"]

    @rx.event
    async def load(self):
        self.plan_loaded = False
        user = await self._require(MANAGE_OWN_SUBSCRIPTIONS)
        if user is None:
            self._forget()
            return self._refusal()
        if self._chosen_by != user.id:
            self.country, self.region = "CA", ""
            self._chosen_by = user.id
        self._forget()
        slug = self._slug()

        def run() -> tuple[dict[str, str] | None, str | None]:
            with session_scope() as session:
                view = plan_view(session, slug) if slug else None
                if view is None or not view["is_plan"]:
                    return view, None
                return view, held_plan(session, user_id=user.id, product_id=int(view["id"]))

        view, held = await asyncio.to_thread(run)
        self.plan = view or {}
        if view is not None and not view["is_plan"]:
            self.problem = f"{view['name']} is not a membership: buy it through the cart."
            self.problem_code = subscriptions.NotAPlan.code
        elif held is not None:
            self.problem = f"You already subscribe to {held}."
            self.problem_code = subscriptions.AlreadySubscribed.code
        await self._price()
        self.plan_loaded = True
        return None

    async def _choose(self, country: str, region: str) -> Any:
        user = await self._require(MANAGE_OWN_SUBSCRIPTIONS)
        if user is None:
            self._forget()
            return self._refusal()
        self.country = country
        self.region = region if country == "CA" else ""
        if self.problem_code not in (
            subscriptions.NotAPlan.code,
            subscriptions.AlreadySubscribed.code,
        ):
            self.problem = self.problem_code = ""
        await self._price()
        return None

    @rx.event
    async def choose_country(self, value: str):
        return await self._choose(value if value in COUNTRIES else "CA", self.region)

    @rx.event
    async def choose_region(self, value: str):
        return await self._choose(self.country, value if value in PROVINCES else "")

    @rx.event
    async def continue_to_payment(self):
        """Start the membership at Stripe Checkout and send the browser there."""
        user = await self._require(MANAGE_OWN_SUBSCRIPTIONS)
        if user is None:
            self._forget()
            yield self._refusal()
            return
        if self.starting:
            return
        country, region, slug = self.country, self.region, self._slug()
        self.problem = self.problem_code = ""
        self.starting = True
        yield
        try:
            url = await asyncio.to_thread(
                start_checkout, user_id=user.id, slug=slug, country=country, region=region
            )
        except ShopError as exc:
            self.problem, self.problem_code = refusal_text(exc), exc.code
            self.starting = False
            return
        # Another host: the browser leaves the shop for Stripe (the same tab).
        yield rx.redirect(url)


# --- components ---------------------------------------------------------------------------------


def plan_summary() -> rx.Component:
    p = SubscribeState.plan
    return rx.el.section(
        rx.el.h2("Membership", class_name="section-title"),
        rx.el.p(rx.el.strong(p["name"])),
        rx.el.p(
            rx.el.span(p["price"], class_name="price price-large"),
            rx.el.span(" ", p["per"], class_name="per"),
            class_name="product-price",
        ),
        rx.el.ul(
            rx.el.li(p["billed"], " until you cancel; sales tax added by province"),
            rx.el.li("Download the plan's files while your membership lasts"),
            rx.el.li("Cancel any time: you keep access until the end of the paid period"),
            class_name="product-facts",
        ),
        link("About this plan", to=p["href"]),
        aria_label="Membership",
    )


def billing_fields() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Billing", class_name="section-title"),
        select_field(
            "Country", COUNTRIES, SubscribeState.country, SubscribeState.choose_country, "country"
        ),
        rx.cond(
            SubscribeState.needs_region,
            select_field(
                "Province",
                PROVINCES,
                SubscribeState.region,
                SubscribeState.choose_region,
                "province",
            ),
        ),
        aria_label="Billing",
    )


def period_totals() -> rx.Component:
    def row(label: Any, amount: Any, **props: Any) -> rx.Component:
        return rx.el.div(rx.el.dt(label), rx.el.dd(amount, class_name="price"), **props)

    s = SubscribeState
    return rx.el.dl(
        row(s.plan["name"], s.plan["price"]),
        rx.foreach(s.tax_lines, lambda t: row(t["label"], t["amount"])),
        rx.cond(
            s.total != "",
            row(rx.el.span("Total ", s.plan["per"]), s.total, class_name="total-row"),
        ),
        class_name="totals",
        aria_label="Totals",
        aria_live="polite",
    )


def refusal() -> rx.Component:
    """The one alert of the page: why the membership cannot be started."""
    s = SubscribeState
    return rx.cond(
        s.problem != "",
        rx.el.div(
            rx.el.p(s.problem),
            rx.cond(
                s.already_subscribed,
                rx.el.p(link("Your subscriptions", to=ACCOUNT_PAGE)),
            ),
            rx.cond(
                s.problem_code == subscriptions.NotAPlan.code,
                rx.el.p(link("Back to ", s.plan["name"], to=s.plan["href"])),
            ),
            class_name="notice notice-error",
            role="alert",
        ),
    )


def payment_step() -> rx.Component:
    s = SubscribeState
    return rx.el.section(
        rx.el.h2("Payment", class_name="section-title"),
        period_totals(),
        rx.cond(s.hint != "", rx.el.p(s.hint, class_name="muted")),
        refusal(),
        rx.el.p(
            "You pay on Stripe's secure page; it brings you back to your subscriptions.",
            class_name="muted",
        ),
        rx.el.button(
            "Continue to payment",
            type="button",
            disabled=~s.can_continue,
            aria_busy=s.starting,
            on_click=SubscribeState.continue_to_payment,
            class_name="button button-primary",
        ),
        rx.cond(
            s.starting,
            rx.el.p("Opening Stripe's payment page…", role="status", class_name="muted"),
        ),
        aria_label="Payment",
    )


def plan_not_found() -> rx.Component:
    return rx.el.div(
        rx.el.p("This plan is not on sale.", class_name="acct-empty-title"),
        link("See the memberships", to=MEMBERSHIPS_PAGE, class_name="button button-primary"),
        class_name="empty-state",
    )


def subscribe_body() -> rx.Component:
    return rx.cond(
        SubscribeState.plan_found,
        rx.cond(
            SubscribeState.is_plan,
            rx.el.div(
                rx.el.div(plan_summary(), billing_fields(), class_name="checkout-details"),
                rx.el.div(payment_step(), class_name="checkout-payment"),
                class_name="checkout-layout",
            ),
            refusal(),
        ),
        plan_not_found(),
    )


def subscribe_page() -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                rx.el.h1(SubscribeState.plan_title, class_name="page-title"),
                rx.cond(
                    SubscribeState.refused,
                    not_allowed_notice(),
                    rx.cond(
                        SubscribeState.plan_loaded,
                        subscribe_body(),
                        rx.el.p("Loading…", class_name="muted", aria_busy="true"),
                    ),
                ),
                class_name="container",
            ),
            class_name="section",
        )
    )
