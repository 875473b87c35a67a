"""Holds: what an unpaid order keeps for its buyer while they pay.

A customer's browser confirms its PaymentIntent with Stripe directly, so once an order has a
PaymentIntent the shop has no later moment to say no: whatever the order needs must be set
aside when it is placed. An unpaid order (`pending` or `failed`, not fulfilled) therefore
holds

* its quantity of every product with limited stock, and
* one use of its promo code, when the code has a redemption limit or is once per customer.

Placing an order counts what is sold or redeemed plus what other unpaid orders hold. A hold
gives way (`release`) when

* it is the same buyer's and the new order is short of what it holds: their new checkout
  replaces the older one (always, for a once-per-customer code: a reloaded checkout page must
  not lock its own buyer out of it), or
* it is older than `CHECKOUT_HOLD_MINUTES` and another checkout needs what it holds.

Giving way cancels the order's PaymentIntent at Stripe first, so it can no longer be paid;
only then is the order canceled. If Stripe says the PaymentIntent was paid meanwhile, the
order is fulfilled instead, and what it held is sold. The rows that counts are taken from
(limited products, the promo code) are locked first (`lock_scarce`), so two placements for
the last copy or the last use are decided one after the other, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy
from sqlalchemy import update
from sqlmodel import Session, col, select

from shop.models import Order, OrderItem, OrderStatus, Product, PromoCode
from shop.settings import get_settings

UNPAID = (OrderStatus.PENDING.value, OrderStatus.FAILED.value)


@dataclass(frozen=True, slots=True)
class HeldOrder:
    """One unpaid order's hold on a product's stock or a promo code's use."""

    order_id: int
    user_id: int | None
    created_at: datetime
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class Holds:
    """The holds on one product or one code, seen from one buyer placing an order now:
    `firm` ones count against them, `yielding` ones would give way (oldest first, the buyer's
    own before anyone else's)."""

    firm: list[HeldOrder] = field(default_factory=list)
    yielding: list[HeldOrder] = field(default_factory=list)

    @property
    def firm_quantity(self) -> int:
        return sum(hold.quantity for hold in self.firm)

    def minutes_until_one_yields(self, *, now: datetime) -> int:
        """When the oldest firm hold starts to give way, in whole minutes (at least 1)."""
        if not self.firm:
            return 0
        oldest = min(hold.created_at for hold in self.firm)
        seconds = (oldest + hold_duration() - now).total_seconds()
        return max(1, math.ceil(seconds / 60))


class HoldsInTheWay(Exception):
    """Placing the order needs these unpaid orders to give way first (`release`). Raised
    before anything is written, so the transaction holds nothing while Stripe is asked."""

    def __init__(self, orders: list[HeldOrder]):
        super().__init__(f"unpaid orders {[o.order_id for o in orders]} hold what it needs")
        self.orders = orders


def hold_duration() -> timedelta:
    return timedelta(minutes=get_settings().checkout_hold_minutes)


def lock_scarce(*, session: Session, product_ids: list[int], promo_code: str | None) -> None:
    """Lock the rows whose holds the placement counts, in a fixed order (products by id, then
    the code), before reading them. A no-op UPDATE takes PostgreSQL's row lock and SQLite's
    write lock; a SELECT first would let two placements read the same counts."""
    for product_id in sorted(set(product_ids)):
        session.execute(
            update(Product)
            .where(col(Product.id) == product_id, col(Product.inventory_count).is_not(None))
            .values(inventory_count=Product.inventory_count)
            .execution_options(synchronize_session=False)
        )
    if promo_code:
        session.execute(
            update(PromoCode)
            .where(col(PromoCode.code) == promo_code)
            .values(times_redeemed=PromoCode.times_redeemed)
            .execution_options(synchronize_session=False)
        )


def _split(
    held: list[HeldOrder], *, buyer_id: int | None, now: datetime, firm_ids: frozenset[int]
) -> Holds:
    cutoff = now - hold_duration()
    firm: list[HeldOrder] = []
    yielding: list[HeldOrder] = []
    for hold in held:
        own = buyer_id is not None and hold.user_id == buyer_id
        if hold.order_id not in firm_ids and (own or hold.created_at <= cutoff):
            yielding.append(hold)
        else:
            firm.append(hold)
    yielding.sort(
        key=lambda h: (not (buyer_id is not None and h.user_id == buyer_id), h.created_at)
    )
    return Holds(firm=firm, yielding=yielding)


