"""Fulfilment: what happens once, and only once, when an order's payment has succeeded.

`fulfil_order` is the one function behind every path that learns of a payment (the Stripe
webhook, the success page's status check, server-side confirmation). It is safe to call any
number of times, from any number of threads or processes at once:

* the order is claimed by one conditional `UPDATE orders … WHERE fulfilled_at IS NULL`; the
  database lets exactly one transaction change that row (PostgreSQL makes the others wait on
  the row lock and then re-check the condition; SQLite serializes writers), and only the
  transaction that changed it goes on;
* everything it then makes is also guarded by a unique constraint and inserted with
  `ON CONFLICT DO NOTHING`: one download grant per (order item, file), one promo redemption per
  (code, order), one receipt per order — so even a bug in the claim could not double them;
* it all happens in the caller's transaction: if anything fails, the claim rolls back too and
  the next delivery of the event tries again. The receipt is sent after commit.

`fulfil_free_order` delivers, through the same claim and the same steps, an order that its
promo code paid in full: a total of 0 has no PaymentIntent (Stripe charges nothing below 0.50).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, col, select

from shop.models import (
    Cart,
    CartItem,
    DownloadGrant,
    Order,
    OrderEmail,
    OrderItem,
    OrderStatus,
    Product,
    ProductFile,
    Subscription,
    utcnow,
)
from shop.services.catalog_cache import bump_catalog_version
from shop.services.catalog_events import after_commit
from shop.services.stripe_api import PaymentIntentInfo, happened_at
from shop.settings import get_settings

log = logging.getLogger("shop.fulfilment")

RECEIPT = "receipt"


@dataclass(frozen=True, slots=True)
class FulfilmentOutcome:
    """`fulfilled_now` is True for exactly one call per order; `problem` explains a refusal."""

    order_id: int
    fulfilled_now: bool
    status: str | None
    problem: str | None = None


def insert_ignoring_conflicts(
    session: Session, model: type[SQLModel], values: dict[str, Any]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL; True when a row went in."""
    table: Any = model.__table__  # type: ignore[attr-defined]
    statement = _insert_ignoring(table, session.get_bind().dialect.name)
    return session.execute(statement, values).first() is not None


