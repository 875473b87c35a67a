"""The revenue report: per currency, orders by the day they were paid, refunds by their own day."""

from __future__ import annotations

from dataclasses import astuple
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlmodel import Session

from shop.services import analytics
from shop.services.analytics import DayFigures, TaxTotal
from shop.services.errors import InvalidInput
from tests.factories import make_order, make_product, make_refund


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_the_report_sums_each_currency_apart_by_paid_day_and_refund_day(session: Session):
    # given two products
    sketchbook = make_product(session, name="Harbour Sketchbook")
    presets = make_product(session, name="Aurora Presets")
    # and, in 1–3 March: a discounted CAD order in Ontario on the 1st
    make_order(
        session,
        paid_at=at(1, 10),
        items=[(sketchbook, 2, 1000)],
        discount=200,
        taxes=(("HST", "ON", "0.13", 234),),
    )
    # a CAD order in British Columbia late on the 3rd, partly refunded minutes later
    bc = make_order(
        session,
        paid_at=at(3, 23, 30),
        items=[(presets, 1, 5000)],
        taxes=(("GST", "CA", "0.05", 250), ("PST", "BC", "0.07", 350)),
        status="partially_refunded",
    )
    make_refund(session, bc, amount=1000, at=at(3, 23, 45))
    # a USD order just after midnight UTC on the 1st (still the 28th in Vancouver)
    make_order(session, paid_at=at(1, 2), items=[(sketchbook, 1, 3000)], currency="usd")
    # an order paid the day before the range, refunded in full on the 2nd
    earlier = make_order(
        session, paid_at=at(28, 23, 59, month=2), items=[(presets, 1, 9999)], status="refunded"
    )
    make_refund(session, earlier, amount=9999, at=at(2, 9))
    # and what must not count: an order never paid, a failed refund, an order paid after it
    make_order(
        session, paid_at=None, items=[(presets, 1, 5000)], status="pending", created_at=at(2, 8)
    )
    make_refund(session, bc, amount=4000, at=at(3, 23, 50), status="failed")
    make_order(session, paid_at=at(4, 0), items=[(presets, 1, 5000)])
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        # a server whose time zone is not UTC must still count days in UTC
        session.execute(text("SET LOCAL TIME ZONE 'America/Vancouver'"))

    # when the owner asks for 1–3 March
    report = analytics.revenue_report(session=session, start=date(2026, 3, 1), end=date(2026, 3, 3))

    # then CAD comes first (most gross), with its own totals
    assert [c.currency for c in report.currencies] == ["cad", "usd"]
    assert report.main_currency == "cad"
    cad = report.figures_for("cad")
    assert (cad.paid_orders, cad.gross, cad.discounts, cad.tax) == (2, 2034 + 5600, 200, 834)
    assert cad.taxes == [
        TaxTotal(name="PST", jurisdiction="BC", amount=350),
        TaxTotal(name="GST", jurisdiction="CA", amount=250),
        TaxTotal(name="HST", jurisdiction="ON", amount=234),
    ]
    # refunds by their own day: the partial one and the earlier order's full one
    assert cad.refunds == 1000 + 9999
    assert cad.net == 7634 - 10999
    assert cad.average_order == 3817
    # every day of the range, the 2nd without sales but with a refund
    assert cad.days == [
        DayFigures(day=date(2026, 3, 1), paid_orders=1, gross=2034, refunds=0),
        DayFigures(day=date(2026, 3, 2), paid_orders=0, gross=0, refunds=9999),
        DayFigures(day=date(2026, 3, 3), paid_orders=1, gross=5600, refunds=1000),
    ]
    assert [astuple(p) for p in cad.top_products] == [
        (presets.id, "Aurora Presets", 1, 5000),
        (sketchbook.id, "Harbour Sketchbook", 2, 2000),
    ]
    # and USD is never added to CAD
    usd = report.figures_for("usd")
    assert (usd.paid_orders, usd.gross, usd.discounts, usd.tax, usd.refunds, usd.net) == (
        1,
        3000,
        0,
        0,
        0,
        3000,
    )
    assert [(d.day.day, d.paid_orders, d.gross) for d in usd.days] == [
        (1, 1, 3000),
        (2, 0, 0),
        (3, 0, 0),
    ]
    assert [astuple(p) for p in usd.top_products] == [
        (sketchbook.id, "Harbour Sketchbook", 1, 3000)
    ]


def test_an_empty_shop_reports_zeros_for_every_day(session: Session):
    # given a shop without orders
    # when the owner asks for thirty days
    report = analytics.revenue_report(
        session=session, start=date(2026, 3, 1), end=date(2026, 3, 30)
    )
    # then no currency has figures, and asking for one gives zeros for each day
    assert report.currencies == []
    assert report.main_currency is None
    cad = report.figures_for("CAD")
    assert (cad.currency, cad.paid_orders, cad.gross, cad.net, cad.average_order) == (
        "cad",
        0,
        0,
        0,
        0,
    )
    assert len(cad.days) == 30
    assert {(d.paid_orders, d.gross, d.refunds) for d in cad.days} == {(0, 0, 0)}


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (date(2026, 3, 2), date(2026, 3, 1), "start"),
        (date(2025, 1, 1), date(2026, 2, 5), "end"),
    ],
)
def test_a_backwards_or_too_long_range_is_refused(
    session: Session, start: date, end: date, field: str
):
    with pytest.raises(InvalidInput) as refused:
        analytics.revenue_report(session=session, start=start, end=end)
    assert refused.value.field == field


def test_a_range_of_exactly_the_longest_span_is_allowed(session: Session):
    start = date(2025, 1, 1)
    end = date.fromordinal(start.toordinal() + analytics.MAX_DAYS - 1)
    report = analytics.revenue_report(session=session, start=start, end=end)
    assert len(report.figures_for("cad").days) == analytics.MAX_DAYS
