"""Payments: one PaymentIntent per order, server-side confirmation, and the status check.

* `create_payment_intent(order)`: amount and currency from the stored order, metadata
  `order_id`, idempotency key `order:{id}:{number}:pi` — a retried call gets the same PaymentIntent.
  When Stripe cannot be reached (503) or refuses (502), the caller closes the order with
  `cancel_unstarted_order`: it never had a PaymentIntent, so nobody can pay it, and what it
  held (`holds`) is free again. The next "Pay" places a fresh order at that moment's prices
  instead of finding a stale pending one. An order closed while its PaymentIntent was being
  created (it gave way to a newer checkout) gets none: the new PaymentIntent is canceled.
* `confirm_payment`: for API clients (e.g. `pm_card_visa`); the browser confirms with the
  client secret instead. It first checks the order can still be sold as placed (stock, promo
  code: `orders.check_still_payable`). A declined card or failed 3-D Secure leaves the order
  payable.
* `refresh_status`: the success page's question "is it paid yet?"; when the order still looks
  unpaid it asks Stripe and, on success, runs the same `fulfil_order` as the webhook; a failed
  latest attempt is recorded (`mark_payment_failed`) as the `payment_failed` webhook does.
* `customer_error_message`: the one place that turns Stripe's error (code, decline code, type)
  into words for the customer. Stripe's messages for card errors are written for cardholders
  and kept; the others (a failed 3-D Secure: "The provided PaymentMethod has failed
  authentication. You can provide payment_method_data…") are written for developers and are
  never shown to a customer. `Order.payment_error` keeps Stripe's own text for the staff.

No Stripe call is made inside a database write: each function reads, talks to Stripe, then
writes in one short transaction (the caller's session).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from shop.models import Order, OrderStatus, utcnow
from shop.services import stripe_api
from shop.services.errors import Conflict, InvalidInput, NotFound, ShopError
from shop.services.fulfilment import fulfil_order
from shop.services.orders import check_still_payable, find_order
from shop.services.stripe_api import PaymentIntentInfo
from shop.settings import get_settings

log = logging.getLogger("shop.payments")

PAYABLE = (OrderStatus.PENDING.value, OrderStatus.FAILED.value)


class PaymentServiceUnavailable(ShopError):
    status_code = 503
    code = "payment_service_unavailable"


class PaymentServiceRefused(ShopError):
    """Stripe answered no to a request the shop made (not to the customer's card): a setup
    problem for the owner, so the customer gets no Stripe wording, only that nothing was charged."""

    status_code = 502
    code = "payment_service_refused"


class OrderNotPayable(Conflict):
    """The order is closed or paid already: no PaymentIntent is made or confirmed for it."""


UNREACHABLE_MESSAGE = (
    "The payment service cannot be reached, so nothing was charged. Try again in a moment."
)
GENERIC_PAYMENT_ERROR = "The payment did not go through. Try again or use another card."
# Keyed by Stripe's `decline_code` or `code`; used when Stripe gave no card_error message.
CUSTOMER_PAYMENT_ERRORS = {
    "payment_intent_authentication_failure": (
        "We couldn't verify this card with your bank. Try again or use another card."
    ),
    "authentication_required": (
        "We couldn't verify this card with your bank. Try again or use another card."
    ),
    "card_declined": "Your card was declined.",
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "fraudulent": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "incorrect_number": "Your card number is incorrect.",
    "processing_error": (
        "An error occurred while processing your card. Try again in a little bit."
    ),
}
# An order closed because its PaymentIntent was canceled at Stripe (in the dashboard, or by the
# shop when the order gave way: `checkout.release` then writes its own reason over this one).
CANCELED_MESSAGE = "This order was canceled; nothing was charged for it."
CLOSED = "order_canceled"  # error code and type of a closed order's reason (customer words)
REFUSED_MESSAGE = (
    "The payment service did not accept this order, so nothing was charged. "
    "Try again later, or contact us if it keeps happening."
)


@dataclass(frozen=True, slots=True)
class PaymentState:
    """Where an order's payment stands, for the API and the checkout page."""

    order_id: int
    order_status: str
    payment_intent_id: str | None
    payment_intent_status: str | None = None
    next_action_url: str | None = None
    error_code: str | None = None  # Stripe's error code ("card_declined", …)
    decline_code: str | None = None  # a declined card's reason ("insufficient_funds", …)
    error_message: str | None = None  # Stripe's own text (for API clients and the staff)
    error_type: str | None = None

    @property
    def customer_error(self) -> str | None:
        """The latest failure in words for the customer, or None when there is none."""
        if self.error_code is None and self.error_message is None:
            return None
        return customer_error_message(
            code=self.decline_code or self.error_code,
            error_type=self.error_type,
            message=self.error_message,
        )

    @property
    def api_error_message(self) -> str | None:
        """What `POST /api/payments/confirm` says: the customer's words for a card's failure;
        Stripe's own text when the request itself was wrong (e.g. no such PaymentMethod),
        which the API client's developer needs."""
        if self.error_type == "card_error" or (
            (self.decline_code or self.error_code or "") in CUSTOMER_PAYMENT_ERRORS
        ):
            return self.customer_error
        return self.error_message


def customer_error_message(
    *, code: str | None, error_type: str | None = None, message: str | None = None
) -> str:
    """What to tell the customer about a failed payment (see the module doc)."""
    if error_type in ("card_error", CLOSED) and message:
        return message
    return CUSTOMER_PAYMENT_ERRORS.get(code or "", GENERIC_PAYMENT_ERROR)


def payment_error_for_customer(*, state: PaymentState, order: Order) -> str:
    """The success page's explanation of an unpaid order: the latest failure, or why the order
    was closed, in customer words; for a failed order known only from its stored Stripe text,
    the generic words."""
    if state.customer_error is not None:
        return state.customer_error
    return GENERIC_PAYMENT_ERROR if order.payment_error else ""


def order_error_for_customer(*, order: Order) -> str | None:
    """Why an unpaid order is unpaid, in customer words, from the order alone (no Stripe call):
    a closed order's stored reason, or the generic words for a failed attempt (what is stored is
    Stripe's own text, for the staff). None for a paid order or one with no failure."""
    return _state(order, None).customer_error


def order_key(order: Order) -> str:
    """What Stripe idempotency keys of an order start with. The random order number is in it
    because ids come again after a restore from backup, and Stripe remembers a key for 24 h:
    an id alone would replay another order's request, or be refused for other parameters."""
    return f"order:{order.id}:{order.number}"


def payment_intent_key(order: Order) -> str:
    return f"{order_key(order)}:pi"


def create_payment_intent(*, session: Session, order_id: int) -> PaymentIntentInfo:
    """The order's PaymentIntent, created once (same idempotency key on every retry)."""
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"No order {order_id}.")
    if order.status not in PAYABLE or order.fulfilled_at is not None:
        raise OrderNotPayable(f"Order {order.number} is {order.status}; it cannot be paid.")
    try:
        if order.stripe_payment_intent_id:
            return stripe_api.retrieve_payment_intent(
                payment_intent_id=order.stripe_payment_intent_id
            )
        intent = stripe_api.create_payment_intent(
            amount=order.total_amount,
            currency=order.currency,
            metadata={"order_id": str(order.id), "order_number": order.number or ""},
            idempotency_key=payment_intent_key(order),
            description=f"{get_settings().shop_name} order {order.number}",
        )
    except stripe_api.StripeUnavailable as exc:
        log.warning("Stripe unreachable for a PaymentIntent", extra={"order_id": order_id})
        raise PaymentServiceUnavailable(UNREACHABLE_MESSAGE) from exc
    except stripe_api.StripeRefused as exc:
        log.error(
            "Stripe refused a PaymentIntent",
            extra={"order_id": order_id, "stripe_code": exc.code, "stripe_message": str(exc)},
        )
        raise PaymentServiceRefused(REFUSED_MESSAGE) from exc
    attached: Any = session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.stripe_payment_intent_id).is_(None),
            col(Order.status).in_(PAYABLE),
        )
        .values(stripe_payment_intent_id=intent.id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)
    if not attached.rowcount and order.stripe_payment_intent_id != intent.id:
        # The order was closed meanwhile (it gave way to the buyer's newer checkout): its
        # PaymentIntent must not stay payable with nothing held for it.
        _cancel_orphan(intent.id, order)
        raise OrderNotPayable(f"Order {order.number} is {order.status}; it cannot be paid.")
    return intent


