"""Reconciliation: make the shop agree with Stripe when webhooks were missed.

Stripe is the truth about payments; webhooks are how the shop usually hears of it. When
deliveries are lost (the shop was down, the endpoint misconfigured, Stripe paused), this pass
repairs what they would have done, through the same idempotent functions:

1. orders still `pending`/`failed` (older than RECONCILE_MIN_AGE_MINUTES) whose PaymentIntent
   has succeeded (→ `fulfil_order`), failed (→ `mark_payment_failed`) or was canceled
   (→ `mark_canceled`), and those that never got a PaymentIntent (→ `cancel_unstarted_order`);
   orders still unpaid UNPAID_ORDER_EXPIRY_HOURS after they were placed or last tried are
   closed (→ `checkout.release`: their PaymentIntent canceled at Stripe first, or fulfilled
   if Stripe says it was paid), so abandoned checkouts neither pile up nor get asked about
   on every run;
2. refunds made in Stripe (through the shop or in the dashboard) → `record_refund`;
3. subscriptions (`_repair_subscriptions`): each Stripe subscription of one of the shop's
   customers whose local row is missing or says otherwise (status, cancellation, price, period)
   is synced again (`subscriptions.sync`), and when its latest invoice has no order, its paid
   invoices become their orders (`subscriptions.record_paid_invoice`);
4. events Stripe lists as not delivered (`delivery_success=false`, the types the shop handles),
   oldest first: stored and processed exactly as if the webhook had arrived (`store_event`,
   `process_event`); an event processed already is skipped.

Each repair is its own short transaction, and no transaction is open while Stripe is asked.
Running it twice changes nothing the second time. Every run is stored (`reconciliation_runs`)
with what it repaired and the webhook backlog left, for the admin page. It runs as a periodic
job (once per tick across processes), from `python -m shop reconcile` and from the admin button.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from shop.db import session_scope
from shop.models import Order, ReconciliationRun, Subscription, User, WebhookEvent, utcnow
from shop.services import audit, checkout, payments, refunds, stripe_api, webhooks
from shop.services.audit import Actor
from shop.services.errors import one_line
from shop.services.fulfilment import fulfil_order
from shop.settings import get_settings

log = logging.getLogger("shop.reconciliation")

MAX_ORDERS = 500
MAX_LISTED = 2000
# What the refund handlers answer when they recorded something new.
REFUND_CHANGES = frozenset({"refund recorded", "refunds recorded"})
# Stripe not answering stops a run: every other item would fail the same way. Stripe refusing
# one item's request (an unknown PaymentIntent, …) is that item's failure: the others go on.
STRIPE_DOWN = (stripe_api.StripeUnavailable, payments.PaymentServiceUnavailable)


@dataclass
class Summary:
    """What one run looked at and what it repaired."""

    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    orders_checked: int = 0
    events_checked: int = 0
    refunds_checked: int = 0
    repaired: list[dict[str, Any]] = field(default_factory=list)
    backlog_undelivered: int = 0
    backlog_unprocessed: int = 0
    error: str | None = None
    run_id: int | None = None
    # Items whose repair raised: logged, left for the next run, the others still repaired.
    failed: list[str] = field(default_factory=list)

    @property
    def repaired_count(self) -> int:
        return len(self.repaired)

    def note(
        self, kind: str, action: str, reference: str, order_id: int | None, session: Session
    ) -> None:
        order = session.get(Order, order_id) if order_id is not None else None
        self.repaired.append(
            {
                "kind": kind,
                "action": action,
                "reference": reference,
                "order_id": order_id,
                "order_number": order.number if order else None,
            }
        )


SessionFactory = Callable[[], Any]


def run_reconciliation(
    *,
    trigger: str = "schedule",
    min_age: timedelta | None = None,
    sessions: SessionFactory = session_scope,
    actor: Actor | None = None,
    ip: str | None = None,
) -> Summary:
    """One full pass; the summary is stored and returned. Stripe being unreachable is noted in
    the run (`error`) and the next run tries again."""
    settings = get_settings()
    min_age = timedelta(minutes=settings.reconcile_min_age_minutes) if min_age is None else min_age
    since = int(time.time()) - settings.reconcile_lookback_days * 86400
    summary = Summary(trigger=trigger, started_at=utcnow())
    try:
        _close_orders_never_started(summary, min_age, sessions)
        _close_abandoned_orders(summary, sessions)
        _settle_unpaid_orders(summary, min_age, sessions)
        _record_stripe_refunds(summary, since, sessions)
        _repair_subscriptions(summary, sessions)
        _replay_undelivered_events(summary, since, sessions)
        summary.backlog_undelivered = _undelivered_unprocessed(since, sessions)
    except (*STRIPE_DOWN, stripe_api.StripeRefused) as exc:
        # Stripe being down is an expected state, said in one line (no traceback in the log).
        log.warning("reconciliation stopped: Stripe: %s", one_line(exc))
        summary.error = f"Stripe: {exc}"[:1000]
    if summary.failed:
        failures = f"{len(summary.failed)} could not be repaired: " + "; ".join(summary.failed[:3])
        summary.error = "; ".join(part for part in (summary.error, failures) if part)[:1000]
    with sessions() as session:
        summary.backlog_unprocessed = unprocessed_events(session=session)
        summary.finished_at = utcnow()
        run = ReconciliationRun(
            trigger=trigger,
            started_at=summary.started_at,
            finished_at=summary.finished_at,
            orders_checked=summary.orders_checked,
            events_checked=summary.events_checked,
            refunds_checked=summary.refunds_checked,
            repaired_count=summary.repaired_count,
            repaired=summary.repaired,
            backlog_undelivered=summary.backlog_undelivered,
            backlog_unprocessed=summary.backlog_unprocessed,
            error=summary.error,
        )
        session.add(run)
        session.flush()
        summary.run_id = run.id
        if actor is not None:
            audit.record(
                session=session,
                action="reconciliation.run",
                actor=actor,
                target=f"reconciliation_run:{run.id}",
                ip=ip,
                details={"repaired": summary.repaired_count, "error": summary.error},
            )
    log.info(
        "reconciliation done",
        extra={"repaired": summary.repaired_count, "trigger": trigger, "error": summary.error},
    )
    return summary


@contextmanager
def _each(summary: Summary, reference: str) -> Iterator[None]:
    """One item's repair: a bug or bad data in it is logged and skipped, not fatal to the run
    (Stripe being unreachable still stops the run: every other item would fail the same way)."""
    try:
        yield
    except STRIPE_DOWN:
        raise
    except Exception as exc:
        log.exception("reconciliation could not repair %s", reference)
        summary.failed.append(f"{reference}: {type(exc).__name__}: {exc}"[:200])


def _handled_types() -> list[str]:
    return sorted(webhooks.HANDLERS)[:20]


def _replay_undelivered_events(summary: Summary, since: int, sessions: SessionFactory) -> None:
    events = stripe_api.list_undelivered_events(
        types=_handled_types(), created_since=since, max_items=MAX_LISTED
    )
    # Stripe lists newest first; process in the order they happened.
    for event in reversed(events):
        summary.events_checked += 1
        with _each(summary, event.id):
            _replay(summary, event, sessions)


def _replay(summary: Summary, event: stripe_api.StripeEvent, sessions: SessionFactory) -> None:
    with sessions() as session:
        row = session.exec(
            select(WebhookEvent).where(WebhookEvent.stripe_event_id == event.id)
        ).first()
        if row is not None and row.processed_at is not None:
            return
        webhooks.store_event(session=session, event=event)
    with sessions() as session:
        order_id = webhooks.order_id_of(session, event.data_object)
        before = _status_of(session, order_id)
        outcome = webhooks.process_event(session=session, stripe_event_id=event.id)
        changed = _status_of(session, order_id) != before or outcome.detail in REFUND_CHANGES
        if not outcome.already_processed and changed:
            summary.note("event", f"{event.type}: {outcome.detail}", event.id, order_id, session)


def _status_of(session: Session, order_id: int | None) -> str | None:
    if order_id is None:
        return None
    return session.exec(select(Order.status).where(Order.id == order_id)).first()


NEVER_STARTED = "No payment was started for this order (the shop stopped while starting it)."


def _unpaid_order_ids(sessions: SessionFactory, *conditions: Any) -> list[int]:
    """The oldest `MAX_ORDERS` orders still waiting for a payment that meet `conditions`."""
    with sessions() as session:
        found = session.exec(
            select(Order.id)
            .where(
                col(Order.status).in_(payments.PAYABLE),
                col(Order.fulfilled_at).is_(None),
                *conditions,
            )
            .order_by(col(Order.id))
            .limit(MAX_ORDERS)
        ).all()
    return [order_id for order_id in found if order_id is not None]


def _close_orders_never_started(
    summary: Summary, min_age: timedelta, sessions: SessionFactory
) -> None:
    """Orders left without a PaymentIntent (the process stopped between placing the order and
    asking Stripe for one) can never be paid: no client holds a secret for them, and a new
    "Pay" places a new order. They are closed like an order whose PaymentIntent Stripe refused."""
    stranded = _unpaid_order_ids(
        sessions,
        col(Order.stripe_payment_intent_id).is_(None),
        col(Order.created_at) <= utcnow() - min_age,
    )
    for order_id in stranded:
        summary.orders_checked += 1
        with _each(summary, f"order {order_id}"), sessions() as session:
            if payments.cancel_unstarted_order(
                session=session, order_id=order_id, reason=NEVER_STARTED
            ):
                summary.note("order", "never started: canceled", "", order_id, session)


def _close_abandoned_orders(summary: Summary, sessions: SessionFactory) -> None:
    """Orders nobody paid within UNPAID_ORDER_EXPIRY_HOURS of placing or last trying them
    (`updated_at`): left as they are, they would hold stock, be asked about on every run and
    stay "Payment failed" in their buyer's order list forever."""
    hours = get_settings().unpaid_order_expiry_hours
    stale = _unpaid_order_ids(sessions, col(Order.updated_at) <= utcnow() - timedelta(hours=hours))
    for order_id in stale:
        summary.orders_checked += 1
        with _each(summary, f"order {order_id}"):
            checkout.release(order_id=order_id, why=checkout.ABANDONED, sessions=sessions)
            with sessions() as session:
                order = session.get(Order, order_id)
                assert order is not None
                reference = order.stripe_payment_intent_id or ""
                if order.status == "canceled":
                    action = f"unpaid for {hours} h: canceled"
                    summary.note("order", action, reference, order_id, session)
                elif order.status == "paid":
                    summary.note("order", "paid: fulfilled", reference, order_id, session)


