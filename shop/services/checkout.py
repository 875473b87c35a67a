"""Starting a checkout: place the order, making older unpaid orders give way when they hold
what it needs, then create its PaymentIntent.

Each step is its own short transaction and no transaction is open while Stripe is asked:

1. `orders.place_order` locks the limited products and the promo code, counts what other
   unpaid orders hold (`holds`) and stores the order, or names the unpaid orders that must
   give way first (`HoldsInTheWay`: the buyer's own older checkouts, holds past
   `CHECKOUT_HOLD_MINUTES`). Only the buyer's checkouts placed before this one started give
   way to it: one placed since (another tab, a second click) is newer, and this one answers
   `checkout_busy` instead, releasing nothing. So in any burst the newest placed order is
   never released by a sibling, and its request gets its PaymentIntent;
2. `release` cancels each of those at Stripe, then closes it; one whose PaymentIntent was
   paid meanwhile is fulfilled instead, and one Stripe is still processing stays firm. Then
   the placement runs again (what was released may have been sold after all);
3. `payments.create_payment_intent`; when Stripe cannot be reached or refuses, the order is
   closed (`cancel_unstarted_order`) so it holds nothing. When a newer checkout of the buyer
   replaced the order first, the answer is `checkout_busy` (not an order the client never saw).
   A free order (its promo code pays the whole total) has no PaymentIntent: it is delivered at
   once by `fulfil_free_order`.

Reconciliation uses `release` too, to close orders left unpaid UNPAID_ORDER_EXPIRY_HOURS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shop.db import session_scope
from shop.models import Order, utcnow
from shop.services import cart as carts
from shop.services import orders, payments, stripe_api
from shop.services.errors import Conflict
from shop.services.fulfilment import fulfil_free_order, fulfil_order
from shop.services.holds import HeldOrder, HoldsInTheWay
from shop.services.stripe_api import PaymentIntentInfo

log = logging.getLogger("shop.checkout")

SessionFactory = Callable[[], Any]

# Each round releases what the last one named; a hold that could not give way is firm in
# the next, so two rounds settle every case but a race with another placement.
MAX_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Release:
    """Why an unpaid order is closed: the customer's words, and Stripe's `cancellation_reason`
    for its PaymentIntent."""

    message: str
    stripe_reason: str


REPLACED = Release(
    "Replaced by a newer checkout; nothing was charged for this order.", stripe_reason="duplicate"
)
EXPIRED = Release(
    "This checkout was left unpaid too long and what it held went to another customer; "
    "nothing was charged.",
    stripe_reason="abandoned",
)
ABANDONED = Release(
    "This order was not paid in time and was closed; nothing was charged. "
    "Check out again to buy its items.",
    stripe_reason="abandoned",
)


# A burst of checkouts by one buyer (a double click, two tabs) ends with the newest placed
# order payable; the others answer 409 `checkout_busy` with this.
NEWER_CHECKOUT_MESSAGE = (
    "A newer checkout from your account (another tab, or a second click on Pay) replaced "
    "this one; nothing was charged. Continue with the newest checkout, or start again."
)


@dataclass(frozen=True, slots=True)
class StartedCheckout:
    order_id: int
    intent: PaymentIntentInfo | None  # None for a free order, delivered already
    detail: orders.OrderDetail


def start_checkout(
    *,
    buyer_id: int,
    items: list[orders.LineRequest],
    billing: orders.Billing,
    promo_code: str | None = None,
    expected_total: int | None = None,
    sessions: SessionFactory = session_scope,
) -> StartedCheckout:
    """A pending order for `items` and its PaymentIntent (see the module doc). Raises what
    `place_order` raises (`TotalChanged`, refusals) and the payment service errors."""
    started_at = utcnow()
    firm: set[int] = set()
    order_id: int | None = None
    for _round in range(MAX_ROUNDS):
        try:
            with sessions() as session:
                order = orders.place_order(
                    session=session,
                    buyer_id=buyer_id,
                    items=items,
                    billing=billing,
                    promo_code=promo_code,
                    expected_total=expected_total,
                    firm_ids=frozenset(firm),
                )
                assert order.id is not None
                order_id = order.id
            break
        except HoldsInTheWay as in_the_way:
            if any(_newer_own(held, buyer_id, started_at) for held in in_the_way.orders):
                # The buyer's own checkout placed since this one started (another tab, a second
                # click): the newest checkout wins, so this one gives way, releasing nothing.
                raise Conflict(NEWER_CHECKOUT_MESSAGE, code="checkout_busy") from None
            for held in in_the_way.orders:
                why = REPLACED if held.user_id == buyer_id else EXPIRED
                if not release(order_id=held.order_id, why=why, sessions=sessions):
                    firm.add(held.order_id)
    if order_id is None:
        # Still in the way after every round: other checkouts (another buyer's, or this
        # buyer's in another tab) keep taking what was freed.
        raise Conflict(
            "Other checkouts for the same items are going on right now; try again in a moment.",
            code="checkout_busy",
        )
    with sessions() as session:
        placed = session.get(Order, order_id)
        assert placed is not None
        if placed.total_amount == 0:
            # Its promo code paid it all: delivered now, nothing to ask Stripe.
            fulfil_free_order(session=session, order_id=order_id)
            session.refresh(placed)
            detail = orders.order_detail(session=session, order=placed)
            return StartedCheckout(order_id=order_id, intent=None, detail=detail)
    try:
        with sessions() as session:
            intent = payments.create_payment_intent(session=session, order_id=order_id)
            placed = session.get(Order, order_id)
            assert placed is not None
            detail = orders.order_detail(session=session, order=placed)
    except payments.OrderNotPayable as exc:
        # This order was closed before its PaymentIntent was attached: the buyer's newer
        # checkout replaced it (the client never heard of it, so it is not named).
        log.info("a checkout was replaced before it started", extra={"order_id": order_id})
        raise Conflict(NEWER_CHECKOUT_MESSAGE, code="checkout_busy") from exc
    except (payments.PaymentServiceUnavailable, payments.PaymentServiceRefused) as exc:
        # The client got no order id, so its retry places a new order: this one must not
        # stay pending, unpayable and holding stock, beside it.
        with sessions() as session:
            payments.cancel_unstarted_order(session=session, order_id=order_id, reason=exc.message)
        raise
    return StartedCheckout(order_id=order_id, intent=intent, detail=detail)


def start_cart_checkout(
    *,
    buyer_id: int,
    billing: orders.Billing,
    promo_code: str | None = None,
    expected_total: int | None = None,
    sessions: SessionFactory = session_scope,
) -> StartedCheckout:
    """`start_checkout` for everything in the buyer's cart (what the checkout page sells)."""
    with sessions() as session:
        cart = carts.find_cart(session=session, user_id=buyer_id)
        items = carts.view_cart(session=session, cart=cart).line_requests()
    return start_checkout(
        buyer_id=buyer_id,
        items=items,
        billing=billing,
        promo_code=promo_code,
        expected_total=expected_total,
        sessions=sessions,
    )