def _cancel_orphan(payment_intent_id: str, order: Order) -> None:
    try:
        stripe_api.cancel_payment_intent(
            payment_intent_id=payment_intent_id,
            idempotency_key=f"{payment_intent_key(order)}:orphan",
            reason="duplicate",
        )
    except (stripe_api.StripeUnavailable, stripe_api.StripeRefused):
        # If it is paid after all, its payment_intent.succeeded webhook fulfils the order.
        log.warning(
            "could not cancel the PaymentIntent of a closed order", extra={"order_id": order.id}
        )


def cancel_unstarted_order(*, session: Session, order_id: int, reason: str) -> bool:
    """Close an order whose PaymentIntent could not be created, saying why. Only an order
    that never got one: once a PaymentIntent exists, Stripe decides what becomes of it."""
    result: Any = session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.stripe_payment_intent_id).is_(None),
            col(Order.fulfilled_at).is_(None),
            col(Order.status).in_(PAYABLE),
        )
        .values(
            status=OrderStatus.CANCELED.value,
            payment_error=reason[:500],
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def confirm_payment(
    *,
    session: Session,
    user_id: int,
    payment_intent_id: str,
    payment_method: str,
) -> PaymentState:
    """Confirm the order's PaymentIntent with `payment_method` (server-side, API clients).
    `payment_intent_id` finds the order (its PaymentIntent id, or its id or number); what is
    confirmed at Stripe is always the order's own PaymentIntent."""
    order = find_order(session=session, reference=payment_intent_id, user_id=user_id)
    assert order.id is not None
    if order.fulfilled_at is not None:
        return _state(order, None)
    if order.status not in PAYABLE:
        raise Conflict(f"Order {order.number} is {order.status}; it cannot be paid.")
    own_intent_id = order.stripe_payment_intent_id
    if own_intent_id is None:
        # Placed a moment ago and its PaymentIntent not made yet (the intent call answers with it).
        raise Conflict(
            f"Order {order.number} has no payment started yet; pay it with the "
            "payment_intent_id that POST /api/payments/intent answered.",
            code="payment_not_started",
        )
    check_still_payable(session=session, order=order)
    return_url = f"{get_settings().public_url}/checkout/success?order={order.id}"
    try:
        intent = stripe_api.confirm_payment_intent(
            payment_intent_id=own_intent_id,
            payment_method=payment_method,
            return_url=return_url,
        )
    except stripe_api.StripeUnavailable as exc:
        raise PaymentServiceUnavailable(
            "The payment service cannot be reached; try again in a moment."
        ) from exc
    except stripe_api.StripeRefused as exc:
        if exc.code == "resource_missing" and exc.param == "payment_method":
            # The client's mistake, not a payment attempt: the order is left as it was.
            raise InvalidInput(
                f"No such payment method: {payment_method}.", field="payment_method"
            ) from exc
        # A declined card: Stripe keeps the PaymentIntent payable with another card.
        try:
            intent = stripe_api.retrieve_payment_intent(payment_intent_id=own_intent_id)
        except stripe_api.StripeUnavailable as retrieve_error:
            raise PaymentServiceUnavailable(
                "The payment service cannot be reached; try again in a moment."
            ) from retrieve_error
        except stripe_api.StripeRefused as retrieve_error:
            # Stripe does not know the order's own PaymentIntent (other keys, a restored
            # backup): the shop's problem, told without Stripe's developer wording.
            log.error(
                "Stripe refused to confirm or show an order's PaymentIntent",
                extra={"order_id": order.id, "stripe_code": retrieve_error.code},
            )
            raise PaymentServiceRefused(REFUSED_MESSAGE) from retrieve_error
        if intent.status == "succeeded":  # pragma: no cover - confirmed twice at once
            fulfil_order(session=session, order_id=order.id, payment_intent=intent)
            return _state(order, intent)
        mark_payment_failed(
            session=session, order_id=order.id, message=str(exc), payment_intent_id=intent.id
        )
        session.refresh(order)
        return PaymentState(
            order_id=order.id,
            order_status=order.status,
            payment_intent_id=intent.id,
            payment_intent_status=intent.status,
            error_code=exc.code or intent.last_error_code,
            decline_code=exc.decline_code or intent.last_decline_code,
            error_message=str(exc),
            error_type=intent.last_error_type,
        )
    if intent.status == "succeeded":
        fulfil_order(session=session, order_id=order.id, payment_intent=intent)
        session.refresh(order)
    return _state(order, intent)


def refresh_status(
    *, session: Session, user_id: int, reference: str, see_all: bool = False
) -> PaymentState:
    """The order's status; a pending order asks Stripe and is fulfilled if it has been paid."""
    order = find_order(session=session, reference=reference, user_id=user_id, see_all=see_all)
    intent = _sync_with_stripe(session, order)
    return _state(order, intent)


def _sync_with_stripe(session: Session, order: Order) -> PaymentIntentInfo | None:
    """When the order still looks unpaid, ask Stripe; fulfil or cancel it as Stripe says."""
    assert order.id is not None
    if (
        order.status not in PAYABLE
        or order.fulfilled_at is not None
        or order.stripe_payment_intent_id is None
    ):
        return None
    try:
        intent = stripe_api.retrieve_payment_intent(
            payment_intent_id=order.stripe_payment_intent_id
        )
    except stripe_api.StripeUnavailable:
        log.warning("could not reach Stripe about an order", extra={"order_id": order.id})
        return None
    if intent.status == "succeeded":
        fulfil_order(session=session, order_id=order.id, payment_intent=intent)
    elif intent.status == "canceled":
        mark_canceled(session=session, order_id=order.id)
    elif (
        intent.status == "requires_payment_method"
        and (intent.last_error_code or intent.last_error_message)
        and order.status != OrderStatus.FAILED.value
    ):
        # The latest attempt failed (declined, 3-D Secure failed): record it as the
        # `payment_intent.payment_failed` webhook does, so the answer does not wait for it.
        mark_payment_failed(
            session=session,
            order_id=order.id,
            message=intent.last_error_message,
            payment_intent_id=intent.id,
        )
    session.refresh(order)
    return intent


def mark_payment_failed(
    *, session: Session, order_id: int, message: str | None, payment_intent_id: str | None = None
) -> bool:
    """A payment attempt failed: the order shows why and stays payable. Never undoes a payment."""
    conditions: list[Any] = [
        col(Order.id) == order_id,
        col(Order.fulfilled_at).is_(None),
        col(Order.status).in_(PAYABLE),
    ]
    if payment_intent_id is not None:
        conditions.append(col(Order.stripe_payment_intent_id) == payment_intent_id)
    result: Any = session.execute(
        update(Order)
        .where(*conditions)
        .values(
            status=OrderStatus.FAILED.value,
            payment_error=(message or "The payment failed.")[:500],
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def mark_canceled(*, session: Session, order_id: int, reason: str | None = None) -> bool:
    """The PaymentIntent was canceled: an unpaid order is canceled with it. Its `payment_error`
    becomes the reason, in words for the customer (`CANCELED_MESSAGE` unless `reason` says
    more): the last decline's text no longer explains the order."""
    values: dict[str, Any] = {
        "status": OrderStatus.CANCELED.value,
        "payment_error": (reason or CANCELED_MESSAGE)[:500],
        "updated_at": utcnow(),
    }
    result: Any = session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.fulfilled_at).is_(None),
            col(Order.status).in_(PAYABLE),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount and reason is not None:
        # The PaymentIntent's own `canceled` webhook closed it first, with the general reason.
        session.execute(
            update(Order)
            .where(
                col(Order.id) == order_id,
                col(Order.status) == OrderStatus.CANCELED.value,
                col(Order.fulfilled_at).is_(None),
            )
            .values(payment_error=reason[:500])
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount)


def _state(order: Order, intent: PaymentIntentInfo | None) -> PaymentState:
    """The order's state; an error only when the latest attempt failed and it is still unpaid."""
    assert order.id is not None
    error_code = decline_code = error_message = error_type = None
    if order.fulfilled_at is None:
        if order.status == OrderStatus.CANCELED.value and order.payment_error:
            # Closed by the shop or at Stripe: the stored reason is already customer words.
            error_code = error_type = CLOSED
            error_message = order.payment_error
        elif intent is not None and intent.status == "requires_payment_method":
            error_code, error_message = intent.last_error_code, intent.last_error_message
            decline_code, error_type = intent.last_decline_code, intent.last_error_type
        elif intent is None and order.status == OrderStatus.FAILED.value:
            error_message = order.payment_error
    return PaymentState(
        order_id=order.id,
        order_status=order.status,
        payment_intent_id=order.stripe_payment_intent_id,
        payment_intent_status=intent.status if intent else None,
        next_action_url=intent.next_action_url if intent else None,
        error_code=error_code,
        decline_code=decline_code,
        error_message=error_message,
        error_type=error_type,
    )
