"""The owner's revenue figures: what was paid, discounted, taxed and refunded over a range of
days, per currency.

An order counts on the UTC day it was paid (`paid_at`, set once by fulfilment), whatever
happened to it since: refunded and partially refunded orders were paid too. A refund counts on
the day it was made (its own `created_at`), which may fall in a later range than its order.
Amounts are never added across currencies: each currency has its own figures.

Every sum is a SQL GROUP BY, so the work grows with days × currencies × products, not with the
number of orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, literal_column
from sqlmodel import Session, col, select

from shop.models import Order, OrderItem, OrderStatus, OrderTaxLine, Product, Refund, RefundStatus
from shop.services.errors import InvalidInput

# Statuses of orders that were paid, whatever refunds came after.
PAID_STATUSES = (
    OrderStatus.PAID.value,
    OrderStatus.PARTIALLY_REFUNDED.value,
    OrderStatus.REFUNDED.value,
)
MAX_DAYS = 400
TOP_PRODUCTS = 10


@dataclass(frozen=True, slots=True)
class TaxTotal:
    name: str  # "HST", "GST", "QST" …
    jurisdiction: str  # "CA", "ON", "QC" …
    amount: int


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: date
    paid_orders: int
    gross: int
    refunds: int


@dataclass(frozen=True, slots=True)
class ProductFigures:
    product_id: int
    name: str
    units: int
    revenue: int  # the lines' amounts at the price paid, before order discounts and tax


@dataclass(frozen=True, slots=True)
class CurrencyFigures:
    """Everything in one currency; amounts in its minor units."""

    currency: str
    paid_orders: int
    gross: int  # order totals: after discounts, tax included
    discounts: int
    tax: int
    taxes: list[TaxTotal]
    refunds: int
    net: int  # gross − refunds
    average_order: int  # gross / paid orders, rounded half up; 0 without orders
    days: list[DayFigures]  # every day of the range, days without sales too
    top_products: list[ProductFigures]


@dataclass(frozen=True, slots=True)
class RevenueReport:
    start: date
    end: date
    currencies: list[CurrencyFigures]  # most gross first

    def figures_for(self, currency: str) -> CurrencyFigures:
        """The figures of `currency`, zeros (and every day) when nothing happened in it."""
        code = currency.lower()
        for figures in self.currencies:
            if figures.currency == code:
                return figures
        return _figures(code, self.start, self.end, {}, {}, [], [])

    @property
    def main_currency(self) -> str | None:
        return self.currencies[0].currency if self.currencies else None


def revenue_report(*, session: Session, start: date, end: date) -> RevenueReport:
    """The figures of the UTC days `start` to `end`, both included."""
    if start > end:
        raise InvalidInput("The start date is after the end date.", field="start")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(
            f"A report covers at most {MAX_DAYS} days; choose a shorter range.", field="end"
        )
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    dialect = session.get_bind().dialect.name
    order_currency = func.lower(Order.currency)
    refund_currency = func.lower(Refund.currency)
    paid_day = _day(col(Order.paid_at), dialect)
    refund_day = _day(col(Refund.created_at), dialect)
    paid_in_range = (
        col(Order.status).in_(PAID_STATUSES),
        col(Order.paid_at) >= since,
        col(Order.paid_at) < until,
    )

    order_rows = session.exec(
        select(  # type: ignore[call-overload]
            order_currency,
            paid_day,
            func.count(col(Order.id)),
            func.sum(Order.total_amount),
            func.sum(Order.discount_amount),
            func.sum(Order.tax_amount),
        )
        .where(*paid_in_range)
        .group_by(order_currency, paid_day)
    ).all()
    refund_rows = session.exec(
        select(refund_currency, refund_day, func.sum(Refund.amount))  # type: ignore[call-overload]
        .where(
            Refund.status == RefundStatus.SUCCEEDED,
            col(Refund.created_at) >= since,
            col(Refund.created_at) < until,
        )
        .group_by(refund_currency, refund_day)
    ).all()
    tax_rows = session.exec(
        select(  # type: ignore[call-overload]
            order_currency,
            OrderTaxLine.name,
            OrderTaxLine.jurisdiction,
            func.sum(OrderTaxLine.amount),
        )
        .join(Order, col(Order.id) == col(OrderTaxLine.order_id))
        .where(*paid_in_range)
        .group_by(order_currency, OrderTaxLine.name, OrderTaxLine.jurisdiction)
        .order_by(order_currency, OrderTaxLine.jurisdiction, OrderTaxLine.name)
    ).all()

    # {currency: {day: [orders, gross, discounts, tax]}} and {currency: {day: refunds}}
    sales: dict[str, dict[date, list[int]]] = {}
    for currency, day, count, gross, discounts, tax in order_rows:
        sales.setdefault(currency, {})[_as_date(day)] = [
            int(count),
            int(gross or 0),
            int(discounts or 0),
            int(tax or 0),
        ]
    refunds: dict[str, dict[date, int]] = {}
    for currency, day, amount in refund_rows:
        refunds.setdefault(currency, {})[_as_date(day)] = int(amount or 0)
    taxes: dict[str, list[TaxTotal]] = {}
    for currency, name, jurisdiction, amount in tax_rows:
        taxes.setdefault(currency, []).append(
            TaxTotal(name=name, jurisdiction=jurisdiction, amount=int(amount or 0))
        )

    currencies = [
        _figures(
            code,
            start,
            end,
            sales.get(code, {}),
            refunds.get(code, {}),
            taxes.get(code, []),
            _top_products(session, code, paid_in_range) if code in sales else [],
        )
        for code in sorted(set(sales) | set(refunds))
    ]
    currencies.sort(key=lambda figures: (-figures.gross, figures.currency))
    return RevenueReport(start=start, end=end, currencies=currencies)


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, in SQL."""
    if dialect == "postgresql":
        # A timestamptz cast to date takes the connection's time zone; name UTC explicitly, as a
        # literal: a bound parameter would differ between SELECT and GROUP BY.
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    # SQLite holds UTC as naive text ("2026-11-28 12:00:00.000000"): date() reads its day.
    return func.date(column)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _top_products(
    session: Session, currency: str, paid_in_range: tuple[Any, ...]
) -> list[ProductFigures]:
    revenue = func.sum(col(OrderItem.price_at_time) * col(OrderItem.quantity))
    rows = session.exec(
        select(  # type: ignore[call-overload]
            OrderItem.product_id,
            func.coalesce(func.max(Product.name), func.max(OrderItem.product_name)),
            func.sum(OrderItem.quantity),
            revenue,
        )
        .join(Order, col(Order.id) == col(OrderItem.order_id))
        .outerjoin(Product, col(Product.id) == col(OrderItem.product_id))
        .where(*paid_in_range, func.lower(Order.currency) == currency)
        .group_by(col(OrderItem.product_id))
        .order_by(revenue.desc(), col(OrderItem.product_id))
        .limit(TOP_PRODUCTS)
    ).all()
    return [
        ProductFigures(product_id=int(pid), name=str(name), units=int(units), revenue=int(total))
        for pid, name, units, total in rows
    ]


def _figures(
    currency: str,
    start: date,
    end: date,
    sales: dict[date, list[int]],
    refunds: dict[date, int],
    taxes: list[TaxTotal],
    top_products: list[ProductFigures],
) -> CurrencyFigures:
    days = []
    day = start
    while day <= end:
        count, gross, _discounts, _tax = sales.get(day, [0, 0, 0, 0])
        days.append(
            DayFigures(day=day, paid_orders=count, gross=gross, refunds=refunds.get(day, 0))
        )
        day += timedelta(days=1)
    paid_orders = sum(row[0] for row in sales.values())
    gross = sum(row[1] for row in sales.values())
    refunded = sum(refunds.values())
    return CurrencyFigures(
        currency=currency,
        paid_orders=paid_orders,
        gross=gross,
        discounts=sum(row[2] for row in sales.values()),
        tax=sum(row[3] for row in sales.values()),
        taxes=taxes,
        refunds=refunded,
        net=gross - refunded,
        average_order=(2 * gross + paid_orders) // (2 * paid_orders) if paid_orders else 0,
        days=days,
        top_products=top_products,
    )
