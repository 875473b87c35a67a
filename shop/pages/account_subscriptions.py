"""/account/subscriptions: the customer's memberships, each a card with what Stripe last said.

A card shows the plan, its status, the price per period and "Renews on …", "Ends on …" (a
cancellation scheduled at the period end) or "Ended", with "Cancel subscription" (then "Yes,
cancel at period end") or "Resume". "Manage billing" opens Stripe's Billing Portal (cards,
invoices) for customers who have a Stripe account. Every change goes through
`shop.services.subscriptions`, which asks Stripe and writes what it answers, so the card shown
after a click is Stripe's.

Stripe Checkout comes back here with `?checkout=<session id>` (or `?checkout=canceled`): the
page thanks the customer and, until the new membership shows up (Stripe reports it by webhook),
re-reads the list for about a minute.

Every handler resolves the user from the session cookie and checks `subscriptions:manage_own`
on the server; a subscription id from the page is only ever looked up among the user's own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import reflex as rx
from sqlmodel import Session

from shop.components.layout import link
from shop.models import utcnow
from shop.pages.account_orders import account_frame, loading, status_badge
from shop.pages.subscribe import MEMBERSHIPS_PAGE, per_interval
from shop.services import clock, ids, subscriptions, users
from shop.services.auth import CurrentUser
from shop.services.errors import ShopError
from shop.services.money import format_money
from shop.state.buyer import BuyerState
from shop.state.catalog_data import in_session

MANAGE_OWN_SUBSCRIPTIONS = "subscriptions:manage_own"
PAGE = subscriptions.RETURN_PATH

STATUS_LABELS = {
    "active": "Active",
    "trialing": "Trial",
    "past_due": "Past due",
    "incomplete": "Incomplete",
    "incomplete_expired": "Expired",
    "unpaid": "Unpaid",
    "canceled": "Canceled",
    "paused": "Paused",
}
# The badge colours of the account pages (assets/styles.css): green, amber, red.
STATUS_TONES = {
    "active": "paid",
    "trialing": "paid",
    "past_due": "expired",
    "incomplete": "expired",
    "paused": "expired",
    "unpaid": "failed",
    "canceled": "failed",
    "incomplete_expired": "failed",
}

THANKS = "Thanks — your membership starts as soon as Stripe confirms the payment."
CHECKOUT_CANCELED = "Checkout was canceled; nothing was charged."
STILL_WAITING = (
    "Stripe has not confirmed the payment yet. It can take a few minutes: reload this page "
    "later, or see Manage billing."
)
PAST_DUE_NOTE = "The last payment did not go through: update your card with Manage billing."
# Seconds between re-reads of the list after Stripe Checkout (about a minute in all).
FOLLOW_CHECKOUT_WAITS = (1, 1, 1, 2, 2, 3, 3, 5, 5, 8, 10, 10, 10)
# A membership this recent, on the way back from Checkout, is the one just paid for.
FRESH = timedelta(minutes=30)


def shop_day(moment: datetime) -> str:
    """`29 Dec 2026`: the shop's calendar day (SHOP_TIME_ZONE) of a moment."""
    shown = clock.day_of(moment)
    return f"{shown.day} {shown:%b %Y}"


def when_text(detail: subscriptions.SubscriptionDetail) -> str:
    """ "Renews on …", "Ends on …" (cancellation at the period end) or "Ended"."""
    row = detail.subscription
    if row.status in subscriptions.ENDED:
        return "Ended"
    if row.status.startswith("incomplete") or row.current_period_end is None:
        return ""
    if row.cancel_at_period_end:
        return f"Ends on {shop_day(row.current_period_end)}"
    return f"Renews on {shop_day(row.current_period_end)}"


