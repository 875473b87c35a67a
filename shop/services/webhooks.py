"""Stripe webhooks: verify, store, then process — each event once, whatever arrives how often.

1. `verify_event`: the signature on the raw body with the webhook secret, the timestamp
   within 300 s either way, and the shape of an event (string id and type, an object in
   `data.object`); anything else is `WebhookRejected` (400) and nothing is written. So is an
   event whose object its handler finds malformed (an amount that is not a whole number …):
   its transaction rolls back, as it could never be processed, however often it came.
2. `receive_event` (one transaction): INSERT the event first; the unique Stripe event id turns
   a duplicate into a no-op (`ON CONFLICT DO NOTHING`). A new row belongs to this transaction
   until it commits — PostgreSQL makes a concurrent delivery of the same id wait on the unique
   index, SQLite admits one writer — so the event is processed right there, dispatched by type
   through `HANDLERS`, and stamped `processed_at`. A failure rolls it all back: the endpoint
   keeps the event with its error (`record_failure`), answers 5xx, and Stripe retries.
3. `process_event`: for an event stored but not processed (a failed attempt, reconciliation):
   take its row lock first — an `UPDATE … SET attempts = attempts + 1` is a row lock on
   PostgreSQL (like SELECT … FOR UPDATE) and, being the transaction's first statement,
   SQLite's write lock — then skip it if it is processed by now, else dispatch it.

Unknown event types are stored and marked processed (2xx): Stripe sends what the endpoint is
subscribed to, and a new type must not make it retry forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from shop.models import Order, WebhookEvent, utcnow
from shop.services import ids, payments, stripe_api
from shop.services.fulfilment import fulfil_order, insert_ignoring_conflicts
from shop.services.stripe_api import (
    MalformedObject,
    PaymentIntentInfo,
    RefundInfo,
    StripeEvent,
    WebhookRejected,
)
from shop.settings import get_settings

log = logging.getLogger("shop.webhooks")

# (session, the event's data.object) -> a note for the log; `MalformedObject` when the object
# is not shaped as Stripe makes it.
# (session, the event's data.object, when the event happened as a Unix time) -> a log note
Handler = Callable[[Session, dict[str, Any], int], str]

__all__ = [
    "HANDLERS",
    "acknowledge_unhandled",
    "is_processed",
    "ProcessOutcome",
    "WebhookRejected",
    "process_event",
    "receive_event",
    "record_failure",
    "store_event",
    "verify_event",
]


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    event_id: str
    type: str
    handled: bool  # False: an unknown type, stored and acknowledged
    already_processed: bool
    detail: str | None = None


def verify_event(*, payload: bytes, sig_header: str | None) -> StripeEvent:
    return stripe_api.construct_webhook_event(
        payload, sig_header, get_settings().effective_stripe_webhook_secret
    )


def store_event(*, session: Session, event: StripeEvent) -> bool:
    """Keep the event before acting on it; False when it was stored already (a duplicate)."""
    return insert_ignoring_conflicts(
        session,
        WebhookEvent,
        {
            "stripe_event_id": event.id,
            "type": event.type[:100],
            "payload": event.payload,
            "received_at": utcnow(),
            "attempts": 0,
        },
    )


def acknowledge_unhandled(*, session: Session, event: StripeEvent) -> bool:
    """An event of a type with no handler: stored already processed, in one statement (what
    `store_event` + `process_event` would do in two transactions). False for a duplicate."""
    now = utcnow()
    return insert_ignoring_conflicts(
        session,
        WebhookEvent,
        {
            "stripe_event_id": event.id,
            "type": event.type[:100],
            "payload": event.payload,
            "received_at": now,
            "processed_at": now,
            "attempts": 1,
            "order_id": order_id_of(session, event.data_object),
        },
    )


def receive_event(*, session: Session, event: StripeEvent) -> ProcessOutcome:
    """Store a verified event and process it once, in the caller's transaction (see above)."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        new = acknowledge_unhandled(session=session, event=event)
        return ProcessOutcome(event.id, event.type, False, not new)
    if store_event(session=session, event=event):
        # Held while the handler runs, so the handler's own look-up finds it in the session.
        order = order_of(session, event.data_object)
        detail = _dispatch(handler, session, event.type, event.data_object, event.created)
        # A subscription's invoice.paid makes its order in the handler.
        order = order or order_of(session, event.data_object)
        _mark_processed(session, event.id, order.id if order else None)
        return ProcessOutcome(event.id, event.type, True, False, detail)
    if is_processed(session=session, stripe_event_id=event.id):
        return ProcessOutcome(event.id, event.type, True, True)
    return process_event(session=session, stripe_event_id=event.id)


