"""The owner's revenue figures: what was paid, discounted, taxed and refunded over a range of
days, per currency.

An order counts on the day it was paid (`paid_at`, set once by fulfilment; days are the shop's,
`SHOP_TIME_ZONE`, see `clock`), whatever
happened to it since: refunded and partially refunded orders were paid too. A refund counts on
the day it was made (its own `created_at`), which may fall in a later range than its order.
Amounts are never added across currencies: each currency has its own figures.

Tax: `tax` is the tax of the orders paid in the range (gross); `tax_refunded` the tax share of
the refunds made in the range; `tax_net` the difference. A refund stores no tax share, so it is
computed here, pro rata: refund × order tax ÷ order total, rounded half up, and split over the
order's tax lines by the same proportion, the rounding remainder going to the largest line so
that the lines add up. Several refunds of one order are taken cumulatively (each one's share is
the share of everything refunded up to it minus that of what was refunded before it), so a
full refund, at once or in parts, gives back exactly the order's tax.

Every sum of orders is a SQL GROUP BY, so that work grows with days × currencies × products,
not with the number of orders; the refunds' tax shares grow with the refunds of taxed orders
made in the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from shop.models import Order, OrderItem, OrderStatus, OrderTaxLine, Product, Refund, RefundStatus
from shop.services import clock
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
    amount: int  # charged on the orders paid in the range
    refunded: int = 0  # the pro-rata share of the refunds made in the range

    @property
    def net(self) -> int:
        return self.amount - self.refunded


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
    units: int  # kept: fully refunded orders are left out; partially refunded ones count
    revenue: int  # the kept lines' amounts at the price paid, before discounts, tax and
    # partial refunds (a partial refund is not tied to a line, so revenue stays gross of it)


@dataclass(frozen=True, slots=True)
class CurrencyFigures:
    """Everything in one currency; amounts in its minor units."""

    currency: str
    paid_orders: int
    gross: int  # order totals: after discounts, tax included
    discounts: int
    tax: int  # charged on the orders paid in the range (gross of refunds)
    tax_refunded: int  # the tax share of the refunds made in the range
    tax_net: int  # tax − tax_refunded: what was collected and kept
    taxes: list[TaxTotal]  # per tax line, each with its refunded share
    refunds: int
    net: int  # gross − refunds (tax included)
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
        return _figures(code, self.start, self.end, {}, {}, 0, [], [])

    @property
    def main_currency(self) -> str | None:
        return self.currencies[0].currency if self.currencies else None


def revenue_report(*, session: Session, start: date, end: date) -> RevenueReport:
    """The figures of the shop's days `start` to `end`, both included."""
    if start > end:
        raise InvalidInput("The start date is after the end date.", field="start")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(
            f"A report covers at most {MAX_DAYS} days; choose a shorter range.", field="end"
        )
    since, until = clock.day_bounds(start, end)
    dialect = session.get_bind().dialect.name
    order_currency = func.lower(Order.currency)
    refund_currency = func.lower(Refund.currency)
    paid_day = clock.day_sql(col(Order.paid_at), dialect)
    refund_day = clock.day_sql(col(Refund.created_at), dialect)
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
    # {currency: {(jurisdiction, name): [charged, refunded]}}
    tax_lines: dict[str, dict[tuple[str, str], list[int]]] = {}
    for currency, name, jurisdiction, amount in tax_rows:
        tax_lines.setdefault(currency, {})[(jurisdiction, name)] = [int(amount or 0), 0]
    tax_refunded, line_refunds = _refunded_tax(session, since, until)
    for currency, by_line in line_refunds.items():
        for key, amount in by_line.items():
            tax_lines.setdefault(currency, {}).setdefault(key, [0, 0])[1] += amount
    taxes = {
        currency: [
            TaxTotal(name=name, jurisdiction=jurisdiction, amount=charged, refunded=refunded)
            for (jurisdiction, name), (charged, refunded) in sorted(by_line.items())
        ]
        for currency, by_line in tax_lines.items()
    }

    currencies = [
        _figures(
            code,
            start,
            end,
            sales.get(code, {}),
            refunds.get(code, {}),
            tax_refunded.get(code, 0),
            taxes.get(code, []),
            _top_products(session, code, paid_in_range) if code in sales else [],
        )
        for code in sorted(set(sales) | set(refunds))
    ]
    currencies.sort(key=lambda figures: (-figures.gross, figures.currency))
    return RevenueReport(start=start, end=end, currencies=currencies)


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
        .where(
            *paid_in_range,
            func.lower(Order.currency) == currency,
            # what was kept: a fully refunded order's lines were given back (and restocked)
            col(Order.status) != OrderStatus.REFUNDED.value,
        )
        .group_by(col(OrderItem.product_id))
        .order_by(revenue.desc(), col(OrderItem.product_id))
        .limit(TOP_PRODUCTS)
    ).all()
    return [
        ProductFigures(product_id=int(pid), name=str(name), units=int(units), revenue=int(total))
        for pid, name, units, total in rows
    ]


