"""Refunds: staff refund an order through Stripe; Stripe's answer and webhooks record it, once.

* `refund_order` is what staff call (API and admin page): it checks the amount against what is
  left to refund and support's policy (unless the user holds `refunds:unlimited`: at most
  REFUND_SUPPORT_MAX_CENTS refunded of an order in all, within REFUND_SUPPORT_MAX_DAYS of
  payment), asks Stripe with our own idempotency key, then records the answer at once — nothing
  is written before Stripe has said yes.
* `record_refund` is the one idempotent function behind every path that learns of a refund:
  that API answer, the `refund.created`/`refund.updated`/`charge.refunded` webhooks and
  reconciliation. The refund's unique Stripe id makes a second recording a no-op; the order's
  row lock (taken first) serialises refunds of one order, so their sum is always right.
* The order follows the sum of its refunds: `partially_refunded`, then `refunded`. The change
  to `refunded` is a conditional UPDATE that succeeds once, and only that transaction revokes
  the download grants and puts the items back in stock.
* A refund that later fails or is canceled no longer counts: the order goes back to
  `partially_refunded` or `paid`, and leaving `refunded` gives the downloads back and takes
  the items from stock again (logged and audited for the merchant).
* The customer gets an email per refund, after commit; every refund is in the audit log.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, update
from sqlmodel import Session, col, select

from shop.models import (
    DownloadGrant,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Refund,
    RefundStatus,
    User,
    utcnow,
)
from shop.services import audit, ids, mail, stripe_api
from shop.services.auth import CurrentUser, Forbidden
from shop.services.catalog_cache import bump_catalog_version
from shop.services.catalog_events import after_commit
from shop.services.errors import Conflict, InvalidInput, NotFound, ShopError
from shop.services.fulfilment import insert_ignoring_conflicts
from shop.services.money import format_money
from shop.services.stripe_api import RefundInfo
from shop.settings import get_settings

log = logging.getLogger("shop.refunds")

UNLIMITED = "refunds:unlimited"
REFUNDABLE = (OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value)
# A refund that fails or is canceled after counting moves an order back out of these.
REOPENABLE = (OrderStatus.REFUNDED.value, OrderStatus.PARTIALLY_REFUNDED.value)
MAX_REASON = 500
FINAL_REFUND_STATUSES = (RefundStatus.FAILED, RefundStatus.CANCELED)


class RefundServiceUnavailable(ShopError):
    status_code = 503
    code = "payment_service_unavailable"


class OverPolicy(Forbidden):
    code = "refund_over_policy"


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    """What a staff refund did: the Stripe refund and where the order stands after it."""

    order_id: int
    order_number: str | None
    refund_id: str
    amount: int
    currency: str
    refunded_total: int
    order_status: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a refund changed: a new refund row, its status, the order's status."""

    order_id: int | None
    new_refund: bool = False
    refund_status_changed: bool = False
    order_status_changed: bool = False

    @property
    def changed(self) -> bool:
        return self.new_refund or self.refund_status_changed or self.order_status_changed


def refunded_amount(*, session: Session, order_id: int) -> int:
    """The sum of the order's refunds that take money back (pending or succeeded)."""
    total = session.exec(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.order_id == order_id, col(Refund.status).in_(RefundStatus.COUNTED)
        )
    ).one()
    return int(total or 0)


def refunds_of(*, session: Session, order_id: int) -> list[Refund]:
    return list(
        session.exec(select(Refund).where(Refund.order_id == order_id).order_by(col(Refund.id)))
    )


