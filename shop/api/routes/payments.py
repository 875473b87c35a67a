"""Checkout and orders over HTTP: PaymentIntents, confirmation, status, orders, promo codes.

Thin: every rule lives in `shop.services.orders`, `payments`, `promo_codes`. No amount in the
request body is ever charged: `expected_total` is only compared with the server's own total.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, BeforeValidator, Field, Strict

from shop.api.deps import DbSession, client_ip, require_any_permission, require_permission
from shop.api.errors import error_response
from shop.api.params import Amount, OrderReference, PromoCodeId, RowId
from shop.db import session_scope
from shop.models import Order, OrderTaxLine
from shop.services import checkout, ids, orders, payments, promo_codes, refunds
from shop.services.auth import CurrentUser as AuthUser
from shop.services.errors import InvalidInput
from shop.services.tax import format_rate

router = APIRouter(tags=["payments"])

READ_OWN = "orders:read_own"
READ_ALL = "orders:read_all"
# Paying places an order of one's own: the customer role's right. Staff accounts hold no
# such right; a staff member who buys does so with the customer role too.
Buyer = Annotated[AuthUser, Depends(require_permission(READ_OWN))]
# Own orders for customers, every order for staff (`see_all`).
OrderViewer = Annotated[AuthUser, Depends(require_any_permission(READ_OWN, READ_ALL))]


class ItemIn(BaseModel):
    # Strict: "2" or true as a quantity is a client bug to report, not to guess at.
    product_id: RowId = Field(strict=True)
    quantity: int = Field(default=1, strict=True, ge=1, le=orders.MAX_QUANTITY)


class BillingIn(BaseModel):
    country: str = Field(min_length=2, max_length=2)
    region: str | None = Field(default=None, max_length=5)
    postal_code: str | None = Field(default=None, max_length=16)


class IntentIn(BaseModel):
    items: list[ItemIn] = Field(min_length=1, max_length=orders.MAX_LINES)
    billing: BillingIn
    promo_code: str | None = Field(default=None, max_length=64)
    expected_total: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=orders.MAX_CHARGE,
        description="The total the buyer was shown, in minor units. When given and the "
        "server's total differs, the answer is 409 `total_changed` and no order is placed. "
        "Never charged: the order's amount always comes from the catalog.",
    )


class TaxOut(BaseModel):
    name: str
    jurisdiction: str
    rate: float = Field(description="a fraction: 0.13 is 13 %")
    rate_display: str  # "13%"
    amount: int
    registration_number: str | None


class AmountOut(BaseModel):
    subtotal: int
    discount: int
    tax: list[TaxOut]
    tax_total: int
    total: int
    currency: str


class IntentOut(BaseModel):
    order_id: int
    order_number: str
    # None for a free order (its promo code paid the whole total): nothing to confirm.
    payment_intent_id: str | None
    client_secret: str | None
    amount: AmountOut
    status: str  # "pending" until paid; "paid" at once for a free order


class ConfirmIn(BaseModel):
    # The PaymentIntent id, or the order's id or number (`orders.find_order`).
    payment_intent_id: str = Field(min_length=1, max_length=255)
    payment_method: str = Field(min_length=3, max_length=255)


class NextActionOut(BaseModel):
    type: str
    url: str


class PaymentStateOut(BaseModel):
    order_id: int
    status: str
    payment_intent_id: str | None
    payment_intent_status: str | None
    next_action: NextActionOut | None = None


class PaymentErrorOut(BaseModel):
    code: str | None  # Stripe's error code ("card_declined", …)
    decline_code: str | None = None  # a declined card's reason ("insufficient_funds", …)
    message: str  # for the customer: never Stripe's developer wording


class StatusOut(BaseModel):
    order_id: int
    status: str
    # Only while the latest attempt failed and the order is unpaid (left out otherwise).
    payment_error: PaymentErrorOut | None = None


class OrderItemOut(BaseModel):
    product_id: int
    name: str
    quantity: int
    unit_amount: int
    amount: int

    @classmethod
    def of(cls, item: Any) -> OrderItemOut:
        """From an order item row (the price it was bought at)."""
        return cls(
            product_id=item.product_id,
            name=item.product_name,
            quantity=item.quantity,
            unit_amount=item.price_at_time,
            amount=item.price_at_time * item.quantity,
        )


class OrderOut(BaseModel):
    id: int
    number: str | None
    status: str
    amount: AmountOut
    items: list[OrderItemOut]
    billing_country: str | None
    billing_region: str | None
    # Why an unpaid order is unpaid, in words for the customer (the staff's order view has
    # Stripe's own text); None once paid or when no attempt failed.
    payment_error: str | None
    created_at: datetime
    paid_at: datetime | None
    # What was given back so far, in minor units (0 when nothing was refunded).
    refunded_total: int = 0


class OrderSummaryOut(BaseModel):
    id: int
    number: str | None
    status: str
    total: int
    currency: str
    created_at: datetime


class OrderList(BaseModel):
    items: list[OrderSummaryOut]
    next_cursor: str | None


def _json_number(value: Any) -> Any:
    """A JSON number as an exact Decimal (12.5 → Decimal("12.5")); text or true is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return Decimal(str(value))