@lru_cache(maxsize=64)
def _insert_ignoring(table: Any, dialect: str) -> Any:
    """Built once per table (the values go as parameters): this runs on every webhook."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING, not rowcount: psycopg reports -1 rows for INSERT … ON CONFLICT DO NOTHING.
    return insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)


def payment_problem(order: Order, payment_intent: PaymentIntentInfo) -> str | None:
    """Why this PaymentIntent does not pay for this order, or None when it does."""
    if payment_intent.status != "succeeded":
        return f"the payment has status {payment_intent.status}"
    if order.stripe_invoice_id is not None:
        # A subscription's invoice: Stripe made its PaymentIntent, which names no order; the
        # order was made for exactly that PaymentIntent.
        if payment_intent.id != order.stripe_payment_intent_id:
            return "the payment is for another order"
    elif payment_intent.metadata.get("order_id") != str(order.id):
        return "the payment is for another order"
    if order.stripe_payment_intent_id not in (None, payment_intent.id):
        return "the order has another payment"
    if payment_intent.currency.lower() != order.currency.lower():
        return f"currency {payment_intent.currency} differs from the order's {order.currency}"
    if payment_intent.amount != order.total_amount:
        return f"amount {payment_intent.amount} differs from the order's {order.total_amount}"
    return None


def fulfil_order(
    *,
    session: Session,
    order_id: int,
    payment_intent: PaymentIntentInfo,
    paid_at: int = 0,
    now: datetime | None = None,
) -> FulfilmentOutcome:
    """Mark the order paid and deliver it, exactly once; later calls change nothing.

    `paid_at` (Unix time) is when Stripe took the payment, when the caller knows it: the
    `payment_intent.succeeded` event's time, else the charge's (`payment_intent.charged_at`).
    A payment the shop hears of late (webhooks held up, found by reconciliation) is then paid
    on its own day in the analytics and on the receipt; never later than now."""
    now = now or utcnow()
    paid = happened_at(paid_at or payment_intent.charged_at, now=now)
    order = session.get(Order, order_id)
    if order is None:
        log.warning("payment for an unknown order", extra={"order_id": order_id})
        return FulfilmentOutcome(order_id, False, None, "no such order")
    problem = payment_problem(order, payment_intent)
    if problem is not None:
        if payment_intent.status == "succeeded":
            # Money was taken but does not match: never fulfil, make it loud for the merchant.
            log.error(
                "payment does not match its order: not fulfilled",
                extra={
                    "order_id": order_id,
                    "payment_intent": payment_intent.id,
                    "problem": problem,
                },
            )
        return FulfilmentOutcome(order_id, False, order.status, problem)
    return _claim_and_deliver(
        session, order, paid=paid, now=now, payment_intent_id=payment_intent.id
    )


def fulfil_free_order(
    *, session: Session, order_id: int, now: datetime | None = None
) -> FulfilmentOutcome:
    """Deliver an order its promo code paid in full (total 0: no card, no PaymentIntent),
    exactly once, as `fulfil_order` delivers a paid one."""
    now = now or utcnow()
    order = session.get(Order, order_id)
    if order is None:
        return FulfilmentOutcome(order_id, False, None, "no such order")
    if order.total_amount != 0 or order.stripe_payment_intent_id or order.stripe_invoice_id:
        return FulfilmentOutcome(order_id, False, order.status, "the order is not free")
    if order.status != OrderStatus.PENDING.value:
        return FulfilmentOutcome(order_id, False, order.status, f"the order is {order.status}")
    return _claim_and_deliver(session, order, paid=now, now=now, payment_intent_id=None)


def _claim_and_deliver(
    session: Session,
    order: Order,
    *,
    paid: datetime,
    now: datetime,
    payment_intent_id: str | None,
) -> FulfilmentOutcome:
    from shop.services import promo_codes, receipts, refunds

    order_id = order.id
    assert order_id is not None
    claimed: Any = session.execute(
        update(Order)
        .where(Order.id == order_id, Order.fulfilled_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(
            status=OrderStatus.PAID.value,
            paid_at=paid,
            fulfilled_at=now,
            payment_error=None,
            stripe_payment_intent_id=payment_intent_id,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        session.refresh(order)
        return FulfilmentOutcome(order_id, False, order.status)
    # What the claim wrote, without reading the row back.
    for name, value in (
        ("status", OrderStatus.PAID.value),
        ("paid_at", paid),
        ("fulfilled_at", now),
        ("payment_error", None),
        ("stripe_payment_intent_id", payment_intent_id),
        ("updated_at", now),
    ):
        set_committed_value(order, name, value)

    settings = get_settings()
    items = session.exec(
        select(OrderItem).where(OrderItem.order_id == order_id).order_by(col(OrderItem.id))
    ).all()
    product_ids = sorted({item.product_id for item in items})
    products = {
        product.id: product
        for product in session.exec(select(Product).where(col(Product.id).in_(product_ids)))
    }
    files_of: dict[int, list[ProductFile]] = {}
    for product_file in session.exec(
        select(ProductFile)
        .where(col(ProductFile.product_id).in_(product_ids))
        .order_by(col(ProductFile.id))
    ):
        files_of.setdefault(product_file.product_id, []).append(product_file)
    # Products in id order, as placing an order locks them: two transactions never wait on
    # each other's rows in opposite orders.
    for item in sorted(items, key=lambda line: line.product_id):
        _take_from_inventory(session, item)
    membership_ends = _membership_period_end(session, order)
    for item in items:
        product = products.get(item.product_id)
        days = (product.download_days if product else None) or settings.default_download_days
        limit = (product.download_limit if product else None) or settings.default_download_limit
        expires_at = now + timedelta(days=days)
        if membership_ends is not None:
            # A member downloads the plan's files while the period paid for lasts (an ended
            # membership revokes them: `subscriptions.revoke_grants`).
            expires_at = max(expires_at, membership_ends)
        for product_file in files_of.get(item.product_id, []):
            insert_ignoring_conflicts(
                session,
                DownloadGrant,
                {
                    "order_item_id": item.id,
                    "product_file_id": product_file.id,
                    "user_id": order.user_id,
                    "expires_at": expires_at,
                    "download_limit": limit,
                    "download_count": 0,
                    "created_at": now,
                },
            )
    if order.promo_code_id is not None:
        promo_codes.record_redemption(
            session=session,
            promo_code_id=order.promo_code_id,
            order_id=order_id,
            user_id=order.user_id,
            discount_amount=order.discount_amount,
        )
    if order.user_id is not None:
        _remove_bought_from_cart(session, user_id=order.user_id, items=items)
    receipts.queue_receipt(session=session, order=order, now=now)
    # Refunds Stripe reported before this payment's own event (shuffled webhooks) apply now.
    if refunds.refunded_amount(session=session, order_id=order_id) > 0:
        refunds.follow_refunds(session=session, order_id=order_id, now=now)
    log.info("order fulfilled", extra={"order_id": order_id, "payment_intent": payment_intent_id})
    return FulfilmentOutcome(order_id, True, order.status)


def _membership_period_end(session: Session, order: Order) -> datetime | None:
    """The end of the period a membership's invoice paid for, for that invoice's order."""
    if order.subscription_id is None:
        return None
    subscription = session.get(Subscription, order.subscription_id)
    return subscription.current_period_end if subscription is not None else None


def _remove_bought_from_cart(session: Session, *, user_id: int, items: Sequence[OrderItem]) -> None:
    """What was just bought leaves the buyer's cart (anything added since stays)."""
    session.execute(
        delete(CartItem)
        .where(
            col(CartItem.cart_id).in_(select(Cart.id).where(Cart.user_id == user_id)),
            col(CartItem.product_id).in_([item.product_id for item in items]),
        )
        .execution_options(synchronize_session=False)
    )


def _take_from_inventory(session: Session, item: OrderItem) -> None:
    """One decrement per fulfilled line; a limited product never goes below zero.

    The customer has paid by now, so a line that finds the stock gone is still delivered
    (digital goods) and logged for the merchant.
    """
    stock = col(Product.inventory_count)
    left = session.execute(
        update(Product)
        .where(col(Product.id) == item.product_id, stock.is_not(None))
        .values(inventory_count=case((stock >= item.quantity, stock - item.quantity), else_=0))
        .returning(stock)
        .execution_options(synchronize_session=False)
    ).first()
    if left is not None:
        # Stock is public (sold out shows on the storefront): cached catalog answers expire.
        after_commit(session, bump_catalog_version)
        if left[0] == 0:
            log.info("product sold out", extra={"product_id": item.product_id})


def grants_for_order(*, session: Session, order_id: int) -> list[DownloadGrant]:
    return list(
        session.exec(
            select(DownloadGrant)
            .join(OrderItem, DownloadGrant.order_item_id == OrderItem.id)  # type: ignore[arg-type]
            .where(OrderItem.order_id == order_id)
            .order_by(DownloadGrant.id)  # type: ignore[arg-type]
        ).all()
    )


def receipt_row(*, session: Session, order_id: int) -> OrderEmail | None:
    return session.exec(
        select(OrderEmail).where(OrderEmail.order_id == order_id, OrderEmail.kind == RECEIPT)
    ).first()