def _refunded_tax(
    session: Session, since: datetime, until: datetime
) -> tuple[dict[str, int], dict[str, dict[tuple[str, str], int]]]:
    """The tax share of the succeeded refunds made in [since, until): per currency, and per
    currency and (jurisdiction, tax name). Only orders that charged tax are read, with every
    earlier refund of them, since a refund's share depends on what was refunded before it."""
    succeeded = Refund.status == RefundStatus.SUCCEEDED
    refunded_in_range = select(Refund.order_id).where(
        succeeded, col(Refund.created_at) >= since, col(Refund.created_at) < until
    )
    rows = session.exec(
        select(  # type: ignore[call-overload]
            Refund.order_id,
            Refund.amount,
            col(Refund.created_at) >= since,
            func.lower(Order.currency),
            Order.total_amount,
            Order.tax_amount,
        )
        .join(Order, col(Order.id) == col(Refund.order_id))
        .where(
            succeeded,
            col(Refund.created_at) < until,
            col(Order.tax_amount) > 0,
            col(Refund.order_id).in_(refunded_in_range),
        )
        .order_by(col(Refund.order_id), col(Refund.created_at), col(Refund.id))
    ).all()
    totals: dict[str, int] = {}
    by_line: dict[str, dict[tuple[str, str], int]] = {}
    if not rows:
        return totals, by_line
    lines: dict[int, list[tuple[str, str, int]]] = {}
    for order_id, name, jurisdiction, amount in session.exec(
        select(  # type: ignore[call-overload]
            OrderTaxLine.order_id, OrderTaxLine.name, OrderTaxLine.jurisdiction, OrderTaxLine.amount
        )
        .where(col(OrderTaxLine.order_id).in_(refunded_in_range))
        .order_by(col(OrderTaxLine.order_id), col(OrderTaxLine.position), col(OrderTaxLine.id))
    ).all():
        lines.setdefault(int(order_id), []).append((jurisdiction, name, int(amount)))
    refunded_before: dict[int, int] = {}
    for order_id, amount, in_range, currency, total, tax in rows:
        order_lines = lines.get(int(order_id), [])
        before = refunded_before.get(order_id, 0)
        through = before + int(amount)
        refunded_before[order_id] = through
        if not in_range:
            continue
        whole_before, lines_before = tax_share(before, int(total), int(tax), order_lines)
        whole_through, lines_through = tax_share(through, int(total), int(tax), order_lines)
        totals[currency] = totals.get(currency, 0) + whole_through - whole_before
        per_line = by_line.setdefault(currency, {})
        for (jurisdiction, name, _amount), share_before, share_through in zip(
            order_lines, lines_before, lines_through, strict=True
        ):
            key = (jurisdiction, name)
            per_line[key] = per_line.get(key, 0) + share_through - share_before
    return totals, by_line


def tax_share(
    refunded: int, total: int, tax: int, lines: list[tuple[str, str, int]]
) -> tuple[int, list[int]]:
    """The tax in `refunded` of an order of `total` that charged `tax` on `lines` (jurisdiction,
    name, amount): pro rata, rounded half up, and per line by the same proportion with the
    rounding remainder on the largest line (the first of equals), so the lines add up."""
    if total <= 0 or refunded <= 0:
        return 0, [0] * len(lines)
    refunded = min(refunded, total)
    whole = _half_up(refunded * tax, total)
    shares = [_half_up(refunded * amount, total) for *_, amount in lines]
    if shares:
        largest = max(range(len(lines)), key=lambda i: (lines[i][2], -i))
        shares[largest] = whole - (sum(shares) - shares[largest])
    return whole, shares


def _half_up(numerator: int, denominator: int) -> int:
    """numerator ÷ denominator rounded half up, both ≥ 0, in integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def _figures(
    currency: str,
    start: date,
    end: date,
    sales: dict[date, list[int]],
    refunds: dict[date, int],
    tax_refunded: int,
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
    tax = sum(row[3] for row in sales.values())
    return CurrencyFigures(
        currency=currency,
        paid_orders=paid_orders,
        gross=gross,
        discounts=sum(row[2] for row in sales.values()),
        tax=tax,
        tax_refunded=tax_refunded,
        tax_net=tax - tax_refunded,
        taxes=taxes,
        refunds=refunded,
        net=gross - refunded,
        average_order=(2 * gross + paid_orders) // (2 * paid_orders) if paid_orders else 0,
        days=days,
        top_products=top_products,
    )