class PromoCodeIn(BaseModel):
    code: str = Field(min_length=3, max_length=64)
    percent_off: Annotated[Decimal, BeforeValidator(_json_number)] | None = Field(
        default=None, gt=0, le=100
    )
    amount_off: Amount | None = Field(default=None, strict=True, ge=1)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    expires_at: datetime | None = None
    max_redemptions: Amount | None = Field(default=None, strict=True, ge=1)
    min_subtotal: Amount | None = Field(default=None, strict=True, ge=0)
    # One use per customer unless said otherwise.
    once_per_customer: bool = Field(default=True, strict=True)
    product_ids: list[Annotated[RowId, Strict()]] | None = Field(default=None, max_length=500)


class PromoCodeStateIn(BaseModel):
    active: bool = Field(strict=True)


class PromoCodeOut(BaseModel):
    id: int
    code: str
    percent_off: float | None = Field(description="25 is 25 % off")
    amount_off: int | None
    currency: str | None
    expires_at: datetime | None
    max_redemptions: int | None
    times_redeemed: int
    min_subtotal: int | None
    once_per_customer: bool
    product_ids: list[int]
    is_active: bool
    stripe_coupon_id: str | None
    stripe_promotion_code_id: str | None
    sync_error: str | None


def _tax_out(
    name: str, jurisdiction: str, rate: Decimal, amount: int, number: str | None
) -> TaxOut:
    return TaxOut(
        name=name,
        jurisdiction=jurisdiction,
        rate=float(rate),
        rate_display=format_rate(rate),
        amount=amount,
        registration_number=number,
    )


def _amount(order: Order, tax_lines: list[OrderTaxLine]) -> AmountOut:
    return AmountOut(
        subtotal=order.subtotal_amount,
        discount=order.discount_amount,
        tax=[
            _tax_out(t.name, t.jurisdiction, Decimal(t.rate), t.amount, t.registration_number)
            for t in tax_lines
        ],
        tax_total=order.tax_amount,
        total=order.total_amount,
        currency=order.currency,
    )


def _state_out(state: payments.PaymentState) -> PaymentStateOut:
    return PaymentStateOut(
        order_id=state.order_id,
        status=state.order_status,
        payment_intent_id=state.payment_intent_id,
        payment_intent_status=state.payment_intent_status,
        next_action=NextActionOut(type="redirect_to_url", url=state.next_action_url)
        if state.next_action_url and state.payment_intent_status == "requires_action"
        else None,
    )


def _quoted_amount(figures: orders.Quote) -> AmountOut:
    return AmountOut(
        subtotal=figures.subtotal,
        discount=figures.discount,
        tax=[
            _tax_out(t.name, t.jurisdiction, t.rate, t.amount, t.registration_number)
            for t in figures.tax_lines
        ],
        tax_total=figures.tax,
        total=figures.total,
        currency=figures.currency,
    )


INTENT_DESCRIPTION = """Place a pending order for `items` at today's catalog prices, with the
promo code's discount and the tax for `billing`, and create its PaymentIntent (confirm it with
the `client_secret` in Stripe.js, or with `POST /api/payments/confirm`).

`expected_total` (optional, integer minor units): the total the buyer was shown. When it is
given and differs from the total computed now (a price changed, a promo code ran out, a tax
rate moved), the answer is **409** with `error.code` `total_changed`, a message giving both
totals ("The total is now $28.25 CAD, not the $11.30 CAD shown; check the new total and pay
again.") and the new figures in `error.amount` (the shape of `amount` below); no order is placed
and no PaymentIntent created. Show the new total and send it again. Without it the order is
placed at whatever the total is now.

A promo code that pays the whole order (total 0) makes a **free order**: it is paid and
delivered at once, `status` is `paid`, and `payment_intent_id` and `client_secret` are null
(there is nothing to confirm; Stripe is not asked). A total above 0 but below what a card can
be charged (0.50) is refused with 422."""


