"""`/products/<slug>` answers crawlers with the product's own head tags and content."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from tests.factories import make_category, make_product


def _meta(page: str, attr: str, key: str) -> str:
    match = re.search(rf'<meta {attr}="{re.escape(key)}" content="([^"]*)"/>', page)
    assert match, f"no {attr}={key} in page"
    return html.unescape(match.group(1))


def test_product_page_has_its_own_head_and_body(client, session):
    category = make_category(session, slug="guides", name="Guides")
    make_product(
        session,
        slug="trail-guide",
        name="Trail Guide",
        price_amount=2450,
        category=category,
        description="Maps and notes for twelve trails.",
        image_path="products/trail-guide.webp",
    )
    session.commit()

    response = client.get("/products/trail-guide", headers={"accept": "text/html"})
    page = response.text

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Trail Guide | Maple &amp; Pine Digital</title>" in page
    assert page.count("<title>") == 1  # the shell's generic title is gone
    assert "Generic description" not in page
    assert _meta(page, "name", "description") == "Maps and notes for twelve trails."
    assert _meta(page, "property", "og:title") == "Trail Guide"
    assert _meta(page, "property", "og:description") == "Maps and notes for twelve trails."
    assert _meta(page, "property", "og:image") == "http://shop.test/media/products/trail-guide.webp"
    assert '<link rel="canonical" href="http://shop.test/products/trail-guide"/>' in page
    body = page[page.index("<body>") :]
    assert "<h1>Trail Guide</h1>" in body
    assert "$24.50 CAD" in body
    assert "spa shell" in body  # the React shell is still there to hydrate


def test_json_ld_describes_the_offer(client, session):
    make_product(session, slug="ld", name="LD Product", price_amount=1999)
    session.commit()

    page = client.get("/products/ld").text
    raw = re.search(r'<script type="application/ld\+json">(.*?)</script>', page).group(1)
    data = json.loads(raw)

    assert data["@type"] == "Product"
    assert data["offers"]["price"] == "19.99"
    assert data["offers"]["priceCurrency"] == "CAD"
    assert data["offers"]["availability"] == "https://schema.org/InStock"


def test_json_ld_offers_a_membership_in_stock_and_a_sold_out_product_sold_out(client, session):
    # given a membership (subscription) and a sold-out product
    make_product(session, slug="club", name="Club", kind="subscription", interval="month")
    make_product(session, slug="gone", name="Gone", inventory_count=0)
    session.commit()

    # when search engines read their pages
    def availability(slug: str) -> str:
        page = client.get(f"/products/{slug}").text
        raw = re.search(r'<script type="application/ld\+json">(.*?)</script>', page).group(1)
        return json.loads(raw)["offers"]["availability"]

    # then the membership is for sale (by subscription) and the other sold out
    assert availability("club") == "https://schema.org/InStock"
    assert availability("gone") == "https://schema.org/SoldOut"


def test_everything_from_the_catalog_is_escaped(client, session):
    nasty = '</script><script>alert("x")</script> & <b>bold</b>'
    make_product(session, slug="nasty", name=nasty, description=nasty)
    session.commit()

    page = client.get("/products/nasty").text

    # Only escaped forms remain. The description is sanitised HTML (shop/services/markdown.py),
    # whose text escapes "<" but not quotes: there alert("x") follows an escaped "<script>".
    inert = page.replace("\\u003c", "").replace('&lt;script&gt;alert("x")', "")
    assert 'alert("x")' not in inert
    assert "<script>alert" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)" in page
    ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S).group(1)
    assert json.loads(ld)["name"] == nasty


def test_unknown_and_archived_products_are_404_with_the_404_page(client, session):
    make_product(session, slug="archived-one", is_active=False)
    session.commit()

    for path in ("/products/never-existed", "/products/archived-one"):
        response = client.get(path, headers={"accept": "text/html"})
        assert response.status_code == 404
        assert "page not found" in response.text


def test_catalog_changes_show_at_the_next_request(client, session):
    product = make_product(session, slug="renamed", name="Old Name")
    session.commit()
    assert "<h1>Old Name</h1>" in client.get("/products/renamed").text

    product.name = "New Name"
    session.add(product)
    session.commit()

    page = client.get("/products/renamed").text
    assert "<h1>New Name</h1>" in page
    assert "Old Name" not in page


def test_head_request_gets_headers_only(client, session):
    make_product(session, slug="headed")
    session.commit()

    response = client.head("/products/headed")

    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_html_is_gzipped_when_the_client_accepts_it(client, session):
    make_product(session, slug="zipped", name="Zipped")
    session.commit()

    response = client.get("/products/zipped", headers={"accept-encoding": "gzip"})

    assert response.headers["content-encoding"] == "gzip"
    assert "<h1>Zipped</h1>" in response.text  # httpx decompresses


def test_json_requests_are_not_turned_into_html(client, session):
    make_product(session, slug="json-please")
    session.commit()

    response = client.get("/products/json-please", headers={"accept": "application/json"})

    assert "<h1>" not in response.text


MARKDOWN_WITH_PAYLOADS = (
    "A **bold** test <script>alert(1)</script>\n\n"
    "## Features\n\n"
    "- *first*\n- [docs](https://example.com/docs) and [bad](javascript:alert(1))\n\n"
    '<img src=x onerror="window.__xss=1">'
)


def _description_block(page: str) -> str:
    match = re.search(r'<div class="product-description">(.*?)</div></article>', page, re.S)
    assert match, "no description in the no-JS copy"
    return match.group(1)


def test_the_description_is_rendered_markdown_with_nothing_executable(client, session):
    # given a product whose description mixes Markdown with script payloads
    from tests.api.test_admin_products import dangerous_parts

    make_product(session, slug="marked", name="Marked", description=MARKDOWN_WITH_PAYLOADS)
    session.commit()

    # when a crawler fetches its page
    page = client.get("/products/marked", headers={"accept": "text/html"}).text
    description = _description_block(page)

    # then the description is formatted: bold, italics, a heading, a list, a nofollow link
    assert "<strong>bold</strong>" in description
    assert "<em>first</em>" in description
    assert "<ul>" in description
    assert (
        '<a href="https://example.com/docs" rel="noopener noreferrer nofollow">docs</a>'
        in description
    )
    # (its "## Features" one level down, as on the storefront page: the <h1> is the name)
    assert "<h3>Features</h3>" in description
    assert page.count("<h1>") == 1
    # and nothing in it can run: payloads are shown as text, the javascript: link is no link
    assert "<script" not in description
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in description
    assert "<img" not in description
    assert "javascript:" not in description.replace("(javascript:alert(1))", "")
    assert dangerous_parts(description) == []


def test_meta_and_open_graph_descriptions_are_plain_text_not_markdown(client, session):
    # given a product with a Markdown description and no SEO description of its own
    make_product(session, slug="plain-meta", description="A **bold** test with *style*.")
    session.commit()

    # when its page is fetched
    page = client.get("/products/plain-meta").text
    ld = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', page).group(1))

    # then the head carries the words, not the Markdown symbols
    assert _meta(page, "name", "description") == "A bold test with style."
    assert _meta(page, "property", "og:description") == "A bold test with style."
    assert ld["description"] == "A bold test with style."


def _json_ld(page: str) -> dict:
    raw = re.search(r'<script type="application/ld\+json">(.*?)</script>', page)
    assert raw
    return json.loads(raw.group(1))


def test_structured_price_follows_the_currencys_minor_unit(client, session):
    # given a product priced 1000 JPY (no minor unit) and one at 1999 CAD cents
    yen_product = make_product(session, slug="yen-test", name="Yen test", price_amount=1000)
    yen_product.currency = "jpy"
    make_product(session, slug="cad-test", name="CAD test", price_amount=1999)
    session.commit()
    yen = client.get("/products/yen-test").text
    cad = client.get("/products/cad-test").text
    # then the machine-readable prices say 1000 yen and 19.99 dollars, as the page shows
    assert "1,000 JPY" in yen
    assert _meta(yen, "property", "product:price:amount") == "1000"
    assert _json_ld(yen)["offers"]["price"] == "1000"
    assert _meta(cad, "property", "product:price:amount") == "19.99"
    assert _json_ld(cad)["offers"]["price"] == "19.99"


def test_a_product_without_an_image_offers_the_shops_social_image(client, session):
    make_product(session, slug="no-image", name="No image")
    session.commit()
    page = client.get("/products/no-image").text
    assert _meta(page, "property", "og:image") == "http://shop.test/og-image.png"
    assert _json_ld(page)["image"] == "http://shop.test/og-image.png"
    assert "favicon" not in page


def test_the_app_takes_the_head_tags_over_when_javascript_runs(client, session):
    # given a product whose merchant set an SEO title
    make_product(session, slug="seo", name="Seo Product", seo_title="Search Title")
    session.commit()

    # when its page is served
    page = client.get("/products/seo").text
    head = page[: page.index("</head>")]

    # then the title is the SEO title, the one the app shows too (shop/pages/product.py)
    assert "<title>Search Title | Maple &amp; Pine Digital</title>" in head
    # and last in the head, after the tags, is the same-origin script that takes them out
    # before the app writes its own (no inline script: the CSP stays as it is)
    assert head.endswith('<script src="/product-head.js"></script>')
    assert (Path(__file__).resolve().parents[2] / "assets" / "product-head.js").is_file()
