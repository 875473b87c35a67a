"""The owner's revenue figures over HTTP (`analytics:read`). Thin: `shop.services.analytics`
decides what counts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from shop.api.deps import require_permission
from shop.db import session_scope
from shop.services import analytics, clock
from shop.services.auth import CurrentUser as AuthUser
from shop.services.errors import InvalidInput

router = APIRouter(tags=["admin"])

AnalyticsReader = Annotated[AuthUser, Depends(require_permission("analytics:read"))]
DEFAULT_DAYS = 30
# The service's argument names, as the query calls them.
_QUERY_NAMES = {"start": "from", "end": "to"}


class TaxTotalOut(BaseModel):
    name: str
    jurisdiction: str
    amount: int = Field(description="Charged on the orders paid in the range (gross of refunds).")
    refunded: int = Field(description="This tax's pro-rata share of the refunds made in the range.")
    net: int = Field(description="amount − refunded")


class DayOut(BaseModel):
    date: date
    paid_orders: int
    gross: int
    refunds: int


class TopProductOut(BaseModel):
    product_id: int
    name: str
    units: int = Field(description="Units kept: fully refunded orders are left out.")
    revenue: int = Field(
        description="Line amounts at the price paid, before discounts, tax and partial refunds."
    )


class CurrencyFiguresOut(BaseModel):
    currency: str = Field(
        description="ISO 4217 code, lower case; every amount is in its minor units."
    )
    paid_orders: int
    gross: int = Field(description="Totals of the orders paid in the range (tax included).")
    discounts: int
    tax: int = Field(description="Tax charged on the orders paid in the range, gross of refunds.")
    tax_refunded: int = Field(
        description=(
            "The tax share of the refunds made in the range: each refund × its order's tax ÷ "
            "its order's total, rounded half up (several refunds of an order cumulatively, so "
            "a full refund gives back exactly the order's tax)."
        )
    )
    tax_net: int = Field(description="tax − tax_refunded: the tax collected and kept.")
    taxes: list[TaxTotalOut] = Field(
        description="Per tax line; the refunded shares are split over the lines pro rata, the "
        "rounding remainder on the largest line, so they add up to `tax_refunded`."
    )
    refunds: int = Field(
        description="Succeeded refunds made in the range, whatever the order's day."
    )
    net: int = Field(description="gross − refunds; tax included.")
    average_order: int
    days: list[DayOut]
    top_products: list[TopProductOut] = Field(
        description="By revenue; fully refunded orders are left out, partially refunded ones "
        "count in full."
    )


class AnalyticsOut(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    currencies: list[CurrencyFiguresOut] = Field(
        description="One entry per currency with sales or refunds in the range, most gross first."
    )


def _out(report: analytics.RevenueReport) -> AnalyticsOut:
    return AnalyticsOut(
        from_=report.start,
        to=report.end,
        currencies=[
            CurrencyFiguresOut(
                currency=c.currency,
                paid_orders=c.paid_orders,
                gross=c.gross,
                discounts=c.discounts,
                tax=c.tax,
                tax_refunded=c.tax_refunded,
                tax_net=c.tax_net,
                taxes=[
                    TaxTotalOut(
                        name=t.name,
                        jurisdiction=t.jurisdiction,
                        amount=t.amount,
                        refunded=t.refunded,
                        net=t.net,
                    )
                    for t in c.taxes
                ],
                refunds=c.refunds,
                net=c.net,
                average_order=c.average_order,
                days=[
                    DayOut(date=d.day, paid_orders=d.paid_orders, gross=d.gross, refunds=d.refunds)
                    for d in c.days
                ],
                top_products=[
                    TopProductOut(
                        product_id=p.product_id, name=p.name, units=p.units, revenue=p.revenue
                    )
                    for p in c.top_products
                ],
            )
            for c in report.currencies
        ],
    )


def _report(start: date, end: date) -> analytics.RevenueReport:
    with session_scope() as session:
        try:
            return analytics.revenue_report(session=session, start=start, end=end)
        except InvalidInput as exc:
            raise InvalidInput(
                exc.message, field=_QUERY_NAMES.get(exc.field or "", exc.field)
            ) from exc


@router.get(
    "/api/admin/analytics",
    response_model=AnalyticsOut,
    summary="Revenue figures per currency",
    description=(
        "Paid orders, gross, discounts, tax (total and per tax line, charged, refunded and net "
        "of refunds), refunds, net (tax included) and average "
        "order for the days `from` to `to` in the shop's time zone (SHOP_TIME_ZONE; both "
        "included, at most "
        f"{analytics.MAX_DAYS} days; `to` defaults to today, `from` to {DEFAULT_DAYS - 1} days before `to`), "
        "with a series of every day and the top products by revenue. An order counts on the "
        "day it was paid, a refund on the day it was made. Amounts are integers in the minor "
        "units of each entry's `currency`; currencies are never added together."
    ),
)
async def revenue(
    staff: AnalyticsReader,
    from_: Annotated[date | None, Query(alias="from", description="First day, YYYY-MM-DD.")] = None,
    to: Annotated[date | None, Query(description="Last day, YYYY-MM-DD.")] = None,
) -> AnalyticsOut:
    end = _reportable(to or clock.today(), field="to")
    try:
        start = from_ or end - timedelta(days=DEFAULT_DAYS - 1)
    except OverflowError as exc:
        raise InvalidInput(_OUT_OF_RANGE.format(day=end.isoformat()), field="to") from exc
    return _out(await run_in_threadpool(_report, _reportable(start, field="from"), end))


_OUT_OF_RANGE = "{day} is too far in the past or the future for a report."


def _reportable(day: date, *, field: str) -> date:
    """A day whose bounds (its first instant and the next day's, in UTC) exist: a day next to
    year 1 or 9999 would overflow the report's date arithmetic (a 500) → 422 naming `field`."""
    try:
        clock.day_bounds(day, day)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(_OUT_OF_RANGE.format(day=day.isoformat()), field=field) from exc
    return day
