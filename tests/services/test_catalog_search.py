"""Catalog search folds case and accents the same way on SQLite and PostgreSQL."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import text
from sqlmodel import Session

from shop.services import catalog, products_admin
from tests.factories import make_product


def _migration(file_name: str) -> ModuleType:
    path = Path(__file__).parents[2] / "migrations" / "versions" / file_name
    spec = importlib.util.spec_from_file_location("migration_under_test", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("q", ["Érable", "ÉRABLE", "érable", "erable", "été", "ETE", "écrit"])
def test_search_ignores_case_and_accents_of_non_ascii_letters(session: Session, q: str):
    # given a product with accented capitals in its name and description
    make_product(
        session,
        name="Érable Été Guide",
        description="Un guide ÉCRIT en français. Crème brûlée.",
    )
    make_product(session, name="Plain Patterns")
    # when the catalogue, its count and the admin list are searched
    public = catalog.list_products(session=session, q=q).items
    admin = products_admin.list_products(session=session, q=q).items
    # then the product is found by each
    assert [v.name for v in public] == ["Érable Été Guide"]
    assert catalog.count_products(session=session, q=q) == 1
    assert [p.name for p, _ in admin] == ["Érable Été Guide"]


def test_search_follows_edits_of_name_and_description(session: Session):
    product = make_product(session, name="Plain Name", description="Nothing here.")
    product.name = "Crème Brûlée Handbook"
    product.description = "Über GRÜN"
    session.add(product)
    session.flush()
    assert [v.id for v in catalog.list_products(session=session, q="creme brulee").items] == [
        product.id
    ]
    assert [v.id for v in catalog.list_products(session=session, q="über grün").items] == [
        product.id
    ]
    assert catalog.list_products(session=session, q="plain name").items == []


def test_search_does_not_match_across_name_and_description(session: Session):
    make_product(session, name="Forest Guide", description="Quiet mornings.")
    assert catalog.list_products(session=session, q="guide quiet").items == []


def test_search_keeps_japanese_voiced_marks(session: Session):
    make_product(session, name="日本語ガイド")
    assert len(catalog.list_products(session=session, q="ガイド").items) == 1
    assert catalog.list_products(session=session, q="カイト").items == []


def test_products_written_with_plain_sql_are_found_after_the_backfill(session: Session):
    # the migration's backfill uses the same folding as writes
    migration = _migration("20261130_0008_product_search_text.py")
    product = make_product(session, name="Érable")
    session.execute(text("UPDATE products SET search_text = '' WHERE id = :id"), {"id": product.id})
    migration.backfill(session.connection())
    session.expire_all()
    assert [v.id for v in catalog.list_products(session=session, q="ERABLE").items] == [product.id]


@pytest.mark.parametrize("q", ["\x00", "%00", "\x00\x01", " \x7f "])
def test_control_characters_are_no_search_at_all(session: Session, q: str):
    make_product(session, name="One")
    make_product(session, name="Two")
    q = q.replace("%00", "\x00")
    # a query of control characters only is no query: the whole catalogue, unfiltered
    assert catalog.clean_query(q) == ""
    assert len(catalog.list_products(session=session, q=q).items) == 2


def test_control_characters_inside_a_query_are_dropped(session: Session):
    make_product(session, name="Forest Rain")
    make_product(session, name="Other")
    assert catalog.clean_query("for\x00est\x1f ra\tin ") == "forest ra in"
    assert [v.name for v in catalog.list_products(session=session, q="for\x00est").items] == [
        "Forest Rain"
    ]
