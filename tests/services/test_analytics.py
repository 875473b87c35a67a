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
    # with the partial refund's pro-rata tax share (1000 × 600 ÷ 5600 = 107) taken back
    assert (cad.tax_refunded, cad.tax_net) == (107, 834 - 107)
    assert cad.taxes == [
        TaxTotal(name="PST", jurisdiction="BC", amount=350, refunded=62),
        TaxTotal(name="GST", jurisdiction="CA", amount=250, refunded=45),
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


def test_tax_collected_is_net_of_each_refunds_pro_rata_tax_share(session: Session):
    # given a BC order (GST 250 + PST 350 on 5000) paid on the 1st, 1000 of it refunded on the 2nd
    product = make_product(session, name="Aurora Presets")
    bc = make_order(
        session,
        paid_at=at(1, 10),
        items=[(product, 1, 5000)],
        taxes=(("GST", "CA", "0.05", 250), ("PST", "BC", "0.07", 350)),
        status="partially_refunded",
    )
    make_refund(session, bc, amount=1000, at=at(2, 9))
    # and an Ontario order (1000 + HST 130) refunded in three parts: the 1st, the 2nd, the 4th
    on = make_order(
        session,
        paid_at=at(1, 11),
        items=[(product, 1, 1000)],
        taxes=(("HST", "ON", "0.13", 130),),
        status="refunded",
    )
    make_refund(session, on, amount=300, at=at(1, 12))
    make_refund(session, on, amount=300, at=at(2, 12))
    make_refund(session, on, amount=530, at=at(4, 12))
    # and a Quebec order paid before the range (GST 50 + QST 100), refunded in full in it
    qc = make_order(
        session,
        paid_at=at(27, 10, month=2),
        items=[(product, 1, 1000)],
        taxes=(("GST", "CA", "0.05", 50), ("QST", "QC", "0.09975", 100)),
        status="refunded",
    )
    make_refund(session, qc, amount=1150, at=at(3, 10))
    # and what gives back no tax: a refund of an untaxed order, a failed refund
    untaxed = make_order(session, paid_at=at(1, 12), items=[(product, 1, 800)])
    make_refund(session, untaxed, amount=500, at=at(2, 13))
    make_refund(session, bc, amount=3000, at=at(2, 14), status="failed")
    session.commit()

    # when the owner asks for 1–3 March
    cad = analytics.revenue_report(
        session=session, start=date(2026, 3, 1), end=date(2026, 3, 3)
    ).figures_for("cad")

    # then the tax charged stays the orders' tax, and the refunds' share of it is reported apart
    assert cad.tax == 600 + 130
    # BC: 1000 × 600 ÷ 5600 = 107.1 → 107; GST 44.6 → 45, the largest line (PST) takes the rest
    # ON: 300 → 34.5 → 35, then 600 → 69.0 → 69 minus the 35 already counted: 34
    # QC: the whole 150 of tax
    assert cad.tax_refunded == 107 + 35 + 34 + 150
    assert cad.tax_net == 730 - 326
    assert cad.taxes == [
        TaxTotal(name="PST", jurisdiction="BC", amount=350, refunded=62),
        TaxTotal(name="GST", jurisdiction="CA", amount=250, refunded=45 + 50),
        TaxTotal(name="HST", jurisdiction="ON", amount=130, refunded=69),
        TaxTotal(name="QST", jurisdiction="QC", amount=0, refunded=100),
    ]
    assert [t.net for t in cad.taxes] == [288, 155, 61, -100]
    assert sum(t.refunded for t in cad.taxes) == cad.tax_refunded

    # when the owner asks for the 4th, the last part of the Ontario refund gives back the rest:
    # the three parts give back exactly the order's 130 (not 35 + 35 + 61 = 131 rounded apart)
    fourth = analytics.revenue_report(
        session=session, start=date(2026, 3, 4), end=date(2026, 3, 4)
    ).figures_for("cad")
    assert (fourth.tax, fourth.tax_refunded, fourth.tax_net) == (0, 130 - 69, -61)
    assert fourth.taxes == [TaxTotal(name="HST", jurisdiction="ON", amount=0, refunded=61)]


def test_a_refunds_tax_share_rounds_half_up_and_its_lines_add_up():
    # given an order of 10000 with GST 500 and QST 997 (total 11497)
    lines = [("CA", "GST", 500), ("QC", "QST", 997)]
    # when a tenth of it, half of it, all of it and more than all of it are refunded
    # then the share is pro rata, half up, and the largest line takes the rounding remainder
    assert analytics.tax_share(1150, 11497, 1497, lines) == (150, [50, 100])
    assert analytics.tax_share(5749, 11497, 1497, lines) == (749, [250, 499])
    assert analytics.tax_share(11497, 11497, 1497, lines) == (1497, [500, 997])
    assert analytics.tax_share(20000, 11497, 1497, lines) == (1497, [500, 997])
    assert analytics.tax_share(0, 11497, 1497, lines) == (0, [0, 0])


def test_top_products_leave_out_fully_refunded_orders_and_keep_partly_refunded_ones(
    session: Session,
):
    # given an ebook bought twice, once refunded in full (and restocked)
    ebook = make_product(session, name="Audit Ebook")
    guide = make_product(session, name="Paddler's Guide")
    kept = make_order(session, paid_at=at(1, 10), items=[(ebook, 1, 2000)])
    given_back = make_order(session, paid_at=at(1, 11), items=[(ebook, 1, 2000)], status="refunded")
    make_refund(session, given_back, amount=2000, at=at(1, 12))
    # and a guide only ever bought in an order refunded in full
    guide_order = make_order(session, paid_at=at(2, 9), items=[(guide, 1, 2400)], status="refunded")
    make_refund(session, guide_order, amount=2400, at=at(2, 10))
    # and two ebooks in an order partly refunded
    partly = make_order(
        session, paid_at=at(2, 11), items=[(ebook, 2, 1500)], status="partially_refunded"
    )
    make_refund(session, partly, amount=1000, at=at(2, 12))
    session.commit()

    # when the owner asks for 1–2 March
    cad = analytics.revenue_report(
        session=session, start=date(2026, 3, 1), end=date(2026, 3, 2)
    ).figures_for("cad")

    # then the top products count what was kept: the partly refunded order's units at full price
    assert [astuple(p) for p in cad.top_products] == [(ebook.id, "Audit Ebook", 3, 2000 + 3000)]
    # while the fully refunded orders still count as paid orders, with their refunds
    assert (cad.paid_orders, cad.refunds) == (4, 2000 + 2400 + 1000)
    assert kept.status == "paid"