def _settle_unpaid_orders(summary: Summary, min_age: timedelta, sessions: SessionFactory) -> None:
    cutoff = utcnow() - min_age
    with sessions() as session:
        candidates = [
            (order.id, order.stripe_payment_intent_id, order.status)
            for order in session.exec(
                select(Order)
                .where(
                    col(Order.status).in_(payments.PAYABLE),
                    col(Order.fulfilled_at).is_(None),
                    col(Order.stripe_payment_intent_id).is_not(None),
                    col(Order.created_at) <= cutoff,
                )
                .order_by(col(Order.id))
                .limit(MAX_ORDERS)
            ).all()
        ]
    for order_id, intent_id, before in candidates:
        assert order_id is not None
        assert intent_id is not None
        summary.orders_checked += 1
        intent: stripe_api.PaymentIntentInfo | None = None
        with _each(summary, intent_id):
            intent = stripe_api.retrieve_payment_intent(payment_intent_id=intent_id)
        if intent is None:
            continue
        with _each(summary, intent_id), sessions() as session:
            action = None
            if intent.status == "succeeded":
                outcome = fulfil_order(session=session, order_id=order_id, payment_intent=intent)
                if outcome.fulfilled_now:
                    action = "paid: fulfilled"
            elif intent.status == "canceled":
                if payments.mark_canceled(session=session, order_id=order_id):
                    action = "payment canceled: order canceled"
            elif (
                intent.status == "requires_payment_method"
                and intent.last_error_message
                and before != "failed"
                and payments.mark_payment_failed(
                    session=session,
                    order_id=order_id,
                    message=intent.last_error_message,
                    payment_intent_id=intent.id,
                )
            ):
                action = "payment failed: marked failed"
            if action:
                summary.note("order", action, intent.id, order_id, session)


