"""Staff: refunds, order and customer management, reconciliation with Stripe.

Thin: the rules live in `shop.services.refunds`, `backoffice` and `reconciliation`. Each route
names the permission it needs (`require_permission`), so the auth matrix covers it; what
support may refund beyond that is the refund service's policy (403 above it).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import (
    BaseModel,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from starlette.concurrency import run_in_threadpool

from shop.api.deps import client_ip, require_permission
from shop.api.params import CustomerId, GrantId, Offset, OrderId, OrderReference, RowId
from shop.api.routes.payments import OrderItemOut
from shop.db import session_scope
from shop.models import ReconciliationRun
from shop.services import backoffice, reconciliation, refunds
from shop.services.auth import CurrentUser as AuthUser

router = APIRouter(tags=["admin"])

Refunder = Annotated[AuthUser, Depends(require_permission("refunds:create"))]
OrderReader = Annotated[AuthUser, Depends(require_permission("orders:read_all"))]
OrderWriter = Annotated[AuthUser, Depends(require_permission("orders:write"))]
CustomerReader = Annotated[AuthUser, Depends(require_permission("customers:read"))]
CustomerWriter = Annotated[AuthUser, Depends(require_permission("customers:write"))]
Reconciler = Annotated[AuthUser, Depends(require_permission("payments:reconcile"))]


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = TypeAdapter(datetime)


def _day_or_instant(value: Any) -> date:
    """Text with a date alone ("2026-11-29") is a day (a `date`); with a time, an instant (a
    `datetime`)."""
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
        return _INSTANT.validate_python(text)
    except (ValueError, ValidationError) as exc:
        raise ValueError("Write a date as YYYY-MM-DD, or a date and time (ISO 8601).") from exc


# A query date: a day without a time means that whole day of the shop's time zone, in both bounds.
DayOrInstant = Annotated[
    date,
    PlainValidator(_day_or_instant),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    ),
]


class RefundIn(BaseModel):
    # Strict: true or "5" as an order or an amount of money is a client bug, never a refund.
    order_id: RowId = Field(strict=True)
    amount: int | None = Field(
        default=None, strict=True, description="minor units; default: all that is left"
    )
    reason: str | None = Field(default=None, max_length=500)


class RefundOut(BaseModel):
    order_id: int
    order_number: str | None
    refund_id: str
    amount: int
    currency: str
    refunded_total: int
    status: str


class OrderRowOut(BaseModel):
    id: int
    number: str | None
    status: str
    total: int
    currency: str
    customer_id: int | None
    customer_email: str | None
    payment_intent_id: str | None
    created_at: datetime
    paid_at: datetime | None


class OrderPageOut(BaseModel):
    items: list[OrderRowOut]
    total: int
    next_offset: int | None


class TaxLineOut(BaseModel):
    name: str
    jurisdiction: str = Field(description='"CA" for the federal GST, "CA-ON" etc. for a province')
    rate: float = Field(description="a fraction: 0.13 is 13 %")
    amount: int


class RefundRowOut(BaseModel):
    stripe_refund_id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    source: str
    requested_by: str | None
    created_at: datetime


class GrantOut(BaseModel):
    id: int
    order_id: int
    order_number: str | None
    product_name: str
    file_name: str
    expires_at: datetime
    download_limit: int
    download_count: int
    downloads_left: int
    revoked_at: datetime | None


class TimelineOut(BaseModel):
    at: datetime
    type: str
    stripe_event_id: str
    processed_at: datetime | None
    last_error: str | None


class EmailOut(BaseModel):
    kind: str
    to: str
    created_at: datetime
    sent_at: datetime | None


class OrderDetailOut(OrderRowOut):
    subtotal: int
    discount: int
    promo_code: str | None = Field(description="the code that gave the discount, if any")
    tax: int
    tax_lines: list[TaxLineOut]
    items: list[OrderItemOut]
    payment_error: str | None
    refunds: list[RefundRowOut]
    refunded_total: int
    refundable: int
    grants: list[GrantOut]
    timeline: list[TimelineOut]
    emails: list[EmailOut]


class DoneOut(BaseModel):
    ok: bool = True
    detail: str


class ExtendIn(BaseModel):
    days: int = Field(strict=True, ge=1, le=backoffice.MAX_EXTEND_DAYS)


class CurrencyAmountOut(BaseModel):
    currency: str = Field(description="ISO 4217 code, lower case")
    amount: int = Field(description="in the currency's minor units")


class CustomerRowOut(BaseModel):
    id: int
    email: str
    name: str | None
    is_active: bool
    created_at: datetime
    orders: int = Field(description="paid orders in every currency, refunded ones included")
    spent: int = Field(
        description="paid order totals net of succeeded refunds, in `spent_currency` only"
    )
    spent_currency: str = Field(
        description="the shop's main currency (most paid in; CAD before any sale), lower case"
    )
    spent_by_currency: list[CurrencyAmountOut] = Field(
        description="net spent in each currency the customer paid in, never added together; "
        "the main currency first"
    )


class CustomerPageOut(BaseModel):
    items: list[CustomerRowOut]
    total: int
    next_offset: int | None


class SessionOut(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None


class CustomerDetailOut(BaseModel):
    id: int
    email: str
    name: str | None
    is_active: bool
    email_verified: bool
    created_at: datetime
    roles: list[str]
    orders: list[OrderRowOut]
    grants: list[GrantOut]
    sessions: list[SessionOut]


class RunOut(BaseModel):
    id: int | None
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    orders_checked: int
    events_checked: int
    refunds_checked: int
    repaired_count: int
    repaired: list[dict[str, object]]
    backlog_undelivered: int
    backlog_unprocessed: int
    error: str | None


class ReconciliationOut(BaseModel):
    last_run: RunOut | None
    runs: list[RunOut]
    backlog: dict[str, int]


def _grant_out(grant: backoffice.GrantRow) -> GrantOut:
    return GrantOut(
        id=grant.id,
        order_id=grant.order_id,
        order_number=grant.order_number,
        product_name=grant.product_name,
        file_name=grant.file_name,
        expires_at=grant.expires_at,
        download_limit=grant.download_limit,
        download_count=grant.download_count,
        downloads_left=grant.downloads_left,
        revoked_at=grant.revoked_at,
    )


def _row_out(row: backoffice.OrderRow) -> OrderRowOut:
    return OrderRowOut(**_fields(row))


def _fields(row: Any) -> dict[str, Any]:
    return dataclasses.asdict(row)


# --- refunds ----------------------------------------------------------------------------------


@router.post("/api/payments/refund", response_model=RefundOut)
def refund(body: RefundIn, request: Request, staff: Refunder) -> RefundOut:
    with session_scope() as session:
        outcome = refunds.refund_order(
            session=session,
            order_id=body.order_id,
            actor=staff,
            amount=body.amount,
            reason=body.reason,
            ip=client_ip(request),
        )
    return RefundOut(
        order_id=outcome.order_id,
        order_number=outcome.order_number,
        refund_id=outcome.refund_id,
        amount=outcome.amount,
        currency=outcome.currency,
        refunded_total=outcome.refunded_total,
        status=outcome.order_status,
    )


# --- orders -----------------------------------------------------------------------------------


@router.get(
    "/api/admin/orders",
    response_model=OrderPageOut,
    description=(
        "Newest first; `q` is an email (or part of one), an order number or a Stripe id. "
        "`date_from` and `date_to` bound when the order was placed, both included: a date "
        "(YYYY-MM-DD) is that whole day in the shop's time zone (SHOP_TIME_ZONE), as the admin page's Since and Until boxes are."
    ),
)
def list_orders(
    staff: OrderReader,
    q: Annotated[str | None, Query(max_length=320)] = None,
    status: Annotated[str | None, Query(max_length=30)] = None,
    date_from: Annotated[
        DayOrInstant | None,
        Query(
            description="Placed from: YYYY-MM-DD (that whole day, shop time zone) or a date and time."
        ),
    ] = None,
    date_to: Annotated[
        DayOrInstant | None,
        Query(
            description="Placed until, included: YYYY-MM-DD (that whole day, shop time zone) or a date and "
            "time (up to that instant)."
        ),
    ] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> OrderPageOut:
    with session_scope() as session:
        rows, total = backoffice.search_orders(
            session=session,
            q=q,
            status=status,
            date_from=_aware(date_from),
            date_to=_aware(date_to),
            offset=offset,
            limit=limit,
        )
    return OrderPageOut(
        items=[_row_out(row) for row in rows],
        total=total,
        next_offset=offset + limit if offset + limit < total else None,
    )


def _aware(value: date | datetime | None) -> date | datetime | None:
    """A date as it is (a whole day of the shop's time zone); a datetime without a zone is UTC."""
    if not isinstance(value, datetime) or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get("/api/admin/orders/{reference}", response_model=OrderDetailOut)
def get_order(reference: OrderReference, staff: OrderReader) -> OrderDetailOut:
    with session_scope() as session:
        view = backoffice.order_overview(session=session, reference=reference)
        order = view.order
        assert order.id is not None
        row = backoffice.OrderRow(
            id=order.id,
            number=order.number,
            status=order.status,
            total=order.total_amount,
            currency=order.currency,
            customer_id=order.user_id,
            customer_email=view.customer_email,
            payment_intent_id=order.stripe_payment_intent_id,
            created_at=order.created_at,
            paid_at=order.paid_at,
        )
        return OrderDetailOut(
            **_fields(row),
            subtotal=order.subtotal_amount,
            discount=order.discount_amount,
            promo_code=view.promo_code,
            tax=order.tax_amount,
            tax_lines=[
                TaxLineOut(
                    name=t.name, jurisdiction=t.jurisdiction, rate=float(t.rate), amount=t.amount
                )
                for t in view.tax_lines
            ],
            items=[OrderItemOut.of(i) for i in view.items],
            payment_error=order.payment_error,
            refunds=[
                RefundRowOut(
                    stripe_refund_id=r.stripe_refund_id,
                    amount=r.amount,
                    currency=r.currency,
                    status=r.status,
                    reason=r.reason,
                    source=r.source,
                    requested_by=r.requested_by,
                    created_at=r.created_at,
                )
                for r in view.refunds
            ],
            refunded_total=view.refunded_total,
            refundable=view.refundable,
            grants=[_grant_out(g) for g in view.grants],
            timeline=[TimelineOut(**_fields(t)) for t in view.timeline],
            emails=[
                EmailOut(kind=e.kind, to=e.to_address, created_at=e.created_at, sent_at=e.sent_at)
                for e in view.emails
            ],
        )


@router.post("/api/admin/orders/{order_id}/resend-receipt", response_model=DoneOut)
def resend_receipt(order_id: OrderId, request: Request, staff: OrderWriter) -> DoneOut:
    with session_scope() as session:
        to = backoffice.resend_receipt(
            session=session, order_id=order_id, actor=staff, ip=client_ip(request)
        )
    return DoneOut(detail=f"Receipt sent to {to}.")


@router.post("/api/admin/orders/{order_id}/resend-downloads", response_model=DoneOut)
def resend_downloads(order_id: OrderId, request: Request, staff: OrderWriter) -> DoneOut:
    with session_scope() as session:
        count = backoffice.resend_download_links(
            session=session, order_id=order_id, actor=staff, ip=client_ip(request)
        )
    return DoneOut(detail=f"Download links sent ({count}).")


@router.post("/api/admin/grants/{grant_id}/reset", response_model=GrantOut)
def reset_grant(grant_id: GrantId, request: Request, staff: OrderWriter) -> GrantOut:
    with session_scope() as session:
        backoffice.reset_download_count(
            session=session, grant_id=grant_id, actor=staff, ip=client_ip(request)
        )
        return _grant_out(backoffice.grant_row(session=session, grant_id=grant_id))


@router.post("/api/admin/grants/{grant_id}/extend", response_model=GrantOut)
def extend_grant(
    grant_id: GrantId, body: ExtendIn, request: Request, staff: OrderWriter
) -> GrantOut:
    with session_scope() as session:
        backoffice.extend_grant(
            session=session, grant_id=grant_id, days=body.days, actor=staff, ip=client_ip(request)
        )
        return _grant_out(backoffice.grant_row(session=session, grant_id=grant_id))


# --- customers --------------------------------------------------------------------------------


@router.get("/api/admin/customers", response_model=CustomerPageOut)
def list_customers(
    staff: CustomerReader,
    q: Annotated[str | None, Query(max_length=320)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> CustomerPageOut:
    with session_scope() as session:
        rows, total = backoffice.search_customers(session=session, q=q, offset=offset, limit=limit)
    return CustomerPageOut(
        items=[CustomerRowOut(**_fields(row)) for row in rows],
        total=total,
        next_offset=offset + limit if offset + limit < total else None,
    )


@router.get("/api/admin/customers/{user_id}", response_model=CustomerDetailOut)
def get_customer(user_id: CustomerId, staff: CustomerReader) -> CustomerDetailOut:
    with session_scope() as session:
        view = backoffice.customer_overview(session=session, user_id=user_id)
        user = view.user
        return CustomerDetailOut(
            id=user_id,
            email=user.email,
            name=user.name,
            is_active=user.is_active,
            email_verified=user.email_verified,
            created_at=user.created_at,
            roles=view.roles,
            orders=[_row_out(row) for row in view.orders],
            grants=[_grant_out(g) for g in view.grants],
            sessions=[
                SessionOut(
                    id=s.id,  # type: ignore[arg-type]
                    created_at=s.created_at,
                    last_seen_at=s.last_seen_at,
                    expires_at=s.expires_at,
                    ip=s.ip,
                    user_agent=s.user_agent,
                )
                for s in view.sessions
            ],
        )


@router.post("/api/admin/customers/{user_id}/sessions/end", response_model=DoneOut)
def end_sessions(user_id: CustomerId, request: Request, staff: CustomerWriter) -> DoneOut:
    with session_scope() as session:
        ended = backoffice.end_customer_sessions(
            session=session, user_id=user_id, actor=staff, ip=client_ip(request)
        )
    return DoneOut(detail=f"{ended} sessions ended.")


# --- reconciliation ---------------------------------------------------------------------------


def _run_out(run: Any) -> RunOut:
    """From a stored run or the summary of the run just made."""
    return RunOut(
        id=run.id if isinstance(run, ReconciliationRun) else run.run_id,
        trigger=run.trigger,
        started_at=run.started_at,
        finished_at=run.finished_at,
        orders_checked=run.orders_checked,
        events_checked=run.events_checked,
        refunds_checked=run.refunds_checked,
        repaired_count=run.repaired_count,
        repaired=run.repaired,
        backlog_undelivered=run.backlog_undelivered,
        backlog_unprocessed=run.backlog_unprocessed,
        error=run.error,
    )


@router.get("/api/admin/reconciliation", response_model=ReconciliationOut)
def reconciliation_status(staff: Reconciler) -> ReconciliationOut:
    with session_scope() as session:
        runs = reconciliation.recent_runs(session=session)
        backlog = reconciliation.webhook_backlog(session=session)
    items = [_run_out(run) for run in runs]
    return ReconciliationOut(last_run=items[0] if items else None, runs=items, backlog=backlog)


@router.post("/api/admin/reconciliation/run", response_model=RunOut)
async def run_reconciliation(request: Request, staff: Reconciler) -> RunOut:
    summary = await run_in_threadpool(
        reconciliation.run_reconciliation, trigger="manual", actor=staff, ip=client_ip(request)
    )
    return _run_out(summary)
