"""Category administration beyond CRUD: the overview with product counts, moving up and down."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, func, select

from shop.models import AuditLog, Category
from shop.services import categories
from shop.services.errors import Conflict
from tests.factories import make_category, make_product


def _order(session: Session) -> list[str]:
    return [c.slug for c in categories.category_overview(session=session)]


def test_the_overview_lists_categories_in_shelf_order_with_their_product_counts(
    session: Session,
):
    # given three categories, one holding an active and an archived product
    audio = make_category(session, slug="audio")
    make_category(session, slug="video")
    books = make_category(session, slug="books")
    make_product(session, category=books)
    make_product(session, category=books, is_active=False)
    make_product(session)  # no category
    # when the admin looks at them
    overview = categories.category_overview(session=session)
    # then each comes once, in position order, with its count (archived included)
    assert [(c.slug, c.product_count) for c in overview] == [
        ("audio", 0),
        ("video", 0),
        ("books", 2),
    ]
    assert overview[0].id == audio.id


def test_moving_a_category_swaps_it_with_its_neighbour(session: Session):
    make_category(session, slug="a")
    make_category(session, slug="b")
    c = make_category(session, slug="c")
    # when "c" moves up once
    categories.move_category(session=session, category_id=c.id or 0, offset=-1)
    # then it sits between "a" and "b", and positions are 1..3
    assert _order(session) == ["a", "c", "b"]
    assert [x.position for x in categories.category_overview(session=session)] == [1, 2, 3]
    # when it moves down again
    categories.move_category(session=session, category_id=c.id or 0, offset=1)
    assert _order(session) == ["a", "b", "c"]


def test_moving_past_either_end_changes_nothing_and_records_nothing(session: Session):
    a = make_category(session, slug="a")
    c = make_category(session, slug="c")
    before = session.exec(select(func.count(col(AuditLog.id)))).one()
    categories.move_category(session=session, category_id=a.id or 0, offset=-1)
    categories.move_category(session=session, category_id=c.id or 0, offset=1)
    assert _order(session) == ["a", "c"]
    assert session.exec(select(func.count(col(AuditLog.id)))).one() == before


def test_a_move_is_audited(session: Session):
    make_category(session, slug="a")
    b = make_category(session, slug="b")
    categories.move_category(session=session, category_id=b.id or 0, offset=-1)
    entry = session.exec(select(AuditLog).order_by(col(AuditLog.id).desc())).first()
    assert entry is not None
    assert entry.action == "catalog.category.reorder"


def test_a_second_category_of_the_same_name_is_refused(session: Session):
    # given a category "Fonts"
    fonts = categories.create_category(session=session, name="Fonts")
    other = categories.create_category(session=session, name="Brushes")
    # when another is created or renamed to that name (in any case)
    with pytest.raises(Conflict, match="named “fonts” already") as created:
        categories.create_category(session=session, name="fonts")
    with pytest.raises(Conflict, match="named “FONTS” already") as renamed:
        categories.rename_category(session=session, category_id=other.id, name="FONTS")
    # then it is refused, naming the field, and nothing changed
    assert created.value.field == renamed.value.field == "name"
    names = [c.name for c in session.exec(select(Category).order_by(col(Category.position))).all()]
    assert names == ["Fonts", "Brushes"]
    # and a category keeps its own name when renamed to it in another case
    assert (
        categories.rename_category(session=session, category_id=fonts.id, name="FONTS").name
        == "FONTS"
    )
