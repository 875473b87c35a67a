"""The storefront in a real browser: production build, real server, system Chromium."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from shop.services.money import format_money
from tests.e2e.conftest import OUTPUT_DIR

pytestmark = pytest.mark.browser


def _first_featured(url: str) -> tuple[str, str]:
    """(name, formatted price) of a product the home page features, from the REST API."""
    product = httpx.get(f"{url}/api/products/freelancer-tax-primer", timeout=10).json()
    return product["name"], format_money(product["price"]["amount"], product["price"]["currency"])


def test_home_to_product_page(page, live_shop):
    name, price = _first_featured(live_shop.url)

    page.goto("/")
    expect(page.get_by_role("banner")).to_contain_text("Maple & Pine Digital")
    expect(page.get_by_text("Sandbox — payments are simulated")).to_be_visible()
    # the banner is a standing note: the page's status messages are the only role=status
    expect(page.get_by_role("note", name="Sandbox — payments are simulated")).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)
    page.get_by_role("link", name=name, exact=True).click()

    expect(page).to_have_url(re.compile(r"/products/freelancer-tax-primer$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator(".product-price")).to_contain_text(price)
    expect(page).to_have_title(re.compile(re.escape(name)))
    page.screenshot(path=str(OUTPUT_DIR / "storefront-product.png"), full_page=True)

    assert page.problems.csp_violations == []
    assert page.problems.console_errors == []
    assert any("/_event" in url for url in page.problems.websockets)


def test_product_page_opened_directly(page, live_shop):
    name, price = _first_featured(live_shop.url)

    response = page.goto("/products/freelancer-tax-primer")

    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_text(price).first).to_be_visible()
    assert page.problems.console_errors == []


def test_catalog_filters_and_search(page, live_shop):
    page.goto("/products")
    expect(page.get_by_role("heading", level=1)).to_have_text("All products")
    cards = page.locator(".product-grid .card")
    expect(cards.first).to_be_visible()

    page.get_by_role("navigation", name="Categories").get_by_role(
        "link", name="Audio & Music"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audio & Music")
    expect(page).to_have_url(re.compile(r"category=audio"))
    for category in page.locator(".product-grid .card-category").all_inner_texts():
        assert category.lower() == "audio & music"

    page.get_by_role("navigation", name="Categories").get_by_role("link", name="All").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("All products")
    search = page.get_by_role("searchbox", name="Search products")
    search.fill("tax primer")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"q=tax"))
    expect(
        page.get_by_role("link", name="Canadian Freelancer Tax Primer", exact=True)
    ).to_be_visible()
    page.screenshot(path=str(OUTPUT_DIR / "storefront-catalog.png"), full_page=True)
    assert page.problems.console_errors == []


def test_unknown_page_shows_the_404_page(page, live_shop):
    response = page.goto("/no-such-page")

    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")


def test_mobile_layout_keeps_the_navigation(browser, live_shop):
    context = browser.new_context(base_url=live_shop.url, viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto("/")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Products")
    ).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"horizontal scroll on a phone: {width}px"
    page.screenshot(path=str(OUTPUT_DIR / "storefront-mobile.png"), full_page=True)
    context.close()


def test_a_membership_page_offers_subscribe_instead_of_add_to_cart(page, live_shop):
    # given a subscription product of the demo catalog
    # when a customer opens its page
    page.goto("/products/maple-club-monthly")
    # then it offers "Subscribe" (to the plan's own checkout), never "Add to cart"
    expect(page.get_by_role("heading", level=1)).to_have_text("Maple Club — Monthly")
    expect(page.get_by_role("link", name="Subscribe")).to_have_attribute(
        "href", "/subscribe/maple-club-monthly"
    )
    expect(page.get_by_role("button", name="Add to cart")).to_have_count(0)
    # and says what a member gets and how billing works
    facts = page.locator(".product-facts")
    expect(facts).to_contain_text("download the plan's files while it lasts")
    expect(facts).to_contain_text("Billed monthly, renewing until you cancel")
    expect(facts).to_contain_text(
        "Cancel any time; you keep access until the end of the paid period"
    )


def test_pages_promise_only_what_the_shop_does(page):
    # given the default download terms (5 downloads within 7 days of payment)
    promises = re.compile(r"never expire|whenever you need|cancel any time|Membership plans", re.I)

    # when a visitor reads the home page, then it states those terms and offers no membership
    page.goto("/")
    expect(page.get_by_role("region", name="Why shop with us")).to_contain_text(
        "Download each purchase up to 5 times within 7 days of payment"
    )
    expect(page.get_by_role("link", name="Membership plans")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(promises)

    # and a product page says the same of that product
    page.goto("/products/freelancer-tax-primer")
    expect(page.locator(".product-facts")).to_contain_text(
        "One-time purchase — download it up to 5 times within 7 days of payment"
    )
    expect(page.locator("main")).not_to_contain_text(promises)

    # and a membership's page promises only what memberships do (cancel at the period's end)
    page.goto("/products/maple-club-monthly")
    expect(page.locator("main")).not_to_contain_text(
        re.compile(r"never expire|whenever you need|not on sale", re.I)
    )

    # and the sign-in page does not speak of subscriptions
    page.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("main")).not_to_contain_text("subscription")
