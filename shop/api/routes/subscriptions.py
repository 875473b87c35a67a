"""Subscriptions over HTTP: start one, list, change or cancel them, open the Billing Portal.

Thin: every rule lives in `shop.services.subscriptions`. Customers act on their own
subscriptions only (someone else's is a 404); staff who may read every order may also list
every subscription (read-only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from shop.api.deps import DbSession, require_any_permission, require_permission
from shop.api.params import RowId, SubscriptionId
from shop.api.routes.payments import BillingIn
from shop.services import orders, subscriptions
from shop.services.auth import CurrentUser as AuthUser

router = APIRouter(tags=["subscriptions"])

MANAGE_OWN = "subscriptions:manage_own"
READ_ALL = "orders:read_all"
Member = Annotated[AuthUser, Depends(require_permission(MANAGE_OWN))]
# Own subscriptions for customers, every one for staff who read all orders.
Viewer = Annotated[AuthUser, Depends(require_any_permission(MANAGE_OWN, READ_ALL))]


class SubscribeIn(BaseModel):
    product_id: RowId = Field(strict=True, description="A subscription plan's product id.")
    billing: BillingIn
    payment_method: str | None = Field(
        default=None,
        min_length=3,
        max_length=255,
        description="A PaymentMethod id (e.g. `pm_card_visa`) to subscribe with at once. "
        "Without it the answer is a Stripe Checkout URL.",
    )


class ChangeIn(BaseModel):
    cancel_at_period_end: bool | None = Field(
        default=None,
        strict=True,
        description="true: end the subscription when the paid period ends; false: resume it.",
    )
    product_id: RowId | None = Field(
        default=None,
        strict=True,
        description="Switch to this plan of the same membership (e.g. monthly → yearly).",
    )


class PriceOut(BaseModel):
    amount: int
    currency: str


class SubscriptionOut(BaseModel):
    id: int
    product_id: int | None
    product_name: str
    status: str = Field(
        description="Stripe's: `active`, `trialing`, `past_due`, `incomplete`, "
        "`incomplete_expired`, `unpaid` or `canceled`."
    )
    interval: str | None
    price: PriceOut | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    stripe_subscription_id: str
    client_secret: str | None = Field(
        default=None,
        description="Only while the first payment needs 3-D Secure: confirm it with Stripe.js.",
    )

    @classmethod
    def of(cls, detail: subscriptions.SubscriptionDetail) -> SubscriptionOut:
        row = detail.subscription
        return cls(
            id=row.id,  # type: ignore[arg-type]
            product_id=row.product_id,
            product_name=detail.product_name,
            status=row.status,
            interval=row.interval,
            price=PriceOut(amount=row.price_amount, currency=row.currency)
            if row.price_amount is not None and row.currency
            else None,
            current_period_end=row.current_period_end,
            cancel_at_period_end=row.cancel_at_period_end,
            stripe_subscription_id=row.stripe_subscription_id,
            client_secret=detail.client_secret,
        )


class CheckoutOut(BaseModel):
    checkout_url: str
    checkout_session_id: str


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]


class PortalOut(BaseModel):
    url: str


SUBSCRIBE_DESCRIPTION = """Subscribe the signed-in customer to a plan (a product of kind
`subscription`). The tax for `billing` (Canadian GST/HST/PST/QST by province, none outside
Canada) is added to every period's invoice.

With `payment_method` the subscription is created at once and answered (201); `status` is
`active` when the first payment went through, `incomplete` with a `client_secret` when the
card needs 3-D Secure. Without it, the answer (201) is `{checkout_url, checkout_session_id}`:
send the customer to Stripe Checkout; the subscription appears here when Stripe reports it.
Each paid invoice becomes an order (`GET /api/orders`) with the plan's downloads."""


