"""A product page's <head> once the app runs: one title, description, canonical link, set of
Open Graph tags and JSON-LD, all for the product shown, also after in-app navigation."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from playwright.sync_api import expect

from shop import db
from tests.e2e.conftest import LiveShop
from tests.factories import make_category, make_product

pytestmark = pytest.mark.browser

HEAD = """() => {
    const all = (selector) => [...document.querySelectorAll(selector)];
    const content = (selector) => all(selector).map((e) => e.getAttribute("content"));
    return {
        title: document.title,
        titles: all("title").map((e) => e.textContent),
        descriptions: content('meta[name="description"]'),
        canonicals: all('link[rel="canonical"]').map((e) => e.getAttribute("href")),
        og_titles: content('meta[property="og:title"]'),
        og_urls: content('meta[property="og:url"]'),
        og_images: content('meta[property="og:image"]'),
        json_ld: all('script[type="application/ld+json"]').map((e) => e.textContent),
    };
}"""


def _make_products(live_shop: LiveShop) -> tuple[dict[str, str], dict[str, str], str]:
    """Two products of a category of their own; the first has an SEO title and description.
    Returns their (slug, name, seo title, seo description) facts and the category's slug."""
    tag = secrets.token_hex(3)
    with db.session_scope(f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}") as session:
        category = make_category(session, slug=f"head-{tag}", name=f"Head test {tag}")
        first = make_product(
            session,
            slug=f"lantern-guide-{tag}",
            name=f"Lantern Guide {tag}",
            category=category,
            description="How to build a paper lantern.",
            seo_title=f"Paper Lanterns Step by Step {tag}",
            seo_description="Build a paper lantern in an afternoon.",
        )
        second = make_product(
            session,
            slug=f"kite-plans-{tag}",
            name=f"Kite Plans {tag}",
            category=category,
            description="Plans for three kites.",
        )
        session.commit()
        facts = [
            {
                "slug": p.slug,
                "name": p.name,
                "seo_title": p.seo_title or p.name,
                "seo_description": p.seo_description or p.description,
            }
            for p in (first, second)
        ]
    return facts[0], facts[1], f"head-{tag}"


def _expect_head_of(page, live_shop: LiveShop, product: dict[str, str]) -> None:
    """Exactly one of each tag, all describing `product` (its SEO title and description)."""
    url = f"{live_shop.url}/products/{product['slug']}"
    title = f"{product['seo_title']} | Maple & Pine Digital"
    expect(page.get_by_role("heading", level=1)).to_have_text(product["name"])
    expect(page).to_have_title(title)
    # The head settles after the product's data arrives over the event websocket.
    expect(page.locator('link[rel="canonical"]')).to_have_attribute("href", url)
    head = page.evaluate(HEAD)
    assert head["title"] == title
    assert head["titles"] == [title]
    assert head["descriptions"] == [product["seo_description"]]
    assert head["canonicals"] == [url]
    assert head["og_titles"] == [product["seo_title"]]
    assert head["og_urls"] == [url]
    assert len(head["og_images"]) == 1
    assert re.match(r"https?://", head["og_images"][0]), head["og_images"]
    assert len(head["json_ld"]) == 1
    data = json.loads(head["json_ld"][0])
    assert data["url"] == url
    assert data["name"] == product["name"]
    assert data["description"] == product["seo_description"]
    assert data["image"] == head["og_images"][0]


def test_product_head_is_single_and_follows_navigation(page, live_shop):
    # given two products of one category, the first with an SEO title set by the merchant
    first, second, category = _make_products(live_shop)

    # when a visitor opens the first one
    page.goto(f"/products/{first['slug']}")
    # then the head has one of each tag, with the SEO title (as the server renders it)
    _expect_head_of(page, live_shop, first)

    # when they go to its category and open the other product in the app
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link").last.click()
    expect(page).to_have_url(re.compile(rf"/products\?category={category}$"))
    page.get_by_role("link", name=second["name"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"/products/{second['slug']}$"))
    # then the head describes that product, and nothing of the first one is left
    _expect_head_of(page, live_shop, second)
    assert first["slug"] not in page.evaluate("document.head.innerHTML")

    # when they leave the product pages for the catalogue
    page.get_by_role("banner").get_by_role("link", name="Products").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("All products")
    # then no product's tags remain
    head = page.evaluate(HEAD)
    assert head["canonicals"] == []
    assert head["json_ld"] == []
    assert head["og_urls"] == []
    assert len(head["titles"]) == 1
    assert len(head["descriptions"]) == 1
    assert second["slug"] not in page.evaluate("document.head.innerHTML")

    # when they go back to the product, and from there to the first one's page
    page.go_back()
    _expect_head_of(page, live_shop, second)
    page.go_back()
    page.go_back()
    # then each time the head is that product's, once
    _expect_head_of(page, live_shop, first)

    assert page.problems.csp_violations == []
    assert page.problems.console_errors == [], page.problems.console_errors


def test_a_crawler_that_runs_scripts_but_opens_no_websocket_keeps_the_servers_tags(page, live_shop):
    # given a product with an SEO title, and a browser whose websockets never connect (as
    # some crawlers that render JavaScript are)
    first, _, _ = _make_products(live_shop)
    page.route_web_socket(re.compile(r".*/_event.*"), lambda ws: None)
    # when it opens the product page and the app has started
    page.goto(f"/products/{first['slug']}")
    page.wait_for_timeout(1500)
    # then it still reads the server's product tags: title, description and canonical link
    head = page.evaluate(HEAD)
    assert f"{first['seo_title']} | Maple & Pine Digital" in head["titles"]
    assert head["title"] == f"{first['seo_title']} | Maple & Pine Digital"
    assert first["seo_description"] in head["descriptions"]
    assert head["canonicals"] == [f"{live_shop.url}/products/{first['slug']}"]
