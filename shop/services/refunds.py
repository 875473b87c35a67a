"""Refunds: staff refund an order through Stripe; Stripe's answer and webhooks record it, once.

* `refund_order` is what staff call (API and admin page), in three short steps, none of them
  holding a transaction open while Stripe is asked:
  1. under the order's row lock, it checks the amount against what is left to refund and
     support's policy (unless the user holds `refunds:unlimited`: at most
     REFUND_SUPPORT_MAX_CENTS refunded of an order in all, within REFUND_SUPPORT_MAX_DAYS of
     payment), counting the order's recorded refunds *and* those being asked for right now,
     and reserves its amount (a `RefundReservation`, keyed by the Stripe idempotency key), then
     commits. Two refunds sent at once are checked one after the other, so together they can
     pass neither the cap nor the order's total; the same request sent again while Stripe is
     asked finds its own reservation and is told the refund is under way (409), so Stripe is
     asked once;
  2. it asks Stripe with that key (the refund's metadata carries it too);
  3. it records Stripe's answer, which deletes the reservation in the same transaction (so
     the amount counts as reserved or as refunded, never both, never neither); a refusal
     deletes the reservation; an ask that went unanswered (Stripe unreachable) leaves it
     counting, for the same request to ask again with the same key, and for webhooks or
     reconciliation to record whatever Stripe did; unclaimed, it lapses after an hour (or two
     reconciliation intervals, if longer). Once that refund is recorded, the same request is
     a new refund (the key follows the order's refunded total, so that two equal partial
     refunds can be made on purpose): the 503 tells staff to check the order first.
* `record_refund` is the one idempotent function behind every path that learns of a refund:
  that API answer, the `refund.created`/`refund.updated`/`charge.refunded` webhooks and
  reconciliation. The refund's unique Stripe id makes a second recording a no-op; the order's
  row lock (taken first) serialises refunds of one order, so their sum is always right. Whichever
  path records a refund the shop asked for first deletes its reservation.
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

from sqlalchemy import case, delete, func, update
from sqlmodel import Session, col, select

from shop.db import writer_turn
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
from shop.models.refunds import RefundReservation
from shop.services import audit, ids, mail, payments, stripe_api
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
# The refund's metadata entry naming the reservation (the idempotency key) it was asked under.
RESERVATION_KEY = "refund_key"
# Longer than one ask of Stripe can take (REQUEST_TIMEOUT_SECONDS, retried NETWORK_RETRIES
# times): a reservation still "calling" after this belongs to a request that died mid-call.
CALL_WINDOW = timedelta(minutes=5)


# Stripe may have made the refund (or make it when it is reachable again) without the shop
# hearing of it: once it is recorded on the order, the same request is a new refund (two equal
# partial refunds are allowed), so staff must look before asking again.
UNANSWERED_MESSAGE = (
    "The payment service did not answer, so this refund may still go through. Check the "
    "order's refunds in a few minutes before asking again: once it shows there, asking again "
    "makes a second refund."
)


class RefundServiceUnavailable(ShopError):
    status_code = 503
    code = "payment_service_unavailable"


class OverPolicy(Forbidden):
    code = "refund_over_policy"


class RefundInProgress(Conflict):
    code = "refund_in_progress"


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
    *,
    actor: CurrentUser,
    order: Order,
    amount: int,
    already: int,
    now: datetime,
    asked_now: int = 0,
) -> None:
    """Support may refund only a small part of a recent order; raises 403 beyond that.

    The cap is on what the order has had back in all: `already` (its refunds still taking money
    back, whoever made them: support, an administrator or the Stripe dashboard), `asked_now`
    (the refunds of it the shop is asking Stripe for right now) and `amount`.
    Counted per refund, a few refunds below the cap would add up to any amount; and a refund on
    top of an administrator's is beyond what support may decide alone."""
    if actor.can(UNLIMITED):
        return
    settings = get_settings()
    limit = settings.refund_support_max_cents
    counted = already + asked_now
    if counted + amount > limit:
        cap = format_money(limit, order.currency)
        if counted == 0:
            raise OverPolicy(f"Refunds above {cap} need an administrator.")
        how = "is refunded already" if asked_now == 0 else "is refunded or being refunded"
        raise OverPolicy(
            f"Refunds above {cap} of an order in all need an administrator: "
            f"{format_money(counted, order.currency)} of order {order.number} {how}, "
            f"so at most {format_money(max(limit - counted, 0), order.currency)} more."
        )
    paid_at = order.paid_at or order.created_at
    if now - paid_at > timedelta(days=settings.refund_support_max_days):
        raise OverPolicy(
            f"Orders paid more than {settings.refund_support_max_days} days ago "
            "can only be refunded by an administrator."
        )


