"""Catalog administration in a real browser: an admin creates a product with an image and a
file through the UI and it reaches the storefront; a customer is turned away."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlmodel import select

from shop import db
from shop.models import Product
from shop.services.money import format_money
from tests.e2e.conftest import OUTPUT_DIR, LiveShop, create_account

pytestmark = pytest.mark.browser


def _sign_in(page: Page, email: str, password: str, next_path: str) -> None:
    page.goto(f"/login?next={next_path}")
    # The form carries `next` once the page's state has read it from the address.
    expect(page.locator('input[name="next"]')).to_have_value(next_path)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"^https?://[^/]+" + re.escape(next_path) + "/?$"))


def _png(tmp_path: Path) -> Path:
    path = tmp_path / "cover.png"
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (31, 59, 45)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_admin_creates_a_product_with_image_and_file_and_it_reaches_the_storefront(
    page: Page, live_shop: LiveShop, tmp_path: Path
):
    # given an admin signed in through the login page
    email = f"owner-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, "admin"), "/admin/products")
    expect(page.get_by_role("heading", level=1)).to_have_text("Products")
    name = f"Lakeside Field Guide {secrets.token_hex(2)}"

    # when they start a product
    page.get_by_role("link", name="New product").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New product")
    # (the description box is the only one "Description" finds: the SEO one is named apart)
    expect(page.get_by_label("Description")).to_have_count(1)
    expect(page.get_by_label("Search engine summary")).to_have_count(1)
    # and press "Create product" before typing anything
    page.get_by_role("button", name="Create product").click()
    # then every box at fault is marked at once, each with its own message
    expect(page.locator("#product-name-error")).to_have_text("Name must not be empty.")
    expect(page.locator("#product-price-error")).to_have_text("Enter a price.")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Price", exact=True)).to_have_attribute("aria-invalid", "true")

    # when they fill the form in but type a price the form cannot read
    # ("Name" alone: the page has one box whose label holds it)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description", exact=True).fill(
        "# Lakes\n\nMaps of **twelve** lakes.\n\n<script>alert(1)</script>"
    )
    page.get_by_label("Price", exact=True).fill("12.345")
    page.get_by_label("Category", exact=True).select_option(label="Guides & E-books")
    page.get_by_label("SEO title", exact=True).fill("Lakeside guide for paddlers")
    page.get_by_label("Inventory count", exact=True).fill("5")
    page.get_by_label("Link lifetime (days)").fill("30")
    page.get_by_role("button", name="Create product").click()
    # then the problem shows next to the price only, and nothing was created
    expect(page.locator("#product-price-error")).to_have_text(
        "Enter the price in dollars, like 19.99."
    )
    expect(page.get_by_label("Price", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#product-name-error")).to_have_count(0)
    # and the Markdown preview is rendered, the script only as text
    preview = page.get_by_role("region", name="Preview", exact=True)
    expect(preview.locator("strong")).to_have_text("twelve")
    expect(preview.locator("script")).to_have_count(0)
    # and as the product page will show it: its "#" heading under the page's one <h1>
    expect(preview.get_by_role("heading", name="Lakes")).to_have_js_property("tagName", "H2")
    expect(page.get_by_role("heading", level=1)).to_have_text("New product")

    # when the price is corrected
    page.get_by_label("Price", exact=True).fill("19.99")
    page.get_by_role("button", name="Create product").click()
    # then the product exists and its edit page opens
    expect(page).to_have_url(re.compile(r"/admin/products/\d+/?$"), timeout=20_000)
    expect(page.get_by_role("status").filter(has_text="Product created.")).to_be_visible()
    expect(page.get_by_label("Slug", exact=True)).to_have_value(
        re.compile(r"^lakeside-field-guide-")
    )
    slug = page.get_by_label("Slug", exact=True).input_value()
    product_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    # when they upload an image and a downloadable file
    page.get_by_label("Image").set_input_files(str(_png(tmp_path)))
    page.get_by_role("button", name="Upload image").click()
    expect(page.get_by_role("img", name="Current image")).to_have_attribute(
        "src", re.compile(r"^/media/products/")
    )
    guide = tmp_path / "lakeside-guide.pdf"
    guide.write_bytes(b"%PDF-1.4 lakes\n" * 4096)
    page.get_by_label("File").set_input_files(str(guide))
    page.get_by_role("button", name="Upload file").click()
    files = page.get_by_role("table", name="Downloadable files")
    expect(files).to_contain_text("lakeside-guide.pdf")
    expect(files).to_contain_text("60.0 KB")
    expect(files).to_contain_text(hashlib.sha256(guide.read_bytes()).hexdigest()[:12])
    page.screenshot(path=str(OUTPUT_DIR / "admin-product-edit.png"), full_page=True)

    # then the storefront shows it, with its image, the name its one <h1>
    page.goto(f"/products/{slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator(".product-description").get_by_role("heading", level=2)).to_have_text(
        "Lakes"
    )
    expect(page.locator(".product-price")).to_contain_text("$19.99 CAD")
    expect(page.get_by_role("img", name=f"Cover of {name}")).to_have_attribute(
        "src", re.compile(r"^/media/products/")
    )
    expect(page.get_by_text("Sold out")).to_have_count(0)
    # and so does the crawlable HTML, at once
    html = httpx.get(f"{live_shop.url}/products/{slug}", headers={"accept": "text/html"}).text
    assert "<title>Lakeside guide for paddlers | " in html
    assert re.search(r'<meta property="og:image" content="[^"]*/media/products/', html)
    assert f"<h1>{name}</h1>" in html
    assert html.count("<h1") == 1
    assert "<h2>Lakes</h2>" in html
    assert "<script>alert(1)</script>" not in html

    # when the admin list is searched for it
    page.goto("/admin/products")
    page.get_by_label("Search", exact=True).fill(name)
    page.get_by_role("button", name="Apply filters").click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_have_count(1)
    # then its row shows the Stripe sync state the shop recorded, with Retry when not synced
    stored = page.request.get(f"/api/admin/products/{product_id}").json()
    # (and the download period typed is how long its buyers may download it)
    assert (stored["download_days"], stored["effective_download_days"]) == (30, 30)
    state = stored["sync_status"]
    label = {"synced": "Synced", "not_synced": "Not synced", "pending": "Pending"}[state]
    expect(row.get_by_role("cell").nth(6)).to_contain_text(label)
    retry = row.get_by_role("button", name=f"Retry sync of {name}")
    expect(retry).to_have_count(0 if state == "synced" else 1)

    # when the last copies are gone (inventory set to 0 on the edit page)
    row.get_by_role("link", name=name).click()
    expect(page.get_by_label("Inventory count", exact=True)).to_have_value("5")
    page.get_by_label("Inventory count", exact=True).fill("0")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text(re.compile(r"^Saved\."))).to_be_visible()
    # then the product page says so
    page.goto(f"/products/{slug}")
    expect(page.locator(".sold-out-notice")).to_have_text("Sold out")
    assert page.problems.csp_violations == []  # type: ignore[attr-defined]


def test_a_customer_is_not_allowed_on_the_admin_product_pages(page: Page, live_shop: LiveShop):
    # given a signed-in customer
    email = f"buyer-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, None), "/account")
    # when they open the product administration
    page.goto("/admin/products")
    # then they are told they are not allowed, and see no product data
    expect(page.get_by_role("alert")).to_contain_text("not allowed")
    expect(page.get_by_role("table", name="Products")).to_have_count(0)
    page.goto("/admin/categories")
    expect(page.get_by_role("alert")).to_contain_text("not allowed")
    # and the REST API refuses them too
    assert page.request.get("/api/admin/products").status == 403


def test_admin_manages_categories(page: Page, live_shop: LiveShop):
    # given an admin on the categories page
    email = f"shelves-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, "admin"), "/admin/categories")
    table = page.get_by_role("table", name="Categories")
    expect(table.get_by_role("row").filter(has_text="Guides & E-books")).to_have_count(1)
    name = f"Maps {secrets.token_hex(2)}"

    # when they create a category, it lands at the end of the list
    # ("Name" alone: the page has one box whose label holds it)
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create category").click()
    expect(
        page.get_by_role("status").filter(has_text=f"Category “{name}” created.")
    ).to_be_visible()
    expect(table.get_by_role("row").last).to_contain_text(name)
    expect(page.get_by_role("button", name=f"Move {name} down")).to_be_disabled()

    # when they move it up, it swaps with its neighbour
    page.get_by_role("button", name=f"Move {name} up").click()
    expect(table.get_by_role("row").nth(-2)).to_contain_text(name)

    # when they rename it
    page.get_by_label("Category to change").select_option(label=name)
    page.get_by_label("New title").fill(name + " and Charts")
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(table).to_contain_text(name + " and Charts")

    # when they try to delete a category that holds products, they are told why not
    page.get_by_role("button", name="Delete Guides & E-books").click()
    expect(page.get_by_role("alert")).to_contain_text("Not deleted: The category still holds")
    expect(table).to_contain_text("Guides & E-books")

    # when they delete the empty one, it is gone
    page.get_by_role("button", name=f"Delete {name} and Charts").click()
    expect(page.get_by_role("status").filter(has_text="deleted.")).to_be_visible()
    expect(table).not_to_contain_text(name)


def test_retry_sync_pushes_a_product_that_is_not_synced(page: Page, live_shop: LiveShop):
    # given a product whose last push to Stripe failed
    url = f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}"
    with db.session_scope(url) as session:
        product = session.exec(select(Product).where(Product.slug == "freelancer-tax-primer")).one()
        product.sync_status, product.sync_error = "not_synced", "Stripe unreachable: test"
        session.add(product)
        name, product_id = product.name, product.id
    email = f"sync-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, "admin"), "/admin/products")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row.get_by_role("cell").nth(6)).to_contain_text("Not synced")
    expect(row.get_by_role("cell").nth(6)).to_contain_text("Stripe unreachable: test")

    # when the admin clicks "Retry sync" on its row
    row.get_by_role("button", name=f"Retry sync of {name}").click()

    # then the shop tried again at once and says how it went, in step with what it recorded
    message = page.locator(".notice").filter(has_text=name)
    expect(message).to_have_text(re.compile(rf"^{re.escape(name)}: (synced to Stripe|still not)"))
    state = page.request.get(f"/api/admin/products/{product_id}").json()
    assert state["sync_error"] != "Stripe unreachable: test"
    if state["sync_status"] == "synced":
        expect(message).to_have_text(f"{name}: synced to Stripe.")
        expect(row.get_by_role("cell").nth(6)).to_have_text("Synced")
    else:
        expect(message).to_contain_text(state["sync_error"])
        expect(row.get_by_role("cell").nth(6)).to_contain_text("Not synced")


def test_archive_then_delete_from_the_edit_page(page: Page, live_shop: LiveShop):
    # given an admin and a product nobody bought
    email = f"tidy-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, "admin"), "/admin/products")
    name = f"Old Poster {secrets.token_hex(2)}"
    created = page.request.post(
        "/api/products",
        data={"name": name, "price": {"amount": 500, "currency": "cad"}},
        headers={"Origin": live_shop.url},
    )
    assert created.status == 201, created.text()
    product = created.json()
    page.goto(f"/admin/products/{product['id']}")
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)

    # when they archive it
    page.get_by_role("button", name="Archive").click()
    # then it is off the storefront, and the page says so
    expect(page.get_by_role("status").filter(has_text="Archived")).to_be_visible()
    expect(page.get_by_label("Active (on sale in the storefront)")).not_to_be_checked()
    assert httpx.get(f"{live_shop.url}{product['url']}").status_code == 404

    # when they delete it
    page.get_by_role("button", name="Delete").click()
    # then they are back on the list, told it was deleted, and it is gone
    expect(page).to_have_url(re.compile(r"/admin/products/?$"))
    expect(page.get_by_role("status").filter(has_text=f"{name} was deleted.")).to_be_visible()
    assert page.request.get(f"/api/admin/products/{product['id']}").status == 404


def test_support_staff_see_a_product_read_only(page: Page, live_shop: LiveShop):
    # given a support agent and a seeded product
    email = f"helper-{secrets.token_hex(3)}@example.com"
    product = httpx.get(f"{live_shop.url}/api/products/freelancer-tax-primer", timeout=10).json()
    path = f"/admin/products/{product['id']}"

    # when they open the product's staff page
    _sign_in(page, email, create_account(live_shop, email, "support"), path)

    # then they read its details as text: no box, no save button, no upload or delete
    expect(page.get_by_role("heading", level=1)).to_have_text("Product details")
    details = page.get_by_role("region", name="Product details")
    expect(details).to_contain_text(product["name"])
    price = product["price"]
    expect(details).to_contain_text(format_money(price["amount"], price["currency"]))
    expect(details).to_contain_text("may look at products but not change them")
    main = page.locator("main")
    expect(main.get_by_role("textbox")).to_have_count(0)
    expect(main.get_by_role("combobox")).to_have_count(0)
    expect(main.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name="Save changes")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    page.screenshot(path=str(OUTPUT_DIR / "admin-product-support.png"), full_page=True)
    assert page.problems.console_errors == []


def test_a_product_in_a_currency_the_form_does_not_list_keeps_it_when_saved(
    page: Page, live_shop: LiveShop
):
    # given an admin and a yen product made through the API
    email = f"yen-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, "admin"), "/admin/products")
    created = page.request.post(
        "/api/products",
        data={
            "name": f"Yen Sketches {secrets.token_hex(2)}",
            "price": {"amount": 500, "currency": "jpy"},
        },
    )
    assert created.status == 201, created.text()
    product = created.json()
    # when the admin opens it and saves a change to its SEO title only
    page.goto(f"/admin/products/{product['id']}")
    expect(page.get_by_label("Currency", exact=True)).to_have_value("jpy")
    page.get_by_label("SEO title", exact=True).fill("Sketches priced in yen")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text(re.compile(r"^Saved\."))).to_be_visible()
    # then it is still ¥500, not $500.00 CAD
    stored = page.request.get(f"/api/admin/products/{product['id']}").json()
    assert stored["price"] == {"amount": 500, "currency": "jpy"}
    assert stored["seo_title"] == "Sketches priced in yen"
