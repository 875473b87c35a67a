"""The staff order search by the day orders were placed: both bounds included."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

from shop.services import backoffice
from tests.factories import make_order, make_product


def test_a_date_bound_includes_its_whole_utc_day_and_an_instant_includes_itself(
    session: Session,
):
    # given orders placed just before, at the start of, at the end of and just after 29 November
    product = make_product(session, name="Audit Ebook")

    def placed(day: int, hour: int, minute: int, second: int) -> int:
        at = datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)
        order = make_order(session, paid_at=at, items=[(product, 1, 1000)], created_at=at)
        assert order.id is not None
        return order.id

    before = placed(28, 23, 59, 59)
    first = placed(29, 0, 0, 0)
    last = placed(29, 23, 59, 59)
    after = placed(30, 0, 0, 0)
    session.commit()

    def search(date_from: date | None = None, date_to: date | None = None) -> list[int]:
        rows, _total = backoffice.search_orders(
            session=session, date_from=date_from, date_to=date_to
        )
        return sorted(row.id for row in rows)

    # when staff search by days, then each day is included whole
    day = date(2026, 11, 29)
    assert search(date_from=day, date_to=day) == [first, last]
    assert search(date_to=day) == [before, first, last]
    assert search(date_from=day) == [first, last, after]
    # and a date with a time includes that very instant
    midnight = datetime(2026, 11, 29, tzinfo=UTC)
    assert search(date_to=midnight) == [before, first]
    assert search(date_from=midnight, date_to=datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC)) == [
        first,
        last,
    ]
