"""The shop's days: a calendar day is a day in the merchant's time zone (`SHOP_TIME_ZONE`).

Moments are stored and computed in UTC (DESIGN §4); only where a moment becomes a day or a
time of day for people — a report's days, a "from … to" date filter, a receipt's date, a time
shown on a page — does it go through here. With the default `UTC` a day is a UTC day.

In SQL, `day_sql(column)` gives the shop's calendar day of a timestamp column: PostgreSQL
converts with its own time zone database; SQLite, which has none, calls `shop_local_day`, a
function every SQLite connection of the shop registers (`register_sqlite_functions`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, cast, func, literal_column

from shop.settings import get_settings

__all__ = [
    "day_bounds",
    "day_of",
    "day_sql",
    "format_day",
    "format_moment",
    "register_sqlite_functions",
    "start_of_day",
    "today",
    "zone",
]


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    return _zone(get_settings().shop_time_zone)


def local(moment: datetime) -> datetime:
    """An aware moment in the shop's zone (a naive one is taken as UTC, as the database keeps)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone())


def day_of(moment: datetime) -> date:
    """The shop's calendar day of a moment."""
    return local(moment).date()


def today() -> date:
    return datetime.now(zone()).date()


def start_of_day(day: date) -> datetime:
    """The first moment (in UTC) of a day in the shop's zone. A day that starts in a daylight
    saving gap starts at the first moment that exists."""
    midnight = datetime.combine(day, time.min, tzinfo=zone())
    return midnight.astimezone(UTC)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[since, until) in UTC covering the shop's days `first` to `last`, both included."""
    return start_of_day(first), start_of_day(last + timedelta(days=1))


def format_day(moment: datetime | None) -> str:
    return day_of(moment).isoformat() if moment else ""


def format_moment(moment: datetime | None, *, seconds: bool = False) -> str:
    """ "2026-11-29 14:03 EST": the shop's time of day, with the zone's abbreviation."""
    if moment is None:
        return ""
    shown = local(moment)
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def day_sql(column: Any, dialect: str) -> Any:
    """The shop's calendar day of a timestamp column, in SQL (groups and compares as a date on
    PostgreSQL, as 'YYYY-MM-DD' text on SQLite)."""
    name = get_settings().shop_time_zone
    # A literal, not a bound parameter: a parameter would make the SELECT's expression differ
    # from the GROUP BY's. The name was checked against the zone database (settings), and
    # zone names hold no quote.
    quoted: Any = literal_column("'" + name.replace("'", "''") + "'")
    if dialect == "postgresql":
        # `timezone(zone, timestamptz)` is the wall time in that zone.
        return cast(func.timezone(quoted, column), Date)
    return func.shop_local_day(column, quoted)


def _sqlite_local_day(stored: str | None, name: str) -> str | None:
    """SQLite keeps UTC as naive text ('2026-11-28 12:00:00.000000')."""
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    return moment.astimezone(_zone(name)).date().isoformat()


def register_sqlite_functions(dbapi_connection: Any) -> None:
    dbapi_connection.create_function("shop_local_day", 2, _sqlite_local_day, deterministic=True)