def subscription_card(detail: subscriptions.SubscriptionDetail) -> dict[str, str]:
    """One card's fields, as display strings ("" for no)."""
    row = detail.subscription
    current = row.status in subscriptions.CURRENT
    price = ""
    if row.price_amount is not None and row.currency:
        price = format_money(row.price_amount, row.currency)
        if row.interval:
            price += " " + per_interval(row.interval)
    return {
        "id": str(row.id),
        "name": detail.product_name or "Membership",
        "status": row.status,
        "status_label": STATUS_LABELS.get(row.status, row.status.replace("_", " ").capitalize()),
        "tone": STATUS_TONES.get(row.status, "other"),
        "price": price,
        "when": when_text(detail),
        "can_cancel": "yes" if current and not row.cancel_at_period_end else "",
        "can_resume": "yes" if current and row.cancel_at_period_end else "",
        "note": PAST_DUE_NOTE if row.status == "past_due" else "",
    }


def has_billing_account(session: Session, user_id: int) -> bool:
    """Whether the user has a Stripe Customer (made with their first subscription)."""
    return bool(users.get_user(session=session, user_id=user_id).stripe_customer_id)


def started_lately(details: list[subscriptions.SubscriptionDetail], now: datetime) -> bool:
    """Whether a membership became known here within FRESH of `now` and is current: on the way
    back from Stripe Checkout, the one just paid for (its webhook came before the page)."""
    return any(
        d.subscription.status in subscriptions.CURRENT
        and clock.local(d.subscription.created_at) >= now - FRESH
        for d in details
    )


def page_data(session: Session, user_id: int) -> dict[str, Any]:
    details = subscriptions.list_subscriptions(session=session, user_id=user_id)
    return {
        "cards": [subscription_card(detail) for detail in details],
        "has_billing": has_billing_account(session, user_id),
        "fresh": started_lately(details, utcnow()),
    }


def checkout_notice(checkout: str) -> str:
    """What the page says on Stripe Checkout's way back (`?checkout=…`)."""
    if not checkout:
        return ""
    return CHECKOUT_CANCELED if checkout == "canceled" else THANKS


def current_ids(cards: list[dict[str, str]]) -> set[str]:
    return {c["id"] for c in cards if c["status"] in subscriptions.CURRENT}