def refund_key(
    *, order: Order, already: int, amount: int | None, actor_id: int, reason: str, failed: int = 0
) -> str:
    """Same request again (a retry, a double click) → same key → the same reservation, and
    Stripe answers the same refund. `amount` is the one asked for (None: all that is left), so
    the key is known before what is reserved is. `already` (the order's recorded refunds) makes
    an identical refund asked for after this one is recorded a new refund; `failed` (its refunds
    that failed or were canceled) does the same after a failure."""
    digest = hashlib.sha256(reason.encode()).hexdigest()[:12]
    asked = "all" if amount is None else str(amount)
    return f"{payments.order_key(order)}:refund:{already}:{failed}:{asked}:{actor_id}:{digest}"


def reservation_ttl() -> timedelta:
    """How long a reservation counts unless its refund is recorded or refused: past the time
    webhooks, or two reconciliation passes, take to record a refund whose answer was lost."""
    every = timedelta(minutes=2 * get_settings().reconcile_every_minutes)
    return max(timedelta(hours=1), every)


@dataclass(frozen=True, slots=True)
class _Ask:
    """A reserved refund, and what Stripe is asked with (the same on every ask with its key)."""

    key: str
    amount: int
    payment_intent_id: str
    order_number: str
    requested_by: str


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
    """Refund `amount` (default: all that is left) of a paid order through Stripe.

    Commits the session (the reservation, before Stripe is asked): pass a fresh one."""
    now = now or utcnow()
    text = (reason or "").strip()[:MAX_REASON]
    ask = _reserve(
        session=session, order_id=order_id, actor=actor, amount=amount, reason=text, now=now
    )
    # No transaction is open while Stripe thinks: the reservation is committed.
    try:
        info = stripe_api.create_refund(
            payment_intent_id=ask.payment_intent_id,
            amount=ask.amount,
            metadata={
                "order_id": str(order_id),
                "order_number": ask.order_number,
                "requested_by": ask.requested_by,
                "reason": text,
                RESERVATION_KEY: ask.key,
            },
            idempotency_key=ask.key,
        )
    except stripe_api.StripeRefused as exc:
        _settle_reservation(session, ask.key, refused=True)
        if exc.code in ("amount_too_large", "charge_already_refunded"):
            raise InvalidInput(str(exc), code="amount_too_large", field="amount") from exc
        raise Conflict(f"Stripe refused the refund: {exc}", code="refund_refused") from exc
    except stripe_api.StripeUnavailable as exc:
        _settle_reservation(session, ask.key, refused=False)
        raise RefundServiceUnavailable(UNANSWERED_MESSAGE) from exc
    except BaseException:
        _settle_reservation(session, ask.key, refused=False)
        raise
    record_refund(session=session, refund=info, now=now)
    order = session.get(Order, order_id, populate_existing=True)
    assert order is not None  # reserved under its lock above; orders are not deleted
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
    return RefundOutcome(
        order_id=order_id,
        order_number=order.number,
        refund_id=info.id,
        amount=info.amount,
        currency=info.currency,
        refunded_total=refunded_amount(session=session, order_id=order_id),
        order_status=order.status,
    )


