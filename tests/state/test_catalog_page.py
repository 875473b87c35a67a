"""/products' state: page numbers past the end, chip links that keep the search, card images."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import Session

from shop.pages.catalog import PER_PAGE, CatalogState, catalog_href
from shop.state import catalog_data
from tests.factories import make_category, make_product
from tests.state.harness import page_state, run


def _products(session: Session, count: int) -> None:
    for i in range(count):
        make_product(session, name=f"Item {i}")
    session.commit()


def test_a_page_past_the_end_shows_the_last_page_with_its_own_number(session: Session):
    # given 13 products: two pages of 12
    _products(session, PER_PAGE + 1)
    # when a stale link asks for page 999
    state = page_state(CatalogState, url="/products?page=999")
    run(state.load())
    # then the last page is shown as "Page 2 of 2", Previous goes to page 1 and there is no Next
    assert (state.page_number, state.page_count) == (2, 2)
    assert [item["name"] for item in state.items] == [f"Item {PER_PAGE}"]
    assert state.prev_href == "/products"
    assert state.has_next is False


def test_a_page_past_the_end_of_an_empty_search_is_page_one(session: Session):
    _products(session, 2)
    state = page_state(CatalogState, url="/products?page=5&q=nothing-like-this")
    run(state.load())
    assert (state.page_number, state.total, state.items) == (1, 0, [])


def test_pages_within_the_catalogue_keep_their_number(session: Session):
    _products(session, 2 * PER_PAGE + 1)
    state = page_state(CatalogState, url="/products?page=2")
    run(state.load())
    assert (state.page_number, state.page_count, state.has_next) == (2, 3, True)
    assert state.next_href == "/products?page=3"


@pytest.mark.parametrize("q", ["Invoice & Quote", "C# guide", "a+b", "50% off", "é/?=x"])
def test_category_chips_keep_the_search_exactly(session: Session, q: str):
    make_category(session, slug="templates", name="Templates & Tools")
    session.commit()
    state = page_state(CatalogState, url=catalog_href(q=q))
    run(state.load())
    assert state.q == q
    links = {c["name"]: c["href"] for c in state.category_links}
    assert list(links) == ["All", "Templates & Tools"]
    for name, href in links.items():
        parts = urlsplit(href)
        assert parts.path == "/products"
        assert parts.fragment == ""
        query = parse_qs(parts.query)
        assert query["q"] == [q]
        assert query.get("category") == (["templates"] if name != "All" else None)


def test_a_nul_in_the_search_is_no_search(session: Session):
    _products(session, 2)
    state = page_state(CatalogState, url="/products?q=%00")
    run(state.load())
    assert state.q == ""
    assert state.total == 2
    assert state.result_label == "2 products"


def test_cards_use_the_thumbnail_and_have_no_image_without_one(session: Session):
    make_product(
        session,
        name="With image",
        image_path="products/1-large.webp",
        image_thumbnail_path="products/1-thumb.webp",
    )
    make_product(session, name="Without image")
    session.commit()
    items = catalog_data.listing(session, category=None, q=None, page=1, per_page=12)["items"]
    assert [(i["name"], i["image"]) for i in items] == [
        ("With image", "/media/products/1-thumb.webp"),
        ("Without image", ""),
    ]
    featured = catalog_data.featured(session)
    assert featured[0]["image"] == "/media/products/1-thumb.webp"
    # the product page keeps the large image
    found = catalog_data.product(session, items[0]["slug"])
    assert found is not None
    assert found[0]["image"] == "/media/products/1-large.webp"
