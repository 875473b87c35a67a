"""Integers from outside (a path, a body, a webhook) against what the database can hold.

SQLite keeps integers in 64 signed bits and refuses a larger one with `OverflowError` (a 500),
so an id beyond that range is one no row can have: it is simply not found. Amounts and counts
are stored in INTEGER columns, which hold 32 signed bits on PostgreSQL.

    parse_id("42") == 42            parse_id("0042") == 42
    parse_id("99999999999999999999999") is None     # no row has it
    parse_id("²") is None, parse_id("-1") is None, parse_id(" 42") is None, parse_id("x") is None

The pages read offsets and counts from URLs and forms the same way:

    parse_offset("50") == 50        parse_offset("²") == 0     parse_offset("9" * 30) == 0
    parse_whole("7", 365) == 7      parse_whole("0", 365) == 0  parse_whole("366", 365) is None
"""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session

MAX_ID = 2**63 - 1  # the largest id a row can have (SQLite's INTEGER; PostgreSQL's BIGINT)
MAX_INT = 2**31 - 1  # the largest value of an INTEGER column on every backend (PostgreSQL int4)

Row = TypeVar("Row")


def parse_id(value: object) -> int | None:
    """The row id `value` names (an int, or a string of ASCII digits), or None when it names
    none a row can have: 0, negative, beyond 64 bits, or not a plain number at all."""
    number = parse_whole(value, MAX_ID)
    return number if number is not None and number >= 1 else None


def parse_whole(value: object, maximum: int) -> int | None:
    """A whole number from 0 to `maximum` (an int, or a string of ASCII digits), or None when
    `value` is negative, above `maximum`, or not a plain number at all."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        # ASCII only: str.isdigit() also accepts "²" (which int() refuses) and "١٢" (which it
        # reads as 12); the length check keeps int() away from huge strings.
        digits = value.lstrip("0")
        if not (value.isascii() and value.isdigit()) or len(digits) > len(str(maximum)):
            return None
        value = int(digits or "0")
    if not isinstance(value, int):
        return None
    return value if 0 <= value <= maximum else None


def parse_offset(value: object) -> int:
    """How many rows a list page skips (`?offset=` in its URL): a whole number up to MAX_ID, and
    0 (the first page) for anything else, as for an absent offset."""
    offset = parse_whole(value, MAX_ID)
    return offset if offset is not None else 0


def get_row(session: Session, model: type[Row], value: object) -> Row | None:
    """`session.get(model, id)` for an id from outside: None when `value` names no possible row."""
    row_id = parse_id(value)
    return session.get(model, row_id) if row_id is not None else None
