"""The shop's days follow SHOP_TIME_ZONE: reports, date filters, receipts and pages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from shop.services import analytics, backoffice, clock, receipts
from shop.settings import Settings, get_settings
from tests.factories import make_order, make_product

TORONTO = "America/Toronto"


@pytest.fixture
def in_toronto(monkeypatch: pytest.MonkeyPatch, shop_env: Path) -> None:
    monkeypatch.setenv("SHOP_TIME_ZONE", TORONTO)
    get_settings.cache_clear()


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_an_unknown_time_zone_is_refused_with_an_example(monkeypatch: pytest.MonkeyPatch):
    # given a time zone name that does not exist
    monkeypatch.setenv("SHOP_TIME_ZONE", "Canada/Atlantis")
    # when the settings are read, then they are refused with what to write instead
    with pytest.raises(ValidationError, match="America/Toronto"):
        Settings()


def test_by_default_days_are_utc_days(shop_env: Path):
    # given the default settings
    # then a moment's day and time are UTC's
    assert clock.day_of(utc(3, 1, 2)) == date(2026, 3, 1)
    assert clock.format_moment(utc(3, 1, 2, 5)) == "2026-03-01 02:05 UTC"


def test_days_and_times_follow_the_shops_zone_across_daylight_saving(in_toronto: None):
    # given a shop in Toronto, where clocks go forward on 8 March 2026
    # then 03:30 UTC on 1 March is still the evening of 28 February (EST, UTC-5)
    assert clock.day_of(utc(3, 1, 3, 30)) == date(2026, 2, 28)
    assert clock.format_moment(utc(3, 1, 3, 30)) == "2026-02-28 22:30 EST"
    # and a day starts at local midnight: 05:00 UTC in winter, 04:00 UTC in summer
    assert clock.start_of_day(date(2026, 3, 1)) == utc(3, 1, 5)
    assert clock.start_of_day(date(2026, 3, 9)) == utc(3, 9, 4)
    # and the day clocks go forward is 23 hours long
    since, until = clock.day_bounds(date(2026, 3, 8), date(2026, 3, 8))
    assert (until - since).total_seconds() == 23 * 3600


def test_the_revenue_report_counts_orders_on_the_shops_day(in_toronto: None, session: Session):
    # given a shop in Toronto and three orders paid around midnight there
    product = make_product(session, name="Harbour Sketchbook")
    make_order(session, paid_at=utc(3, 1, 4, 30), items=[(product, 1, 1000)])  # 23:30, 28 Feb
    make_order(session, paid_at=utc(3, 1, 5, 30), items=[(product, 1, 2000)])  # 00:30, 1 Mar
    make_order(session, paid_at=utc(3, 9, 3, 59), items=[(product, 1, 4000)])  # 23:59, 8 Mar (EDT)
    session.commit()

    # when the owner asks for 1–8 March
    report = analytics.revenue_report(session=session, start=date(2026, 3, 1), end=date(2026, 3, 8))

    # then the order of the evening of 28 February is not in it, and the others are on their
    # Toronto days
    cad = report.figures_for("cad")
    assert (cad.paid_orders, cad.gross) == (2, 6000)
    by_day = {d.day: d.gross for d in cad.days if d.gross}
    assert by_day == {date(2026, 3, 1): 2000, date(2026, 3, 8): 4000}


def test_the_staff_date_filter_takes_whole_days_of_the_shops_zone(
    in_toronto: None, session: Session
):
    # given a shop in Toronto and two orders placed either side of its midnight
    product = make_product(session, name="Aurora Presets")
    late = make_order(
        session, paid_at=None, status="pending", created_at=utc(3, 1, 4), items=[(product, 1, 500)]
    )
    early = make_order(
        session, paid_at=None, status="pending", created_at=utc(3, 1, 6), items=[(product, 1, 500)]
    )
    session.commit()

    # when staff look for the orders of 28 February, then of 1 March
    feb, _ = backoffice.search_orders(
        session=session, date_from=date(2026, 2, 28), date_to=date(2026, 2, 28)
    )
    mar, _ = backoffice.search_orders(
        session=session, date_from=date(2026, 3, 1), date_to=date(2026, 3, 1)
    )

    # then each order is on its Toronto day
    assert [row.id for row in feb] == [late.id]
    assert [row.id for row in mar] == [early.id]


def test_a_receipt_is_dated_the_shops_day(in_toronto: None, session: Session):
    # given an order paid at 9 pm in Toronto on 29 November (02:00 UTC on the 30th)
    product = make_product(session, name="Field Guide")
    order = make_order(session, paid_at=utc(11, 30, 2), items=[(product, 1, 1500)])
    session.commit()

    # when its receipt is made
    figures = receipts.receipt_figures(session=session, order=order)

    # then it is dated the day the customer paid
    assert figures.paid_on == "2026-11-29"