def stock_holds(
    *,
    session: Session,
    product_ids: list[int],
    buyer_id: int | None,
    now: datetime,
    firm_ids: frozenset[int] = frozenset(),
) -> dict[int, Holds]:
    """Per product: the quantities unpaid orders hold. `firm_ids` are orders that could not
    give way (their payment is under way at Stripe)."""
    if not product_ids:
        return {}
    statement = (
        sqlalchemy.select(
            col(Order.id),
            col(Order.user_id),
            col(Order.created_at),
            col(OrderItem.product_id),
            col(OrderItem.quantity),
        )
        .join(OrderItem, col(OrderItem.order_id) == col(Order.id))
        .where(
            col(OrderItem.product_id).in_(product_ids),
            col(Order.status).in_(UNPAID),
            col(Order.fulfilled_at).is_(None),
        )
    )
    by_product: dict[int, list[HeldOrder]] = {}
    for order_id, user_id, created_at, product_id, quantity in session.execute(statement).all():
        by_product.setdefault(product_id, []).append(
            HeldOrder(order_id, user_id, created_at, quantity)
        )
    return {
        product_id: _split(held, buyer_id=buyer_id, now=now, firm_ids=firm_ids)
        for product_id, held in by_product.items()
    }


def code_holds(
    *,
    session: Session,
    promo_code_id: int,
    buyer_id: int | None,
    now: datetime,
    firm_ids: frozenset[int] = frozenset(),
) -> Holds:
    """The uses of a promo code that unpaid orders hold."""
    statement = select(Order.id, Order.user_id, Order.created_at).where(
        col(Order.promo_code_id) == promo_code_id,
        col(Order.status).in_(UNPAID),
        col(Order.fulfilled_at).is_(None),
    )
    held = []
    for order_id, user_id, created_at in session.exec(statement).all():
        assert order_id is not None
        held.append(HeldOrder(order_id, user_id, created_at))
    return _split(held, buyer_id=buyer_id, now=now, firm_ids=firm_ids)


def to_release(holds: Holds, *, short_by: int) -> list[HeldOrder]:
    """The yielding orders (in the order they give way) that free at least `short_by`."""
    chosen: list[HeldOrder] = []
    freed = 0
    for hold in holds.yielding:
        if freed >= short_by:
            break
        chosen.append(hold)
        freed += hold.quantity
    return chosen


def in_the_way(
    *,
    session: Session,
    wanted: dict[int, int],
    stock: dict[int, int],
    promo: PromoCode | None,
    buyer_id: int | None,
    now: datetime,
    firm_ids: frozenset[int] = frozenset(),
) -> list[HeldOrder]:
    """The unpaid orders that must give way for a buyer to place an order for `wanted`
    (limited product → quantity; `stock` their stock now) with `promo`. The firm holds were
    already found to leave enough (else the placement was refused); this picks the yielding
    ones to release, the buyer's own first, then the oldest."""
    chosen: list[HeldOrder] = []
    for product_id, held in stock_holds(
        session=session, product_ids=list(wanted), buyer_id=buyer_id, now=now, firm_ids=firm_ids
    ).items():
        # Only when short: a buyer may well have several unpaid orders for a product in stock
        # (and pay them all); the buyer's own give way first, then the oldest stale ones.
        free = stock[product_id] - held.firm_quantity - sum(h.quantity for h in held.yielding)
        short = wanted[product_id] - free
        if short > 0:
            chosen += to_release(held, short_by=short)
    limited = promo is not None and (promo.max_redemptions is not None or promo.once_per_customer)
    if promo is not None and promo.id is not None and limited:
        held = code_holds(
            session=session, promo_code_id=promo.id, buyer_id=buyer_id, now=now, firm_ids=firm_ids
        )
        # A buyer holds at most one use of a once-per-customer code: the new checkout's.
        own = _own(held, buyer_id) if promo.once_per_customer else []
        chosen += own
        if promo.max_redemptions is not None:
            others = Holds(firm=held.firm, yielding=[h for h in held.yielding if h not in own])
            uses = promo.times_redeemed + others.firm_quantity + len(others.yielding)
            short = uses - promo.max_redemptions + 1
            if short > 0:
                chosen += to_release(others, short_by=short)
    # One order may hold several of these (two products, a product and the code): once each.
    return list({hold.order_id: hold for hold in chosen}.values())


def _own(held: Holds, buyer_id: int | None) -> list[HeldOrder]:
    if buyer_id is None:
        return []
    return [hold for hold in held.yielding if hold.user_id == buyer_id]
