"""Ids from outside against what the database can hold: an impossible one names no row."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from shop.models import Product
from shop.services import ids
from tests.factories import make_product


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42),
        ("0042", 42),
        (42, 42),
        (str(ids.MAX_ID), ids.MAX_ID),
        ("0" * 30 + "7", 7),
    ],
)
def test_a_plain_number_within_64_bits_is_an_id(value: object, expected: int):
    assert ids.parse_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        str(ids.MAX_ID + 1),
        "99999999999999999999999",
        2**70,
        "9" * 5000,  # int() would refuse it outright
        "0",
        0,
        -1,
        "-1",
        "+1",
        " 1",
        "1.0",
        "²",  # str.isdigit() says yes, int() says no
        "١٢",  # Arabic-Indic digits: int() reads 12
        "",
        None,
        True,
        1.0,
    ],
)
def test_anything_else_names_no_row(value: object):
    assert ids.parse_id(value) is None


def test_get_row_finds_a_row_and_answers_none_for_an_id_no_row_can_have(session: Session):
    # given a product
    product = make_product(session)
    # when it is looked up by its id as text, and by ids beyond what SQLite can hold
    # then the first finds it and the others find nothing instead of overflowing
    assert ids.get_row(session, Product, str(product.id)) is product
    assert ids.get_row(session, Product, "99999999999999999999999") is None
    assert ids.get_row(session, Product, 2**70) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("7", 7), ("007", 7), ("365", 365), (365, 365), ("0" * 30 + "5", 5)],
)
def test_a_plain_number_up_to_the_maximum_is_a_whole_number(value: object, expected: int):
    assert ids.parse_whole(value, 365) == expected


@pytest.mark.parametrize(
    "value",
    [
        "366",
        366,
        "99999999999999999999999",
        "9" * 5000,
        "-1",
        -1,
        "²",
        "١٢",
        " 7",
        "7.0",
        "",
        None,
        True,
    ],
)
def test_anything_else_is_no_whole_number(value: object):
    assert ids.parse_whole(value, 365) is None


def test_an_offset_is_a_plain_number_up_to_64_bits():
    # given offsets as a list page's URL carries them
    # when they are read
    # then plain numbers are kept, anything else starts at the first page
    assert ids.parse_offset("50") == 50
    assert ids.parse_offset(str(ids.MAX_ID)) == ids.MAX_ID
    assert ids.parse_offset("0") == 0
    for crafted in (None, "", "²", "١٢", "-50", "5e1", str(ids.MAX_ID + 1), "9" * 5000):
        assert ids.parse_offset(crafted) == 0, crafted