def _newer_own(held: HeldOrder, buyer_id: int, started_at: datetime) -> bool:
    """An unpaid order of the same buyer placed after this checkout started: a newer one."""
    return held.user_id == buyer_id and held.created_at >= started_at


def release(*, order_id: int, why: Release, sessions: SessionFactory = session_scope) -> bool:
    """Close an unpaid order so that it gives up what it holds: cancel its PaymentIntent at
    Stripe, then the order, saying `why` (`REPLACED` by its buyer's newer checkout, `EXPIRED`
    hold taken by another buyer, `ABANDONED` by reconciliation). True when it no longer holds
    anything: closed, or paid after all (Stripe said so; it is fulfilled now). False when
    Stripe is processing its payment. Raises `PaymentServiceUnavailable` when Stripe cannot be
    asked."""
    reason = why.message
    with sessions() as session:
        order = session.get(Order, order_id)
        if order is None or order.status not in payments.PAYABLE or order.fulfilled_at:
            return True
        payment_intent_id = order.stripe_payment_intent_id
        key = f"{payments.order_key(order)}:release:{why.stripe_reason}"
    if payment_intent_id is None:
        with sessions() as session:
            if payments.cancel_unstarted_order(session=session, order_id=order_id, reason=reason):
                return True
            # Its PaymentIntent was attached meanwhile: cancel that one.
            order = session.get(Order, order_id)
            if order is None or order.stripe_payment_intent_id is None:
                return True
            payment_intent_id = order.stripe_payment_intent_id
    try:
        try:
            intent = stripe_api.cancel_payment_intent(
                payment_intent_id=payment_intent_id,
                idempotency_key=key,
                reason=why.stripe_reason,
            )
        except stripe_api.StripeRefused:
            # Paid, being processed or canceled already: Stripe's answer decides.
            intent = stripe_api.retrieve_payment_intent(payment_intent_id=payment_intent_id)
    except stripe_api.StripeUnavailable as exc:
        log.warning("could not release an unpaid order's hold", extra={"order_id": order_id})
        raise payments.PaymentServiceUnavailable(payments.UNREACHABLE_MESSAGE) from exc
    except stripe_api.StripeRefused as exc:
        if exc.code != "resource_missing":
            log.error(
                "Stripe refused to release an unpaid order's payment",
                extra={"order_id": order_id, "stripe_code": exc.code},
            )
            raise payments.PaymentServiceRefused(payments.REFUSED_MESSAGE) from exc
        # This Stripe account has no such PaymentIntent (other keys since, test data deleted,
        # a restored backup): nothing can ever be paid through it.
        log.warning(
            "an unpaid order's PaymentIntent is unknown to Stripe", extra={"order_id": order_id}
        )
        with sessions() as session:
            payments.mark_canceled(session=session, order_id=order_id, reason=reason)
        return True
    with sessions() as session:
        if intent.status == "succeeded":
            fulfil_order(session=session, order_id=order_id, payment_intent=intent)
            return True
        if intent.status == "canceled":
            payments.mark_canceled(session=session, order_id=order_id, reason=reason)
            return True
    log.info(
        "an unpaid order's payment is under way: its hold stays",
        extra={"order_id": order_id, "payment_intent_status": intent.status},
    )
    return False