class AccountSubscriptionsState(BuyerState):
    subscriptions_loaded: bool = False
    cards: list[dict[str, str]] = []
    has_billing: bool = False
    notice: str = ""  # role="status"
    error: str = ""  # role="alert"
    confirming: str = ""  # the card whose "Cancel subscription" awaits its confirmation
    following: bool = False  # re-reading the list after Stripe Checkout
    _fresh: bool = False  # a current membership started lately (see `started_lately`)

    async def _require_member(self) -> CurrentUser | None:
        user = await self._require(MANAGE_OWN_SUBSCRIPTIONS)
        if user is None:
            self.cards, self.has_billing, self.confirming = [], False, ""
            self.notice = self.error = ""
        return user

    async def _refresh(self, user_id: int) -> None:
        data = await in_session(lambda s: page_data(s, user_id))
        self.cards, self.has_billing, self._fresh = (
            data["cards"],
            data["has_billing"],
            data["fresh"],
        )
        self.subscriptions_loaded = True

    @rx.event
    async def load(self):
        self.subscriptions_loaded = False
        self.error = self.confirming = ""
        user = await self._require_member()
        if user is None:
            return self._refusal()
        checkout = (self.router.url.query_parameters.get("checkout") or "").strip()[:255]
        self.notice = checkout_notice(checkout)
        await self._refresh(user.id)
        # Stripe's webhook may have come first: then the membership is here already.
        self.following = self.notice == THANKS and not self._fresh
        return AccountSubscriptionsState.follow_checkout if self.following else None

    @rx.event(background=True)
    async def follow_checkout(self):
        """Until Stripe reports the new membership (by webhook), re-read the list now and then:
        it has come once a membership is current that was not at the start, or started lately."""
        async with self:
            before = current_ids(self.cards)
        for wait in FOLLOW_CHECKOUT_WAITS:
            await asyncio.sleep(wait)
            async with self:
                user = await self._require_member()
                if user is None:
                    self.following = False
                    return
                await self._refresh(user.id)
                if current_ids(self.cards) - before or self._fresh:
                    self.following = False
                    return
        async with self:
            self.following = False
            if self.notice == THANKS and not current_ids(self.cards):
                self.notice = STILL_WAITING

    @rx.event
    async def refresh(self):
        user = await self._require_member()
        if user is None:
            return self._refusal()
        await self._refresh(user.id)
        return None

    @rx.event
    async def ask_cancel(self, subscription_id: str):
        """First step of "Cancel subscription": the card asks for a confirmation."""
        user = await self._require_member()
        if user is None:
            return self._refusal()
        self.error = ""
        found = ids.parse_id(subscription_id)
        self.confirming = str(found) if found is not None else ""
        return None

    @rx.event
    async def keep(self):
        """ "Keep my membership": the confirmation goes away, nothing changes."""
        user = await self._require_member()
        self.confirming = ""
        return self._refusal() if user is None else None

    async def _change(self, subscription_id: str, *, cancel: bool) -> Any:
        user = await self._require_member()
        if user is None:
            return self._refusal()
        self.error, self.confirming = "", ""
        target = ids.parse_id(subscription_id)
        if target is None:
            return None

        def run() -> subscriptions.SubscriptionDetail:
            if cancel:
                return subscriptions.cancel(user_id=user.id, subscription_id=target)
            return subscriptions.change(
                user_id=user.id, subscription_id=target, cancel_at_period_end=False
            )

        try:
            detail = await asyncio.to_thread(run)
        except ShopError as exc:
            self.error = exc.message
        else:
            card = subscription_card(detail)
            if cancel:
                self.notice = f"{card['name']} is canceled at the end of the period. " + (
                    f"You keep access until then ({card['when'].removeprefix('Ends on ')})."
                    if card["when"].startswith("Ends on")
                    else ""
                )
            else:
                self.notice = f"{card['name']} continues. {card['when']}."
            self.notice = self.notice.strip()
        await self._refresh(user.id)
        return None

    @rx.event
    async def cancel(self, subscription_id: str):
        """ "Yes, cancel at period end": Stripe ends the membership when the paid period does."""
        return await self._change(subscription_id, cancel=True)

    @rx.event
    async def resume(self, subscription_id: str):
        """Undo a cancellation scheduled at the period end."""
        return await self._change(subscription_id, cancel=False)

    @rx.event
    async def manage_billing(self):
        """To Stripe's Billing Portal for this customer (it links back here)."""
        user = await self._require_member()
        if user is None:
            return self._refusal()
        self.error = ""
        try:
            url = await in_session(lambda s: subscriptions.portal_url(session=s, user_id=user.id))
        except ShopError as exc:
            self.error = exc.message
            return None
        return rx.redirect(url)


# --- components --------------------------------------------------------------------------------


def _card_actions(card: Any) -> rx.Component:
    s = AccountSubscriptionsState
    return rx.el.div(
        rx.cond(
            card["can_cancel"] != "",
            rx.cond(
                s.confirming == card["id"],
                rx.el.div(
                    rx.el.p(
                        "Cancel at the end of the period? You keep access until then.",
                        id="confirm-cancel-" + card["id"],
                    ),
                    rx.el.button(
                        "Yes, cancel at period end",
                        type="button",
                        aria_describedby="confirm-cancel-" + card["id"],
                        on_click=s.cancel(card["id"]),  # type: ignore[operator]
                        class_name="button button-danger",
                    ),
                    rx.el.button(
                        "Keep my membership",
                        type="button",
                        on_click=s.keep,
                        class_name="button button-ghost",
                    ),
                    class_name="acct-actions",
                ),
                rx.el.button(
                    "Cancel subscription",
                    rx.el.span(" ", card["name"], class_name="visually-hidden"),
                    type="button",
                    on_click=s.ask_cancel(card["id"]),  # type: ignore[operator]
                    class_name="button button-ghost",
                ),
            ),
        ),
        rx.cond(
            card["can_resume"] != "",
            rx.el.button(
                "Resume",
                rx.el.span(" ", card["name"], class_name="visually-hidden"),
                type="button",
                on_click=s.resume(card["id"]),  # type: ignore[operator]
                class_name="button button-primary",
            ),
        ),
        class_name="acct-dl-action",
    )


