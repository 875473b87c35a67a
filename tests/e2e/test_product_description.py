"""A Markdown product description in a real browser: formatted on the product page, plain
words on its card, and no payload in it ever runs."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from playwright.sync_api import expect

from shop import db
from shop.services import auth
from tests.e2e.conftest import OUTPUT_DIR, LiveShop

pytestmark = pytest.mark.browser

PASSWORD = "a long enough test passphrase"
DESCRIPTION = (
    "A **bold** test <script>alert(1)</script>\n\n"
    "# Overview\n\n"
    "## Features\n\n"
    "- *first*\n- [docs](https://example.com/docs) and [bad](javascript:alert(1))\n\n"
    '<img src=x onerror="window.__xss=1"> <svg onload="window.__xss=2"></svg>'
)
# Runs before the page's own scripts: any alert or payload that fires leaves a trace here.
TRAP = "window.__alerts = []; window.alert = (m) => { window.__alerts.push(String(m)); };"


def _create_product(live_shop: LiveShop, name: str) -> dict:
    """Through the admin REST API, as the owner's tools would."""
    email = f"describer-{secrets.token_hex(3)}@example.com"
    with db.session_scope(f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}") as session:
        auth.create_user(
            session=session, email=email, password=PASSWORD, roles=("admin",), email_verified=True
        )
    token = httpx.post(
        f"{live_shop.url}/api/auth/login", json={"email": email, "password": PASSWORD}
    ).json()["access_token"]
    response = httpx.post(
        f"{live_shop.url}/api/products",
        json={
            "name": name,
            "description": DESCRIPTION,
            "price": {"amount": 700, "currency": "cad"},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _nothing_ran(page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("window.__alerts") == []


def test_a_markdown_description_is_formatted_and_nothing_in_it_runs(page, live_shop):
    # given a product whose Markdown description carries script payloads
    name = f"Marked Guide {secrets.token_hex(2)}"
    product = _create_product(live_shop, name)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script(TRAP)

    # when a visitor finds it in the catalog
    page.goto(f"/products?q={name.replace(' ', '+')}")
    card = page.get_by_role("link", name=name, exact=True)
    # then its card shows the words of the description, not the Markdown
    summary = card.locator(".card-summary")
    expect(summary).to_contain_text("A bold test")
    assert "**" not in summary.inner_text()
    assert "#" not in summary.inner_text()

    # when they open the product
    card.click()
    expect(page).to_have_url(re.compile(re.escape(product["url"]) + "$"))
    description = page.locator(".product-info .product-description")
    # then the description is formatted, its headings one level under the product name's
    # <h1>, the page's only one ("#" → h2, "##" → h3)
    expect(description.locator("strong")).to_have_text("bold")
    expect(description.locator("em")).to_have_text("first")
    expect(description.get_by_role("heading", level=2)).to_have_text("Overview")
    expect(description.get_by_role("heading", level=3)).to_have_text("Features")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(description.get_by_role("heading", level=1)).to_have_count(0)
    link = description.get_by_role("link", name="docs")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("rel", re.compile(r"\bnofollow\b"))
    expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    # and the payloads are text: no script, image or svg element, nothing executed
    expect(description).to_contain_text("<script>alert(1)</script>")
    expect(description.locator("script, img, svg, iframe")).to_have_count(0)
    expect(description.locator('a[href^="javascript:"]')).to_have_count(0)
    page.screenshot(path=str(OUTPUT_DIR / "storefront-markdown-description.png"), full_page=True)
    _nothing_ran(page)

    # when the page is opened directly (server HTML, then the app)
    page.goto(product["url"])
    expect(description.locator("strong")).to_have_text("bold")
    expect(description.locator("script, img, svg, iframe")).to_have_count(0)
    _nothing_ran(page)
    assert dialogs == []
    assert page.problems.console_errors == []
    assert page.problems.csp_violations == []