def _record_stripe_refunds(summary: Summary, since: int, sessions: SessionFactory) -> None:
    for refund in reversed(stripe_api.list_refunds(created_since=since, max_items=MAX_LISTED)):
        summary.refunds_checked += 1
        with _each(summary, refund.id), sessions() as session:
            recorded = refunds.record_refund(session=session, refund=refund)
            if recorded.changed:
                what = "recorded" if recorded.new_refund else "status updated"
                summary.note(
                    "refund",
                    f"refund of {refund.amount} {refund.currency} {what}",
                    refund.id,
                    recorded.order_id,
                    session,
                )


def _repair_subscriptions(summary: Summary, sessions: SessionFactory) -> None:
    from shop.services import subscriptions

    for info in stripe_api.list_subscriptions(max_items=MAX_LISTED):
        with _each(summary, info.id), sessions() as session:
            if not _ours(session, info.customer_id):
                continue
            row = session.exec(
                select(Subscription).where(Subscription.stripe_subscription_id == info.id)
            ).first()
            latest_recorded = info.latest_invoice_id is None or (
                session.exec(
                    select(Order.id).where(Order.stripe_invoice_id == info.latest_invoice_id)
                ).first()
                is not None
            )
            if row is not None and latest_recorded and _agrees(row, info):
                continue
            before = row.status if row else None
            synced = subscriptions.sync(
                session=session,
                stripe_subscription_id=info.id,
                customer_id=info.customer_id,
                record_latest=False,
            )
            if synced is None:
                continue
            if synced.status != before:
                summary.note(
                    "subscription",
                    f"subscription {before or 'missing'} → {synced.status}",
                    info.id,
                    None,
                    session,
                )
            if latest_recorded:
                continue
            for invoice in reversed(stripe_api.list_paid_invoices(subscription_id=info.id)):
                made = subscriptions.record_paid_invoice(
                    session=session,
                    subscription=synced,
                    invoice_id=invoice.id,
                    billing=info.metadata,
                )
                if made.created:
                    summary.note(
                        "subscription",
                        "paid invoice made its order",
                        invoice.id,
                        made.order_id,
                        session,
                    )