def check_policy(
    *, actor: CurrentUser, order: Order, amount: int, already: int, now: datetime
) -> None:
    """Support may refund only a small part of a recent order; raises 403 beyond that.

    The cap is on what the order has had back in all: `already` (its refunds still taking money
    back, whoever made them: support, an administrator or the Stripe dashboard) plus `amount`.
    Counted per refund, a few refunds below the cap would add up to any amount; and a refund on
    top of an administrator's is beyond what support may decide alone."""
    if actor.can(UNLIMITED):
        return
    settings = get_settings()
    limit = settings.refund_support_max_cents
    if already + amount > limit:
        cap = format_money(limit, order.currency)
        if already == 0:
            raise OverPolicy(f"Refunds above {cap} need an administrator.")
        raise OverPolicy(
            f"Refunds above {cap} of an order in all need an administrator: "
            f"{format_money(already, order.currency)} of order {order.number} is refunded "
            f"already, so at most {format_money(max(limit - already, 0), order.currency)} more."
        )
    paid_at = order.paid_at or order.created_at
    if now - paid_at > timedelta(days=settings.refund_support_max_days):
        raise OverPolicy(
            f"Orders paid more than {settings.refund_support_max_days} days ago "
            "can only be refunded by an administrator."
        )


def refund_key(
    *, order_id: int, already: int, amount: int, actor_id: int, reason: str, failed: int = 0
) -> str:
    """Same request again (a retry, a double click) → same key → Stripe answers the same refund.
    `failed` (the order's refunds that failed or were canceled) makes a new attempt after a
    failure a new request, not a replay of the failed one."""
    digest = hashlib.sha256(reason.encode()).hexdigest()[:12]
    return f"order:{order_id}:refund:{already}:{failed}:{amount}:{actor_id}:{digest}"


def refund_order(
    *,
    session: Session,
    order_id: int,
    actor: CurrentUser,
    amount: int | None = None,
    reason: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> RefundOutcome:
    """Refund `amount` (default: all that is left) of a paid order through Stripe."""
    now = now or utcnow()
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"No order {order_id}.")
    if order.status == OrderStatus.REFUNDED.value:
        raise InvalidInput(
            f"Order {order.number} is refunded in full already.",
            code="amount_too_large",
            field="amount",
        )
    if (
        order.status not in REFUNDABLE
        or order.fulfilled_at is None
        or not order.stripe_payment_intent_id
    ):
        raise Conflict(f"Order {order.number} is {order.status}; only paid orders are refunded.")
    already = refunded_amount(session=session, order_id=order_id)
    remaining = order.total_amount - already
    if amount is None:
        amount = remaining
    if isinstance(amount, bool) or amount < 1:
        raise InvalidInput("The amount must be at least 1 (minor units).", field="amount")
    if amount > remaining:
        raise InvalidInput(
            f"At most {format_money(max(remaining, 0), order.currency)} of order {order.number} "
            "is left to refund.",
            code="amount_too_large",
            field="amount",
        )
    check_policy(actor=actor, order=order, amount=amount, already=already, now=now)
    text = (reason or "").strip()[:MAX_REASON]
    # Nothing is written before Stripe answers (so no lock is held while it thinks).
    try:
        info = stripe_api.create_refund(
            payment_intent_id=order.stripe_payment_intent_id,
            amount=amount,
            metadata={
                "order_id": str(order_id),
                "order_number": order.number or "",
                "requested_by": actor.email,
                "reason": text,
            },
            idempotency_key=refund_key(
                order_id=order_id,
                already=already,
                amount=amount,
                actor_id=actor.id,
                reason=text,
                failed=_failed_refunds(session, order_id),
            ),
        )
    except stripe_api.StripeUnavailable as exc:
        raise RefundServiceUnavailable(
            "The payment service cannot be reached; try again (a retry never refunds twice)."
        ) from exc
    except stripe_api.StripeRefused as exc:
        if exc.code in ("amount_too_large", "charge_already_refunded"):
            raise InvalidInput(str(exc), code="amount_too_large", field="amount") from exc
        raise Conflict(f"Stripe refused the refund: {exc}", code="refund_refused") from exc
    record_refund(session=session, refund=info, now=now)
    audit.record(
        session=session,
        action="order.refund",
        actor=actor,
        target=f"order:{order_id}",
        ip=ip,
        details={
            "order_number": order.number,
            "refund_id": info.id,
            "amount": info.amount,
            "currency": info.currency,
            "reason": text,
        },
    )
    session.refresh(order)
    return RefundOutcome(
        order_id=order_id,
        order_number=order.number,
        refund_id=info.id,
        amount=info.amount,
        currency=info.currency,
        refunded_total=refunded_amount(session=session, order_id=order_id),
        order_status=order.status,
    )