@router.post(
    "/api/payments/intent",
    response_model=IntentOut,
    status_code=201,
    description=INTENT_DESCRIPTION,
    responses={
        409: {
            "description": "`total_changed`: the total is not `expected_total` (new figures "
            "in `error.amount`, no order placed); `sold_out` (also while the last copies are "
            "held by other customers' unpaid orders, see CHECKOUT_HOLD_MINUTES), "
            "`product_unavailable`, or `checkout_busy` (other checkouts for the same items "
            "keep taking what was freed: try again; or a newer checkout of the same buyer, "
            "from another tab or a second click, replaced this one: continue with that one)."
        }
    },
)
def create_intent(body: IntentIn, user: Buyer) -> Any:
    try:
        started = checkout.start_checkout(
            buyer_id=user.id,
            items=[orders.LineRequest(i.product_id, i.quantity) for i in body.items],
            billing=orders.Billing(
                country=body.billing.country,
                region=body.billing.region,
                postal_code=body.billing.postal_code,
            ),
            promo_code=body.promo_code,
            expected_total=body.expected_total,
        )
    except orders.TotalChanged as changed:
        return error_response(
            changed.status_code,
            changed.code,
            changed.message,
            field=changed.field,
            amount=_quoted_amount(changed.quote).model_dump(),
        )
    detail = started.detail
    intent = started.intent
    return IntentOut(
        order_id=started.order_id,
        order_number=detail.order.number or "",
        payment_intent_id=intent.id if intent else None,
        client_secret=(intent.client_secret or "") if intent else None,
        amount=_amount(detail.order, detail.tax_lines),
        status=detail.order.status,
    )


@router.post(
    "/api/payments/confirm",
    response_model=PaymentStateOut,
    description="Confirm the order's PaymentIntent server-side with `payment_method` (e.g. "
    "`pm_card_visa`). `payment_intent_id` names the order: its PaymentIntent id (or the "
    "order's id or number); the order's own PaymentIntent is what is confirmed. A card that "
    "needs 3-D Secure answers 200 with `next_action`.",
    responses={
        404: {"description": "No such order of yours."},
        409: {
            "description": "The order cannot be paid (canceled, or `payment_not_started`: "
            "its PaymentIntent is not made yet). An order paid already answers 200 with "
            "its state, charging nothing."
        },
        402: {
            "description": "The card was declined or could not be verified; `error.code` is "
            "Stripe's (`card_declined`, …), `error.decline_code` the bank's reason when Stripe "
            "gave one (`insufficient_funds`, …), and `error.message` is written for the "
            "cardholder. The order stays payable."
        },
        422: {"description": "No such payment method: nothing was attempted."},
    },
)
def confirm(body: ConfirmIn, user: Buyer, session: DbSession) -> Any:
    state = payments.confirm_payment(
        session=session,
        user_id=user.id,
        payment_intent_id=body.payment_intent_id,
        payment_method=body.payment_method,
    )
    # Commit (and send the receipt) before answering, so the answer is never ahead of the data.
    session.commit()
    if state.error_message is not None and state.order_status != "paid":
        return error_response(
            402,
            state.error_code or "payment_failed",
            state.api_error_message or payments.GENERIC_PAYMENT_ERROR,
            order_id=state.order_id,
            order_status=state.order_status,
            payment_intent_status=state.payment_intent_status,
            decline_code=state.decline_code,
        )
    return _state_out(state)


@router.get(
    "/api/payments/status/{reference}",
    response_model=StatusOut,
    response_model_exclude_none=True,
    description="Where the order's payment stands (asking Stripe when it still looks unpaid). "
    "`payment_error` is present while the latest attempt failed and the order is unpaid, and "
    "for a canceled order (code `order_canceled`: replaced by the buyer's newer checkout, its "
    "hold expired, or canceled at Stripe): its `message` is written for the customer (the "
    "checkout page shows it after a failed 3-D Secure).",
)
def payment_status(reference: OrderReference, user: OrderViewer, session: DbSession) -> StatusOut:
    state = payments.refresh_status(
        session=session, user_id=user.id, reference=reference, see_all=user.can(READ_ALL)
    )
    session.commit()
    customer_error = state.customer_error
    return StatusOut(
        order_id=state.order_id,
        status=state.order_status,
        payment_error=PaymentErrorOut(
            code=state.error_code, decline_code=state.decline_code, message=customer_error
        )
        if customer_error is not None
        else None,
    )