def _subscription_card(card: Any) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            rx.el.h2(card["name"], class_name="acct-dl-name"),
            rx.el.dl(
                rx.el.div(
                    rx.el.dt("Status"),
                    rx.el.dd(status_badge(card["tone"], card["status_label"])),
                    class_name="acct-dl-fact",
                ),
                rx.cond(
                    card["price"] != "",
                    rx.el.div(
                        rx.el.dt("Price"), rx.el.dd(card["price"]), class_name="acct-dl-fact"
                    ),
                ),
                rx.cond(
                    card["when"] != "",
                    rx.el.div(
                        rx.el.dt("Period"), rx.el.dd(card["when"]), class_name="acct-dl-fact"
                    ),
                ),
                class_name="acct-dl-facts",
            ),
            rx.cond(card["note"] != "", rx.el.p(card["note"], class_name="form-error")),
            class_name="acct-dl-body",
        ),
        _card_actions(card),
        class_name="acct-dl",
        aria_label=card["name"],
    )


def messages() -> rx.Component:
    s = AccountSubscriptionsState
    return rx.fragment(
        rx.cond(
            s.notice != "",
            rx.el.div(rx.el.p(s.notice), class_name="notice notice-success", role="status"),
        ),
        rx.cond(
            s.error != "",
            rx.el.div(rx.el.p(s.error), class_name="notice notice-error", role="alert"),
        ),
    )


def subscriptions_list() -> rx.Component:
    s = AccountSubscriptionsState
    return rx.el.div(
        rx.el.ul(rx.foreach(s.cards, _subscription_card), class_name="acct-dl-list"),
        rx.cond(
            s.following,
            rx.el.p("Waiting for Stripe…", class_name="muted", aria_busy="true"),
        ),
    )


def no_subscriptions() -> rx.Component:
    return rx.el.div(
        rx.el.p("You have no memberships yet.", class_name="acct-empty-title"),
        rx.el.p(
            "A membership brings every file of its plan for as long as it lasts.",
            class_name="muted",
        ),
        link("See the memberships", to=MEMBERSHIPS_PAGE, class_name="button button-primary"),
        rx.cond(
            AccountSubscriptionsState.following,
            rx.el.p("Waiting for Stripe…", class_name="muted", aria_busy="true"),
        ),
        class_name="empty-state",
    )


def manage_billing() -> rx.Component:
    return rx.cond(
        AccountSubscriptionsState.has_billing,
        rx.el.div(
            rx.el.button(
                "Manage billing",
                type="button",
                on_click=AccountSubscriptionsState.manage_billing,
                class_name="button button-ghost",
            ),
            rx.el.p(
                "Your card, invoices and plan changes, on Stripe's secure page.",
                class_name="muted",
            ),
            class_name="acct-actions",
        ),
    )


def account_subscriptions_page() -> rx.Component:
    s = AccountSubscriptionsState
    return account_frame(
        PAGE,
        "Your subscriptions",
        messages(),
        rx.cond(
            s.subscriptions_loaded,
            rx.fragment(
                rx.cond(s.cards.length() > 0, subscriptions_list(), no_subscriptions()),  # type: ignore[attr-defined]
                manage_billing(),
            ),
            loading("Loading your subscriptions…"),
        ),
    )
