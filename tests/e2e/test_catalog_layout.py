"""The catalogue and product pages in a browser: phone widths, search-preserving category
chips, products without an image, and the sitemap's URLs."""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from shop import db
from shop.services import auth
from tests.e2e.conftest import OUTPUT_DIR, LiveShop

pytestmark = pytest.mark.browser

PASSWORD = "a long enough test passphrase"
LONG_URL = (
    "https://drive.example.com/shared/folders/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789/"
    "resources?usp=sharing"
)


def _admin_token(live_shop: LiveShop) -> str:
    email = f"layout-{secrets.token_hex(3)}@example.com"
    with db.session_scope(f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}") as session:
        auth.create_user(
            session=session, email=email, password=PASSWORD, roles=("admin",), email_verified=True
        )
    response = httpx.post(
        f"{live_shop.url}/api/auth/login", json={"email": email, "password": PASSWORD}
    )
    return response.json()["access_token"]


def _create_product(live_shop: LiveShop, **fields: object) -> dict:
    response = httpx.post(
        f"{live_shop.url}/api/products",
        json={"price": {"amount": 500, "currency": "cad"}, "category": "guides", **fields},
        headers={"Authorization": f"Bearer {_admin_token(live_shop)}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _no_sideways_scroll(page, what: str) -> None:
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"{what} scrolls sideways: {scroll}px in {client}px"


@pytest.mark.parametrize("width", [320, 360])
def test_the_catalogue_fits_a_narrow_phone(browser, live_shop, width: int):
    context = browser.new_context(base_url=live_shop.url, viewport={"width": width, "height": 700})
    page = context.new_page()
    page.goto("/products")
    expect(page.locator(".product-grid .card").first).to_be_visible()
    expect(page.get_by_role("button", name="Search")).to_be_visible()
    _no_sideways_scroll(page, f"/products at {width}px")
    page.screenshot(path=str(OUTPUT_DIR / f"catalog-{width}.png"), full_page=True)
    context.close()


def test_a_product_with_a_long_url_and_name_fits_a_narrow_phone(browser, live_shop):
    long_name = "Supercalifragilistic" * 9
    product = _create_product(
        live_shop,
        name=long_name,
        description=f"Companion files: {LONG_URL} for readers.",
    )
    context = browser.new_context(base_url=live_shop.url, viewport={"width": 320, "height": 700})
    page = context.new_page()
    page.goto(f"/products/{product['slug']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(long_name)
    expect(page.locator(".product-description")).to_contain_text("Companion files")
    _no_sideways_scroll(page, "a product page with a long URL")
    page.screenshot(path=str(OUTPUT_DIR / "product-long-url-320.png"), full_page=True)
    context.close()


def test_a_product_without_an_image_shows_a_placeholder_not_a_broken_image(page, live_shop):
    product = _create_product(live_shop, name=f"Imageless {secrets.token_hex(3)}")
    page.goto(f"/products/{product['slug']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(product["name"])
    media = page.locator(".product-media")
    expect(media.locator(".image-placeholder")).to_be_visible()
    expect(media.locator("img")).to_have_count(0)
    page.goto("/products?q=" + product["name"].replace(" ", "%20"))
    card = page.get_by_role("link", name=product["name"], exact=True)
    expect(card.locator(".image-placeholder")).to_be_visible()
    expect(card.locator("img")).to_have_count(0)
    # no card anywhere has an <img> without a picture to show
    page.goto("/products")
    expect(page.locator(".product-grid .card").first).to_be_visible()
    assert page.locator(".product-grid img:not([src]), .product-grid img[src='']").count() == 0
    assert page.problems.console_errors == []


@pytest.mark.parametrize("q", ["Invoice & Quote", "C# guide", "a+b", "50% off"])
def test_a_category_chip_keeps_the_search_as_typed(page, live_shop, q: str):
    page.goto("/products")
    search = page.get_by_role("searchbox", name="Search products")
    search.fill(q)
    search.press("Enter")
    expect(page.get_by_text(f"matching “{q}”")).to_be_visible()
    chip = page.get_by_role("navigation", name="Categories").get_by_role(
        "link", name="Templates & Tools"
    )
    href = chip.get_attribute("href") or ""
    assert parse_qs(urlsplit(href).query)["q"] == [q]
    assert "#" not in href
    chip.click()
    expect(page).to_have_url(re.compile(r"category=templates"))
    expect(page.get_by_text(f"matching “{q}”")).to_be_visible()
    expect(page.get_by_role("searchbox", name="Search products")).to_have_value(q)


def test_a_page_past_the_end_shows_the_last_page_numbered_right(page, live_shop):
    total = httpx.get(f"{live_shop.url}/api/products", params={"limit": 100}).json()["items"]
    last = max(1, -(-len(total) // 12))
    page.goto("/products?page=999")
    expect(page.locator(".product-grid .card").first).to_be_visible()
    if last > 1:
        expect(page.get_by_role("navigation", name="Pages")).to_contain_text(
            f"Page {last} of {last}"
        )
        expect(page.get_by_role("link", name="Next →")).to_have_count(0)
    expect(page.get_by_text("Page 200")).to_have_count(0)


def test_every_sitemap_url_answers_200_without_a_redirect(live_shop):
    body = httpx.get(f"{live_shop.url}/sitemap.xml").text
    urls = re.findall(r"<loc>([^<]+)</loc>", body)
    assert f"{live_shop.url}/products/" in urls
    for url in urls:
        response = httpx.get(url, follow_redirects=False, headers={"accept": "text/html"})
        assert response.status_code == 200, (url, response.status_code)


def test_the_admin_product_list_scrolls_in_its_own_box_on_a_phone(browser, live_shop):
    # given an admin on a phone-width screen
    email = f"phone-admin-{secrets.token_hex(3)}@example.com"
    with db.session_scope(f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}") as session:
        auth.create_user(
            session=session, email=email, password=PASSWORD, roles=("admin",), email_verified=True
        )
    context = browser.new_context(base_url=live_shop.url, viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto("/login?next=/admin/products")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # when they open the product list
    page.wait_for_url(re.compile(r"/admin/products/?$"))
    expect(page.get_by_role("table", name="Products").get_by_role("row").nth(1)).to_be_visible()
    # then the page itself does not scroll sideways: the table scrolls in its box
    _no_sideways_scroll(page, "/admin/products at 375px")
    context.close()