def _reserve(
    *,
    session: Session,
    order_id: int,
    actor: CurrentUser,
    amount: int | None,
    reason: str,
    now: datetime,
) -> _Ask:
    """Check the refund and reserve its amount in one short transaction, committed before
    Stripe is asked. The order's row lock (taken first: PostgreSQL's row lock, SQLite's write
    lock) makes refunds of one order check and reserve one after the other."""
    with writer_turn(session.get_bind()):
        try:
            ask = _check_and_reserve(
                session=session,
                order_id=order_id,
                actor=actor,
                amount=amount,
                reason=reason,
                now=now,
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return ask


def _check_and_reserve(
    *,
    session: Session,
    order_id: int,
    actor: CurrentUser,
    amount: int | None,
    reason: str,
    now: datetime,
) -> _Ask:
    locked: Any = session.execute(
        update(Order)
        .where(col(Order.id) == order_id)
        .values(updated_at=col(Order.updated_at))
        .execution_options(synchronize_session=False)
    )
    order = session.get(Order, order_id, populate_existing=True) if locked.rowcount else None
    if order is None:
        raise NotFound(f"No order {order_id}.")
    if order.status == OrderStatus.REFUNDED.value:
        raise InvalidInput(
            f"Order {order.number} is refunded in full already.",
            code="amount_too_large",
            field="amount",
        )
    if order.fulfilled_at is not None and order.total_amount == 0:
        raise Conflict(f"Order {order.number} was free; there is nothing to refund.")
    if (
        order.status not in REFUNDABLE
        or order.fulfilled_at is None
        or not order.stripe_payment_intent_id
    ):
        raise Conflict(f"Order {order.number} is {order.status}; only paid orders are refunded.")
    if amount is not None and (isinstance(amount, bool) or amount < 1):
        raise InvalidInput("The amount must be at least 1 (minor units).", field="amount")
    already = refunded_amount(session=session, order_id=order_id)
    key = refund_key(
        order=order,
        already=already,
        amount=amount,
        actor_id=actor.id,
        reason=reason,
        failed=_failed_refunds(session, order_id),
    )
    # Reservations whose refund was never recorded nor refused stop counting in the end.
    session.execute(
        delete(RefundReservation)
        .where(
            col(RefundReservation.order_id) == order_id,
            col(RefundReservation.reserved_at) < now - reservation_ttl(),
        )
        .execution_options(synchronize_session=False)
    )
    live = session.exec(
        select(RefundReservation).where(RefundReservation.order_id == order_id)
    ).all()
    mine = next((r for r in live if r.idempotency_key == key), None)
    if mine is not None and mine.calling and mine.reserved_at > now - CALL_WINDOW:
        raise RefundInProgress(
            f"This refund of order {order.number} is being made right now; look at the order "
            "again in a moment."
        )
    others = sum(r.amount for r in live if r is not mine)
    remaining = order.total_amount - already - others
    if mine is not None:
        # The same request again after its ask went unanswered: ask again, same key, same
        # amount, so Stripe answers the refund it may have made rather than make another.
        amount = mine.amount
    elif amount is None:
        amount = remaining
    if amount > remaining or amount < 1:
        asked_now = (
            f" ({format_money(others, order.currency)} is being refunded right now)"
            if others
            else ""
        )
        raise InvalidInput(
            f"At most {format_money(max(remaining, 0), order.currency)} of order {order.number} "
            f"is left to refund{asked_now}.",
            code="amount_too_large",
            field="amount",
        )
    check_policy(
        actor=actor, order=order, amount=amount, already=already, asked_now=others, now=now
    )
    if mine is None:
        mine = RefundReservation(
            order_id=order_id,
            idempotency_key=key,
            amount=amount,
            requested_by=actor.email,
            calling=True,
            reserved_at=now,
        )
    else:
        mine.calling = True
        mine.reserved_at = now
    session.add(mine)
    session.flush()
    return _Ask(
        key=key,
        amount=amount,
        payment_intent_id=order.stripe_payment_intent_id,
        order_number=order.number or "",
        requested_by=mine.requested_by,
    )


def _settle_reservation(session: Session, key: str, *, refused: bool) -> None:
    """After an ask of Stripe that did not end in a refund: refused, the reservation goes;
    unanswered (Stripe may or may not have made it), it stays counting, free for the same
    request to ask again, until the refund is recorded or the reservation lapses."""
    reservation = col(RefundReservation.idempotency_key) == key
    with writer_turn(session.get_bind()):
        try:
            if refused:
                session.execute(
                    delete(RefundReservation)
                    .where(reservation)
                    .execution_options(synchronize_session=False)
                )
            else:
                session.execute(
                    update(RefundReservation)
                    .where(reservation)
                    .values(calling=False)
                    .execution_options(synchronize_session=False)
                )
            session.commit()
        except Exception:
            session.rollback()
            # It lapses (CALL_WINDOW, then its TTL): never hide why Stripe's ask failed.
            log.exception("a refund reservation could not be settled", extra={"key": key})


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
    # The shop sends Stripe one fixed reason ("requested_by_customer"); staff's own words are
    # in the metadata. Stripe's reason is kept only for refunds made outside the shop.
    reason = refund.metadata.get("reason") or (None if requested_by else refund.reason) or None
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
            # When Stripe made it: a refund heard of late (webhooks held up, found by
            # reconciliation) counts on its own day, as the README's analytics promise.
            "created_at": stripe_api.happened_at(refund.created, now=now),
            "updated_at": now,
        },
    )
    # A refund the shop asked for stops counting as reserved as it starts counting as a refund.
    reservation = refund.metadata.get(RESERVATION_KEY)
    if reservation:
        session.execute(
            delete(RefundReservation)
            .where(
                col(RefundReservation.idempotency_key) == reservation,
                col(RefundReservation.order_id) == order_id,
            )
            .execution_options(synchronize_session=False)
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
