"""Stripe webhooks: verify, store, then process — each event once, whatever arrives how often.

1. `verify_event`: the signature on the raw body with the webhook secret, and the timestamp
   within 300 s either way; anything else is `WebhookRejected` (400) and nothing is written.
2. `store_event` (its own transaction): INSERT the event; the unique Stripe event id turns a
   duplicate into a no-op (`ON CONFLICT DO NOTHING`, the IntegrityError dedupe).
3. `process_event` (another transaction): take the event's row lock first — an `UPDATE …
   SET attempts = attempts + 1` is a row lock on PostgreSQL (like SELECT … FOR UPDATE) and,
   being the transaction's first statement, SQLite's write lock — then skip it if it is
   already processed, else dispatch by type through `HANDLERS` and stamp `processed_at`. All in
   one transaction: a failure rolls it all back, the endpoint answers 5xx, Stripe retries.

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
from shop.services import payments, stripe_api
from shop.services.fulfilment import fulfil_order, insert_ignoring_conflicts
from shop.services.stripe_api import PaymentIntentInfo, StripeEvent, WebhookRejected
from shop.settings import get_settings

log = logging.getLogger("shop.webhooks")

__all__ = [
    "HANDLERS",
    "ProcessOutcome",
    "WebhookRejected",
    "process_event",
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
    if handler is not None:
        data_object = (row.payload.get("data") or {}).get("object") or {}
        detail = handler(session, data_object)
    row.processed_at = utcnow()
    row.last_error = None
    session.add(row)
    session.flush()
    return ProcessOutcome(stripe_event_id, row.type, handler is not None, False, detail)


def record_failure(*, session: Session, stripe_event_id: str, error: str) -> None:
    """Note why processing failed (in a fresh transaction, after the failed one rolled back)."""
    session.execute(
        update(WebhookEvent)
        .where(col(WebhookEvent.stripe_event_id) == stripe_event_id)
        .values(last_error=error[:1000])
        .execution_options(synchronize_session=False)
    )


# --- handlers: (session, the event's data.object) -> a note for the log ------------------


def _order_for(session: Session, intent: PaymentIntentInfo) -> Order | None:
    raw = intent.metadata.get("order_id", "")
    if raw.isdigit():
        order = session.get(Order, int(raw))
        if order is not None:
            return order
    return session.exec(select(Order).where(Order.stripe_payment_intent_id == intent.id)).first()


def _payment_succeeded(session: Session, data_object: dict[str, Any]) -> str:
    intent = PaymentIntentInfo.from_stripe(data_object)
    order = _order_for(session, intent)
    if order is None or order.id is None:
        log.warning("succeeded payment for no known order", extra={"payment_intent": intent.id})
        return "no order"
    outcome = fulfil_order(session=session, order_id=order.id, payment_intent=intent)
    if outcome.problem:
        return outcome.problem
    return "fulfilled" if outcome.fulfilled_now else "already fulfilled"


def _payment_failed(session: Session, data_object: dict[str, Any]) -> str:
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


def _payment_canceled(session: Session, data_object: dict[str, Any]) -> str:
    intent = PaymentIntentInfo.from_stripe(data_object)
    order = _order_for(session, intent)
    if order is None or order.id is None:
        return "no order"
    if order.stripe_payment_intent_id not in (None, intent.id):
        return "another payment"
    return "canceled" if payments.mark_canceled(session=session, order_id=order.id) else "unchanged"


HANDLERS: dict[str, Callable[[Session, dict[str, Any]], str]] = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "payment_intent.canceled": _payment_canceled,
}
