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


def test_a_markdown_description_reaches_cards_and_seo_as_words_and_the_page_as_safe_html(
    session: Session,
):
    # given a product described in Markdown with a script payload, and no SEO description
    from shop.state.catalog_data import product as product_page_data
    from shop.state.site import product_card_data

    description = "A **bold** test <script>alert(1)</script> with a [link](https://example.com)."
    make_product(session, slug="marked", description=description)

    # when the catalog, a product card and the product page read it
    view = catalog.get_product(session=session, id_or_slug="marked")
    assert view is not None
    card = product_card_data(view)
    page = product_page_data(session, "marked")
    assert page is not None
    _, description_html = page

    # then cards and the SEO text show the words only, and the page gets sanitised HTML
    words = "A bold test <script>alert(1)</script> with a link."
    assert card["summary"] == words
    assert view.seo_description == words
    assert "<strong>bold</strong>" in description_html
    assert "<script" not in description_html
    assert "&lt;script&gt;" in description_html


def test_a_long_card_excerpt_is_cut_on_a_word_of_the_plain_text(session: Session):
    from shop.state.site import product_card_data

    make_product(session, slug="long", description="**Bold** words. " * 20)
    view = catalog.get_product(session=session, id_or_slug="long")
    assert view is not None

    summary = product_card_data(view)["summary"]

    assert "*" not in summary
    assert summary.startswith("Bold words. Bold words.")
    assert summary.endswith("…")
    assert len(summary) <= 138


def test_archived_products_are_not_public(session: Session):
    make_product(session, slug="gone", is_active=False)
    assert catalog.get_product(session=session, id_or_slug="gone") is None
    assert catalog.sitemap_entries(session=session) == []