def _failed_refunds(session: Session, order_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Refund)
            .where(Refund.order_id == order_id, col(Refund.status).in_(FINAL_REFUND_STATUSES))
        ).one()
    )


def order_for_refund(*, session: Session, refund: RefundInfo) -> Order | None:
    """The order a Stripe refund belongs to: by its PaymentIntent (the money's truth)."""
    if refund.payment_intent_id:
        order = session.exec(
            select(Order).where(Order.stripe_payment_intent_id == refund.payment_intent_id)
        ).first()
        if order is not None:
            return order
    order = ids.get_row(session, Order, refund.metadata.get("order_id", ""))
    if order is not None and order.stripe_payment_intent_id in (None, refund.payment_intent_id):
        return order
    return None


def record_refund(*, session: Session, refund: RefundInfo, now: datetime | None = None) -> Recorded:
    """Record a Stripe refund against its order, once, and bring the order's status up to date."""
    now = now or utcnow()
    order = order_for_refund(session=session, refund=refund)
    if order is None or order.id is None:
        log.info("a refund for no order of this shop", extra={"refund": refund.id})
        return Recorded(order_id=None)
    order_id = order.id
    # The order's row lock first: refunds of one order are recorded one at a time.
    session.execute(
        update(Order)
        .where(col(Order.id) == order_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    requested_by = refund.metadata.get("requested_by") or None
    reason = refund.metadata.get("reason") or refund.reason or None
    inserted = insert_ignoring_conflicts(
        session,
        Refund,
        {
            "order_id": order_id,
            "stripe_refund_id": refund.id,
            "amount": refund.amount,
            "currency": refund.currency,
            "status": refund.status,
            "reason": (reason or "")[:MAX_REASON] or None,
            "source": "shop" if requested_by else "stripe",
            "requested_by": requested_by,
            "created_at": now,
            "updated_at": now,
        },
    )
    status_changed = False
    if not inserted:
        result: Any = session.execute(
            update(Refund)
            .where(
                col(Refund.stripe_refund_id) == refund.id,
                col(Refund.status) != refund.status,
                # Failed and canceled are final at Stripe: a late, older event cannot undo them.
                col(Refund.status).not_in(FINAL_REFUND_STATUSES),
            )
            .values(status=refund.status, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        status_changed = bool(result.rowcount)
    order_changed = follow_refunds(session=session, order_id=order_id, now=now)
    if inserted:
        audit.record(
            session=session,
            action="refund.recorded",
            actor_email=requested_by or "stripe",
            target=f"order:{order_id}",
            details={
                "order_number": order.number,
                "refund_id": refund.id,
                "amount": refund.amount,
                "currency": refund.currency,
                "status": refund.status,
                "source": "shop" if requested_by else "stripe",
            },
        )
        if refund.status in RefundStatus.COUNTED:
            _email_customer(session, order_id, refund)
    return Recorded(
        order_id=order_id,
        new_refund=inserted,
        refund_status_changed=status_changed,
        order_status_changed=order_changed,
    )


def follow_refunds(*, session: Session, order_id: int, now: datetime | None = None) -> bool:
    """Move a paid order to partially_refunded / refunded as its refunds add up; True if moved."""
    now = now or utcnow()
    order = session.get(Order, order_id, populate_existing=True)
    if order is None or order.fulfilled_at is None:
        return False
    total = refunded_amount(session=session, order_id=order_id)
    if total < order.total_amount and order.status in REOPENABLE:
        return _reopen(session, order, total, now)
    if total <= 0:
        return False
    if total >= order.total_amount:
        claimed: Any = session.execute(
            update(Order)
            .where(
                col(Order.id) == order_id,
                col(Order.status) != OrderStatus.REFUNDED.value,
                col(Order.fulfilled_at).is_not(None),
            )
            .values(status=OrderStatus.REFUNDED.value, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            return False
        _set_grants_revoked(session, order_id, now)
        _move_stock(session, order_id, back_in=True)
        log.info("order refunded in full", extra={"order_id": order_id})
        session.refresh(order)
        return True
    moved: Any = session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.status) == OrderStatus.PAID.value)
        .values(status=OrderStatus.PARTIALLY_REFUNDED.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)
    return bool(moved.rowcount)


def _reopen(session: Session, order: Order, total: int, now: datetime) -> bool:
    """A refund failed or was canceled after it counted: the order goes back to what its
    remaining refunds say. Leaving `refunded` (a conditional UPDATE, once) gives the downloads
    back and takes the items from stock again; the merchant hears of it in the log and audit."""
    order_id: int = order.id  # type: ignore[assignment]
    target = OrderStatus.PARTIALLY_REFUNDED.value if total > 0 else OrderStatus.PAID.value
    if order.status == target:
        return False
    moved: Any = session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.status) == order.status)
        .values(status=target, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    if order.status == OrderStatus.REFUNDED.value:
        _set_grants_revoked(session, order_id, None)
        _move_stock(session, order_id, back_in=False)
    log.warning(
        "a refund did not go through: order reopened",
        extra={"order_id": order_id, "status": target, "refunded": total},
    )
    audit.record(
        session=session,
        action="order.refund_reversed",
        actor_email="stripe",
        target=f"order:{order_id}",
        details={"order_number": order.number, "status": target, "refunded_total": total},
    )
    session.refresh(order)
    return True


def _set_grants_revoked(session: Session, order_id: int, revoked_at: datetime | None) -> None:
    """Revoke the order's download grants (a full refund), or give them back (None: that
    refund failed later; only a full refund revokes grants, so all revoked ones came from it)."""
    item_ids = select(OrderItem.id).where(OrderItem.order_id == order_id)
    revoked = col(DownloadGrant.revoked_at)
    session.execute(
        update(DownloadGrant)
        .where(
            col(DownloadGrant.order_item_id).in_(item_ids),
            revoked.is_not(None) if revoked_at is None else revoked.is_(None),
        )
        .values(revoked_at=revoked_at)
        .execution_options(synchronize_session=False)
    )


def _move_stock(session: Session, order_id: int, *, back_in: bool) -> None:
    """Put a fully refunded order's items back in stock, or (`back_in=False`, the refund failed
    later) take them again, never below zero; only products that count their stock."""
    items = session.exec(select(OrderItem).where(OrderItem.order_id == order_id)).all()
    stock = col(Product.inventory_count)
    moved = 0
    for item in items:
        level = (
            stock + item.quantity
            if back_in
            else case((stock >= item.quantity, stock - item.quantity), else_=0)
        )
        result: Any = session.execute(
            update(Product)
            .where(col(Product.id) == item.product_id, stock.is_not(None))
            .values(inventory_count=level)
            .execution_options(synchronize_session=False)
        )
        moved += result.rowcount or 0
    if moved:
        # A sold-out product may be for sale again (or sold out now): the public catalog
        # cache must hear of it.
        after_commit(session, bump_catalog_version)


def _email_customer(session: Session, order_id: int, refund: RefundInfo) -> None:
    order = session.get(Order, order_id)
    user = session.get(User, order.user_id) if order and order.user_id else None
    if order is None or user is None:
        return
    settings = get_settings()
    total = refunded_amount(session=session, order_id=order_id)
    money = format_money(refund.amount, refund.currency)
    full = total >= order.total_amount
    lines = [
        f"We have refunded {money} of your order {order.number} from {settings.shop_name}.",
        "",
        f"Refunded so far: {format_money(total, order.currency)} "
        f"of {format_money(order.total_amount, order.currency)}.",
        "",
        "The money goes back to the card you paid with; banks usually show it within 5 to 10 "
        "business days.",
    ]
    if full:
        lines += ["", "As the order is refunded in full, its download links no longer work."]
    mail.send_after_commit(
        session,
        mail.Mail(
            to=user.email,
            subject=f"Refund of {money} for order {order.number}",
            text="\n".join(lines) + "\n",
        ),
    )
