import pytest
from sqlmodel import Session

from shop.services import catalog
from shop.services.errors import InvalidInput
from tests.factories import make_category, make_product


def test_listing_pages_through_active_products_only(session: Session):
    # given five active products and one archived
    active = [make_product(session, name=f"Item {i}") for i in range(5)]
    make_product(session, name="Old item", is_active=False)
    # when listed two at a time
    seen, cursor = [], None
    while True:
        page = catalog.list_products(session=session, cursor=cursor, limit=2)
        seen += [view.id for view in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    # then every active product appears once, in order, and the archived one never
    assert seen == [p.id for p in active]


def test_listing_filters_by_category_and_search(session: Session):
    audio = make_category(session, slug="audio")
    guides = make_category(session, slug="guides")
    make_product(session, name="Forest Rain Recording", category=audio)
    make_product(session, name="Ocean Waves", category=audio, description="Recorded in rain.")
    make_product(session, name="Rain Barrel Guide", category=guides)

    by_category = catalog.list_products(session=session, category="audio").items
    by_search = catalog.list_products(session=session, q="RAIN").items
    both = catalog.list_products(session=session, category="audio", q="forest").items

    assert {v.name for v in by_category} == {"Forest Rain Recording", "Ocean Waves"}
    assert {v.name for v in by_search} == {
        "Forest Rain Recording",
        "Ocean Waves",
        "Rain Barrel Guide",
    }
    assert [v.name for v in both] == ["Forest Rain Recording"]
    assert catalog.count_products(session=session, q="rain") == 3


def test_search_treats_wildcards_as_text(session: Session):
    make_product(session, name="100% Cotton Patterns")
    make_product(session, name="Plain Patterns")
    assert [v.name for v in catalog.list_products(session=session, q="100%").items] == [
        "100% Cotton Patterns"
    ]
    assert catalog.list_products(session=session, q="_").items == []


def test_a_forged_cursor_is_refused(session: Session):
    with pytest.raises(InvalidInput):
        catalog.list_products(session=session, cursor="not-a-cursor")


def test_product_view_formats_price_and_seo_fallbacks(session: Session):
    product = make_product(session, name="Tax Primer", slug="tax-primer", price_amount=1499)
    view = catalog.get_product(session=session, id_or_slug="tax-primer")
    assert view is not None
    assert view.price_display == "$14.99 CAD"
    assert view.seo_title == "Tax Primer"
    assert view.seo_description == "A useful digital product."
    assert catalog.get_product(session=session, id_or_slug=str(product.id)) == view


def test_archived_products_are_not_public(session: Session):
    make_product(session, slug="gone", is_active=False)
    assert catalog.get_product(session=session, id_or_slug="gone") is None
    assert catalog.sitemap_entries(session=session) == []