@router.get("/api/orders", response_model=OrderList)
def list_orders(
    user: OrderViewer,
    session: DbSession,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrderList:
    before_id = ids.parse_id(cursor) if cursor is not None else None
    if cursor is not None and before_id is None:
        raise InvalidInput("Invalid cursor.", field="cursor")
    rows = orders.list_orders(
        session=session,
        user_id=user.id,
        see_all=user.can(READ_ALL),
        before_id=before_id,
        limit=limit + 1,
    )
    page = rows[:limit]
    return OrderList(
        items=[
            OrderSummaryOut(
                id=o.id,  # type: ignore[arg-type]
                number=o.number,
                status=o.status,
                total=o.total_amount,
                currency=o.currency,
                created_at=o.created_at,
            )
            for o in page
        ],
        next_cursor=str(page[-1].id) if len(rows) > limit else None,
    )


@router.get("/api/orders/{reference}", response_model=OrderOut)
def get_order(reference: OrderReference, user: OrderViewer, session: DbSession) -> OrderOut:
    order = orders.find_order(
        session=session, reference=reference, user_id=user.id, see_all=user.can(READ_ALL)
    )
    detail = orders.order_detail(session=session, order=order)
    return OrderOut(
        id=order.id,  # type: ignore[arg-type]
        number=order.number,
        status=order.status,
        amount=_amount(order, detail.tax_lines),
        items=[OrderItemOut.of(i) for i in detail.items],
        billing_country=order.billing_country,
        billing_region=order.billing_region,
        payment_error=payments.order_error_for_customer(order=order),
        created_at=order.created_at,
        paid_at=order.paid_at,
        refunded_total=refunds.refunded_amount(session=session, order_id=order.id or 0),
    )


@router.post("/api/admin/promo-codes", response_model=PromoCodeOut, status_code=201)
def create_promo_code(
    body: PromoCodeIn,
    request: Request,
    admin: Annotated[AuthUser, Depends(require_permission("promo_codes:write"))],
) -> PromoCodeOut:
    with session_scope() as session:
        promo = promo_codes.create_promo_code(
            session=session,
            code=body.code,
            percent_off=body.percent_off,
            amount_off=body.amount_off,
            currency=body.currency,
            expires_at=body.expires_at,
            max_redemptions=body.max_redemptions,
            min_subtotal=body.min_subtotal,
            once_per_customer=body.once_per_customer,
            product_ids=body.product_ids,
            actor=admin,
            ip=client_ip(request),
        )
        promo_id = promo.id
    with session_scope() as session:
        promo = promo_codes.sync_to_stripe(session=session, promo_code_id=promo_id)  # type: ignore[arg-type]
        return PromoCodeOut.model_validate(promo, from_attributes=True)


@router.get("/api/admin/promo-codes", response_model=list[PromoCodeOut])
def list_promo_codes(
    _admin: Annotated[AuthUser, Depends(require_permission("promo_codes:write"))],
    session: DbSession,
) -> list[PromoCodeOut]:
    return [
        PromoCodeOut.model_validate(promo, from_attributes=True)
        for promo in promo_codes.list_promo_codes(session=session)
    ]


@router.put("/api/admin/promo-codes/{promo_code_id}", response_model=PromoCodeOut)
def set_promo_code_state(
    promo_code_id: PromoCodeId,
    body: PromoCodeStateIn,
    request: Request,
    admin: Annotated[AuthUser, Depends(require_permission("promo_codes:write"))],
) -> PromoCodeOut:
    """Withdraw a code (`{"active": false}`) or put it back; mirrored to Stripe."""
    with session_scope() as session:
        promo_codes.set_active(
            session=session,
            promo_code_id=promo_code_id,
            active=body.active,
            actor=admin,
            ip=client_ip(request),
        )
    with session_scope() as session:
        promo = promo_codes.mirror_active_to_stripe(session=session, promo_code_id=promo_code_id)
        return PromoCodeOut.model_validate(promo, from_attributes=True)