def _ours(session: Session, customer_id: str) -> bool:
    return (
        session.exec(select(User.id).where(User.stripe_customer_id == customer_id)).first()
        is not None
    )


def _agrees(row: Subscription, info: stripe_api.SubscriptionInfo) -> bool:
    period_end = row.current_period_end
    return (
        row.status == info.status
        and row.cancel_at_period_end == info.cancel_at_period_end
        and row.stripe_price_id == info.price_id
        and (int(period_end.timestamp()) if period_end else None) == info.current_period_end
    )


def _undelivered_unprocessed(since: int, sessions: SessionFactory) -> int:
    """Events Stripe still lists as undelivered that the shop has not processed either."""
    events = stripe_api.list_undelivered_events(
        types=_handled_types(), created_since=since, max_items=MAX_LISTED
    )
    with sessions() as session:
        return _not_processed(session, [event.id for event in events])


def _not_processed(session: Session, event_ids: list[str]) -> int:
    if not event_ids:
        return 0
    done = set(
        session.exec(
            select(WebhookEvent.stripe_event_id).where(
                col(WebhookEvent.stripe_event_id).in_(event_ids),
                col(WebhookEvent.processed_at).is_not(None),
            )
        ).all()
    )
    return len([i for i in event_ids if i not in done])


def unprocessed_events(*, session: Session) -> int:
    """Stored webhook events whose processing failed and waits for Stripe's retry."""
    return int(
        session.exec(
            select(func.count())
            .select_from(WebhookEvent)
            .where(col(WebhookEvent.processed_at).is_(None))
        ).one()
    )


def recent_runs(*, session: Session, limit: int = 20) -> list[ReconciliationRun]:
    return list(
        session.exec(
            select(ReconciliationRun).order_by(col(ReconciliationRun.id).desc()).limit(limit)
        ).all()
    )


def webhook_backlog(*, session: Session) -> dict[str, int]:
    """What the page shows live: events stored but unprocessed, and Stripe's undelivered ones
    the shop has not processed (asked of Stripe now; -1 when it cannot be reached)."""
    unprocessed = unprocessed_events(session=session)
    since = int(time.time()) - get_settings().reconcile_lookback_days * 86400
    try:
        events = stripe_api.list_undelivered_events(
            types=_handled_types(), created_since=since, max_items=MAX_LISTED
        )
    except (stripe_api.StripeUnavailable, stripe_api.StripeRefused):
        return {"unprocessed": unprocessed, "undelivered": -1}
    return {
        "unprocessed": unprocessed,
        "undelivered": _not_processed(session, [event.id for event in events]),
    }