@router.post(
    "/api/subscriptions",
    response_model=SubscriptionOut | CheckoutOut,
    response_model_exclude_none=True,
    status_code=201,
    description=SUBSCRIBE_DESCRIPTION,
    responses={
        402: {"description": "The card was declined; nothing was charged, nothing kept."},
        404: {"description": "No such product."},
        409: {
            "description": "`already_subscribed` (this plan or another of its membership is "
            "active, trialing or past due), `plan_unavailable` (archived or not yet set up "
            "with Stripe)."
        },
        422: {
            "description": "`not_a_plan` (a one-time product), a bad billing address, or no "
            "such payment method."
        },
        502: {"description": "Stripe refused the shop's request (a setup problem)."},
        503: {"description": "Stripe cannot be reached; nothing was charged."},
    },
)
def subscribe(body: SubscribeIn, user: Member) -> Any:
    started = subscriptions.start(
        user_id=user.id,
        product_id=body.product_id,
        billing=orders.Billing(
            country=body.billing.country,
            region=body.billing.region,
            postal_code=body.billing.postal_code,
        ),
        payment_method=body.payment_method,
    )
    if isinstance(started, subscriptions.CheckoutStarted):
        return CheckoutOut(
            checkout_url=started.checkout_url, checkout_session_id=started.checkout_session_id
        )
    return SubscriptionOut.of(started)


@router.get(
    "/api/subscriptions",
    response_model=SubscriptionList,
    response_model_exclude_none=True,
    description="The customer's subscriptions, newest first (staff who may read every order "
    "see everyone's; `mine=true` lists only their own).",
)
def list_subscriptions(
    user: Viewer,
    session: DbSession,
    mine: Annotated[bool, Query()] = False,
) -> SubscriptionList:
    rows = subscriptions.list_subscriptions(
        session=session, user_id=user.id, see_all=user.can(READ_ALL) and not mine
    )
    return SubscriptionList(items=[SubscriptionOut.of(row) for row in rows])


@router.get(
    "/api/subscriptions/portal",
    response_model=PortalOut,
    description="A Stripe Billing Portal page for the customer (cards, invoices, plans); it "
    "links back to /account/subscriptions. 404 `no_billing_account` before any subscription.",
)
def portal(user: Member, session: DbSession) -> PortalOut:
    return PortalOut(url=subscriptions.portal_url(session=session, user_id=user.id))


@router.get(
    "/api/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    response_model_exclude_none=True,
    description="One of the customer's subscriptions (staff who may read every order: "
    "anyone's, as the list shows them).",
    responses={404: {"description": "No such subscription of yours."}},
)
def get_subscription(
    subscription_id: SubscriptionId, user: Viewer, session: DbSession
) -> SubscriptionOut:
    return SubscriptionOut.of(
        subscriptions.get_own(
            session=session,
            user_id=user.id,
            subscription_id=subscription_id,
            see_all=user.can(READ_ALL),
        )
    )


@router.put(
    "/api/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    response_model_exclude_none=True,
    description="Schedule the cancellation at the end of the paid period "
    "(`cancel_at_period_end: true`), resume (`false`), and/or switch to another plan of the "
    "same membership (`product_id`; Stripe prorates, and a new billing interval starts now "
    "and is invoiced at once). Answers the subscription as Stripe has it now.",
    responses={
        409: {"description": "`subscription_ended`: it is over (or never started)."},
        422: {"description": "`product_id` is not a plan of the same membership."},
    },
)
def change_subscription(
    subscription_id: SubscriptionId, body: ChangeIn, user: Member
) -> SubscriptionOut:
    return SubscriptionOut.of(
        subscriptions.change(
            user_id=user.id,
            subscription_id=subscription_id,
            cancel_at_period_end=body.cancel_at_period_end,
            product_id=body.product_id,
        )
    )


@router.delete(
    "/api/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    response_model_exclude_none=True,
    description="Cancel at the end of the paid period (the member keeps what they paid for "
    "until then); `immediately=true` ends it now, without a refund, and revokes its "
    "downloads. Answers the subscription.",
    responses={409: {"description": "`subscription_ended`: it is over already (at period end)."}},
)
def cancel_subscription(
    subscription_id: SubscriptionId,
    user: Member,
    immediately: Annotated[bool, Query()] = False,
) -> SubscriptionOut:
    return SubscriptionOut.of(
        subscriptions.cancel(
            user_id=user.id, subscription_id=subscription_id, immediately=immediately
        )
    )