def _dispatch(
    handler: Handler, session: Session, event_type: str, data_object: dict[str, Any], occurred: int
) -> str:
    try:
        return handler(session, data_object, occurred)
    except MalformedObject as exc:
        raise WebhookRejected(f"The {event_type} event's object is malformed: {exc}.") from exc


def _mark_processed(session: Session, stripe_event_id: str, order_id: int | None) -> None:
    session.execute(
        update(WebhookEvent)
        .where(col(WebhookEvent.stripe_event_id) == stripe_event_id)
        .values(processed_at=utcnow(), attempts=1, order_id=order_id, last_error=None)
        .execution_options(synchronize_session=False)
    )


def is_processed(*, session: Session, stripe_event_id: str) -> bool:
    """A plain read: lets a duplicate delivery of a processed event skip the row lock."""
    processed_at = session.exec(
        select(WebhookEvent.processed_at).where(WebhookEvent.stripe_event_id == stripe_event_id)
    ).first()
    return processed_at is not None


def process_event(*, session: Session, stripe_event_id: str) -> ProcessOutcome:
    """Process a stored event once, under its row lock."""
    locked: Any = session.execute(
        update(WebhookEvent)
        .where(col(WebhookEvent.stripe_event_id) == stripe_event_id)
        .values(attempts=WebhookEvent.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount != 1:
        raise LookupError(f"webhook event {stripe_event_id} is not stored")
    row = session.exec(
        select(WebhookEvent)
        .where(WebhookEvent.stripe_event_id == stripe_event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if row.processed_at is not None:
        return ProcessOutcome(stripe_event_id, row.type, True, True)
    handler = HANDLERS.get(row.type)
    detail = None
    data_object = (row.payload.get("data") or {}).get("object") or {}
    occurred = row.payload.get("created")
    order = order_of(session, data_object)
    if handler is not None:
        detail = _dispatch(
            handler, session, row.type, data_object, occurred if isinstance(occurred, int) else 0
        )
        order = order or order_of(session, data_object)
    row.order_id = order.id if order else None
    row.processed_at = utcnow()
    row.last_error = None
    session.add(row)
    session.flush()
    return ProcessOutcome(stripe_event_id, row.type, handler is not None, False, detail)


def record_failure(*, session: Session, event: StripeEvent, error: str) -> None:
    """Keep the event and why processing it failed (in a fresh transaction, after the failed
    one rolled back), so a retry, the admin and reconciliation can see it."""
    store_event(session=session, event=event)
    session.execute(
        update(WebhookEvent)
        .where(col(WebhookEvent.stripe_event_id) == event.id)
        .values(last_error=error[:1000])
        .execution_options(synchronize_session=False)
    )


# --- handlers: (session, the event's data.object) -> a note for the log ------------------


def _order_for(session: Session, intent: PaymentIntentInfo) -> Order | None:
    order = ids.get_row(session, Order, intent.metadata.get("order_id", ""))
    if order is not None:
        return order
    return session.exec(select(Order).where(Order.stripe_payment_intent_id == intent.id)).first()


def _payment_succeeded(session: Session, data_object: dict[str, Any], occurred: int) -> str:
    intent = PaymentIntentInfo.from_stripe(data_object)
    order = _order_for(session, intent)
    if order is None or order.id is None:
        log.warning("succeeded payment for no known order", extra={"payment_intent": intent.id})
        return "no order"
    outcome = fulfil_order(
        session=session, order_id=order.id, payment_intent=intent, paid_at=occurred
    )
    if outcome.problem:
        return outcome.problem
    return "fulfilled" if outcome.fulfilled_now else "already fulfilled"


def _payment_failed(session: Session, data_object: dict[str, Any], occurred: int) -> str:
    intent = PaymentIntentInfo.from_stripe(data_object)
    order = _order_for(session, intent)
    if order is None or order.id is None:
        return "no order"
    changed = payments.mark_payment_failed(
        session=session,
        order_id=order.id,
        message=intent.last_error_message,
        payment_intent_id=intent.id,
    )
    return "marked failed" if changed else "unchanged"


def _payment_canceled(session: Session, data_object: dict[str, Any], occurred: int) -> str:
    intent = PaymentIntentInfo.from_stripe(data_object)
    order = _order_for(session, intent)
    if order is None or order.id is None:
        return "no order"
    if order.stripe_payment_intent_id not in (None, intent.id):
        return "another payment"
    return "canceled" if payments.mark_canceled(session=session, order_id=order.id) else "unchanged"


def _refund_changed(session: Session, data_object: dict[str, Any], occurred: int) -> str:
    from shop.services import refunds

    recorded = refunds.record_refund(session=session, refund=RefundInfo.from_stripe(data_object))
    if recorded.order_id is None:
        return "no order"
    return "refund recorded" if recorded.changed else "refund already recorded"


def _charge_refunded(session: Session, data_object: dict[str, Any], occurred: int) -> str:
    """The charge lists its refunds (when Stripe includes them); each is recorded once.
    Without the list, the `refund.*` events and reconciliation record them."""
    from shop.services import refunds

    listing = data_object.get("refunds") or {}
    listed = (listing.get("data") if isinstance(listing, dict) else listing) or []
    if not isinstance(listed, list):
        raise MalformedObject("refunds.data must be a list of refunds")
    changed = False
    for item in listed:
        recorded = refunds.record_refund(session=session, refund=RefundInfo.from_stripe(item))
        changed = changed or recorded.changed
    return "refunds recorded" if changed else "refunds already recorded"


def _subscription_changed(session: Session, data_object: dict[str, Any], occurred: int) -> str:
    """customer.subscription.*: the event only says that something changed; what is written
    is the subscription as Stripe has it now (`subscriptions.sync`), so an older event
    delivered late never overwrites a newer state."""
    from shop.services import subscriptions

    info = stripe_api.SubscriptionInfo.from_stripe(data_object)
    return subscriptions.sync_from_event(
        session=session, stripe_subscription_id=info.id, customer_id=info.customer_id
    )


def _checkout_completed(session: Session, data_object: dict[str, Any], occurred: int) -> str:
    from shop.services import subscriptions

    checkout = stripe_api.CheckoutSessionInfo.from_stripe(data_object)
    if checkout.mode != "subscription":
        return "not a subscription checkout"
    return subscriptions.sync_from_event(
        session=session,
        stripe_subscription_id=checkout.subscription_id,
        customer_id=checkout.customer_id,
    )


def _invoice_changed(session: Session, data_object: dict[str, Any], occurred: int) -> str:
    """invoice.paid: a subscription's paid invoice becomes its order, once
    (`record_paid_invoice`); invoice.payment_failed: the subscription is synced (past_due)."""
    from shop.services import subscriptions

    invoice = stripe_api.InvoiceInfo.from_stripe(data_object)
    return subscriptions.sync_from_event(
        session=session,
        stripe_subscription_id=invoice.subscription_id,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id if invoice.status == "paid" else None,
    )


def order_of(session: Session, data_object: dict[str, Any]) -> Order | None:
    """The shop's order an event's object is about (PaymentIntent, charge or refund). Also
    for events of types no handler checks the shape of: what is not where Stripe puts it (or
    names no possible order) finds no order."""
    kind = data_object.get("object")
    intent_id: Any = None
    if kind == "invoice":
        invoice_id = data_object.get("id")
        if not isinstance(invoice_id, str) or not invoice_id:
            return None
        return session.exec(select(Order).where(Order.stripe_invoice_id == invoice_id)).first()
    if kind == "payment_intent":
        metadata = data_object.get("metadata")
        raw = metadata.get("order_id") if isinstance(metadata, dict) else None
        order = ids.get_row(session, Order, raw)
        if order is not None:
            return order
        intent_id = data_object.get("id")
    elif kind in ("charge", "refund"):
        intent_id = data_object.get("payment_intent")
        if isinstance(intent_id, dict):
            intent_id = intent_id.get("id")
    if not isinstance(intent_id, str) or not intent_id:
        return None
    return session.exec(select(Order).where(Order.stripe_payment_intent_id == intent_id)).first()


def order_id_of(session: Session, data_object: dict[str, Any]) -> int | None:
    order = order_of(session, data_object)
    return order.id if order else None


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "payment_intent.canceled": _payment_canceled,
    "charge.refunded": _charge_refunded,
    "refund.created": _refund_changed,
    "refund.updated": _refund_changed,
    "refund.failed": _refund_changed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "checkout.session.completed": _checkout_completed,
    "invoice.paid": _invoice_changed,
    "invoice.payment_failed": _invoice_changed,
}
