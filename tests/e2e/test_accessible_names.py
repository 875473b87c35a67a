"""Accessible names in a real browser: every page has one <h1>, and no two links, buttons or
form fields on a page share a name — what a screen reader's list of links shows, and what
Playwright's strict `get_by_role` / `get_by_label` (a substring match by default) needs.

Pages are visited as a stranger, a customer with a paid order of two files, and an admin.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from shop import db
from shop.models import (
    DownloadGrant,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductFile,
    utcnow,
)
from shop.services import auth, storage
from tests.e2e.conftest import LiveShop, create_account

pytestmark = pytest.mark.browser

PASSWORD = "a long enough test passphrase"
# The roles a person picks a control by; fields are one group (get_by_label finds any of them).
_FIELDS = {"textbox", "searchbox", "combobox", "checkbox", "radio", "spinbutton", "listbox"}
_CONTROLS = {"link", "button"} | _FIELDS
_LINE = re.compile(r'^\s*- (\w+) "((?:[^"\\]|\\.)*)"')


def _named_controls(page: Page) -> list[tuple[str, str]]:
    """(role group, name) of each link, button and field in the accessibility tree."""
    found = []
    for line in page.locator("body").aria_snapshot().splitlines():
        match = _LINE.match(line)
        if match and match.group(1) in _CONTROLS:
            role = "field" if match.group(1) in _FIELDS else match.group(1)
            found.append((role, match.group(2).replace('\\"', '"')))
    return found


def _shared_names(page: Page) -> list[tuple[str, str]]:
    counts = Counter((role, " ".join(name.lower().split())) for role, name in _named_controls(page))
    return sorted(key for key, n in counts.items() if n > 1)


def _check(page: Page, path: str, h1: str | re.Pattern[str], ready: Callable[[Page], Locator]):
    """Open `path`; once loaded, one <h1> (`h1`) and no name shared by two controls."""
    page.goto(path)
    expect(ready(page)).to_be_visible()
    headings = page.get_by_role("heading", level=1)
    expect(headings).to_have_count(1)
    expect(headings).to_have_text(h1)
    assert _shared_names(page) == [], path


def _main(page: Page) -> Locator:
    return page.get_by_role("main")


def _header(page: Page) -> Locator:
    return page.get_by_role("banner")


def _sign_in(page: Page, shop: LiveShop, email: str, password: str) -> None:
    answer = page.request.post(
        "/api/auth/login/form",
        form={"email": email, "password": password},
        headers={"Origin": shop.url},
        max_redirects=0,
    )
    assert answer.status == 303, answer.text()


def _customer_with_two_files(shop: LiveShop) -> tuple[str, str, int]:
    """A customer (email) whose one paid order (number) delivered two files; and their id."""
    tag = secrets.token_hex(3)
    email, number = f"names-{tag}@example.com", f"ORD-NAMES-{tag.upper()}"
    now = utcnow()
    with db.session_scope(f"sqlite:///{shop.data_dir / 'shop.sqlite3'}") as session:
        user = auth.create_user(
            session=session, email=email, password=PASSWORD, roles=("customer",)
        )
        # Not for sale (inactive): other browser tests of this session see the catalog unchanged.
        product = Product(
            name=f"Names Kit {tag}", slug=f"names-kit-{tag}", price_amount=1000, is_active=False
        )
        order = Order(
            user_id=user.id,
            status=OrderStatus.PAID.value,
            subtotal_amount=1000,
            total_amount=1000,
            number=number,
            billing_country="US",
            paid_at=now,
            fulfilled_at=now,
        )
        session.add_all([product, order])
        session.flush()
        item = OrderItem(
            order_id=order.id or 0,
            product_id=product.id or 0,
            product_name=product.name,
            price_at_time=1000,
        )
        session.add(item)
        for part in ("maps", "notes"):
            key = storage.new_key(".pdf")
            path = shop.data_dir / "files" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"%PDF-1.4 " + part.encode() + b"\n%%EOF\n")
            product_file = ProductFile(
                product_id=product.id or 0,
                storage_key=key,
                original_name=f"{part}.pdf",
                content_type="application/pdf",
                size_bytes=path.stat().st_size,
                sha256="0" * 64,
            )
            session.add(product_file)
            session.flush()
            session.add(
                DownloadGrant(
                    order_item_id=item.id or 0,
                    product_file_id=product_file.id or 0,
                    user_id=user.id or 0,
                    expires_at=now + timedelta(days=7),
                    download_limit=5,
                )
            )
        user_id = user.id or 0
    return email, number, user_id


def test_storefront_pages_have_one_h1_and_no_two_controls_of_one_name(page: Page):
    # given a visitor who is not signed in; when they open each storefront page
    # then each has one <h1> and no two links, buttons or fields of one name
    primer = "Canadian Freelancer Tax Primer"
    _check(
        page,
        "/",
        re.compile("everyday makers"),
        lambda p: p.get_by_role("link", name="Memberships", exact=True),  # the category chip
    )
    _check(page, "/products", "All products", lambda p: p.get_by_role("link", name=primer))
    _check(
        page,
        "/products/freelancer-tax-primer",
        primer,
        lambda p: p.get_by_role("button", name="Add to cart"),
    )
    _check(
        page,
        "/products?q=no-such-thing-at-all",
        "All products",
        lambda p: p.get_by_role("heading", name="Nothing found"),
    )
    _check(page, "/cart", "Your cart", _main)
    _check(page, "/no-such-page", "Page not found", _main)
    # and the header's "Home" and "Products" are found by their names alone (no footer copy,
    # no breadcrumb or button of a name that contains theirs)
    for path in ("/", "/products", "/products/freelancer-tax-primer", "/cart", "/no-such-page"):
        page.goto(path)
        expect(page.get_by_role("link", name="Products")).to_have_count(1)
        expect(page.get_by_role("link", name="Home")).to_have_count(1)
        expect(_header(page).get_by_role("link", name="Products")).to_be_visible()
    # and the product page's breadcrumb still leads to the catalogue
    page.goto("/products/freelancer-tax-primer")
    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    breadcrumb.get_by_role("link", name="Catalogue").click()
    expect(page).to_have_url(re.compile(r"/products/?$"))
    assert page.problems.csp_violations == []  # type: ignore[attr-defined]


def test_each_sign_in_and_create_account_link_is_the_only_one_of_its_name(page: Page):
    # when a visitor opens the sign-in page on the way to their cart
    _check(page, "/login?next=/cart", "Sign in", lambda p: p.get_by_role("button", name="Sign in"))
    # then "Create account" is the header's link only, and the form's own link (which keeps
    # where they were going) has a name of its own
    expect(page.get_by_role("link", name="Create account")).to_have_count(1)
    expect(_header(page).get_by_role("link", name="Create account")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_have_count(1)
    expect(page.get_by_role("button", name="Sign in")).to_have_count(1)
    register = page.get_by_role("link", name="Register for an account")
    expect(register).to_have_attribute("href", re.compile(r"/register\?next=/cart$"))
    register.click()
    # and the sign-up page has one "Create account" button and one "Sign in" link
    expect(page).to_have_url(re.compile(r"/register/?\?next=/cart$"))
    _check(page, "/register", "Create account", lambda p: p.get_by_label("Email", exact=True))
    expect(page.get_by_role("button", name="Create account")).to_have_count(1)
    expect(page.get_by_role("link", name="Create account")).to_have_count(1)
    expect(page.get_by_role("link", name="Sign in")).to_have_count(1)
    page.get_by_role("link", name="Go to the sign-in page").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    # and the other pages about signing in name their way back apart from the header's link
    for path, h1 in (
        ("/forgot-password", "Forgot your password?"),
        ("/verify-email?token=not-a-token", "Confirm your email"),
        ("/reset-password?token=not-a-token", "Choose a new password"),
    ):
        _check(page, path, h1, _main)
        expect(page.get_by_role("link", name="Sign in")).to_have_count(1)
    # and a staff page asks a stranger to sign in without a second "Sign in" link
    _check(page, "/admin", "Administration", lambda p: p.get_by_role("alert"))
    expect(page.get_by_role("link", name="Sign in")).to_have_count(1)
    # (which comes back to the staff page after signing in)
    page.get_by_role("link", name="Go to the sign-in page").click()
    expect(page).to_have_url(re.compile(r"/login/?\?next=%2Fadmin(%2F)?$"))


def test_customer_pages_have_one_h1_and_no_two_controls_of_one_name(
    page: Page, live_shop: LiveShop
):
    # given a signed-in customer whose paid order delivered two files
    email, number, _ = _customer_with_two_files(live_shop)
    _sign_in(page, live_shop, email, PASSWORD)
    # when they open their account pages, then each has one <h1> and no shared names
    _check(page, "/account", "Your account", lambda p: p.get_by_role("region", name="Profile"))
    _check(page, "/account/orders", "Your orders", lambda p: p.get_by_role("table"))
    _check(
        page,
        f"/account/orders/{number}",
        f"Order {number}",
        lambda p: p.get_by_role("link", name="View receipt"),
    )
    _check(
        page,
        f"/account/orders/{number}/receipt",
        re.compile("Receipt for order"),
        lambda p: p.get_by_role("link", name="Download PDF"),
    )
    # and on their downloads each file's button and each file's link to the order is its own
    _check(
        page,
        "/account/downloads",
        "Your downloads",
        lambda p: p.get_by_role("button", name="Download").first,
    )
    expect(page.get_by_role("button", name="Download")).to_have_count(2)
    order_links = page.get_by_role("link", name=f"Order {number}")
    expect(order_links).to_have_count(2)
    order_links.first.click()
    expect(page).to_have_url(re.compile(re.escape(f"/account/orders/{number}") + "$"))


def test_staff_pages_have_one_h1_and_no_two_controls_of_one_name(page: Page, live_shop: LiveShop):
    # given an admin, and a customer with an order of two files
    _, number, customer_id = _customer_with_two_files(live_shop)
    email = f"names-admin-{secrets.token_hex(3)}@example.com"
    _sign_in(page, live_shop, email, create_account(live_shop, email, "admin"))

    # when they open the overview, then its cards are the section menu (no second menu)
    _check(page, "/admin", "Administration", lambda p: p.locator(".admin-card").first)
    menu = page.get_by_role("navigation", name="Administration")
    expect(menu).to_have_count(1)
    for section in ("Product catalogue", "Categories", "Orders", "Customers", "Audit log"):
        expect(page.get_by_role("link", name=section)).to_have_count(1)
    # and "Products" is the storefront header's link only, here and on every staff page
    expect(page.get_by_role("link", name="Products")).to_have_count(1)
    menu.get_by_role("link", name="Product catalogue").click()
    expect(page).to_have_url(re.compile(r"/admin/products/?$"))

    for path, h1, ready in (
        ("/admin/products", "Products", lambda p: p.get_by_role("table", name="Products")),
        ("/admin/products/new", "New product", lambda p: p.get_by_label("Slug", exact=True)),
        ("/admin/categories", "Categories", lambda p: p.get_by_role("table", name="Categories")),
        ("/admin/orders", "Orders", lambda p: p.get_by_role("link", name=number)),
        (f"/admin/orders/{number}", f"Order {number}", lambda p: p.get_by_role("table").first),
        ("/admin/customers", "Customers", lambda p: p.get_by_role("table").first),
        (
            f"/admin/customers/{customer_id}",
            "Customer",
            lambda p: p.get_by_role("table", name="Downloads"),
        ),
        (
            "/admin/promo-codes",
            "Promo codes",
            lambda p: p.get_by_role("button", name="Create promo code"),
        ),
        (
            "/admin/reconciliation",
            "Reconciliation",
            lambda p: p.get_by_role("button", name="Run reconciliation now"),
        ),
        ("/admin/audit", "Audit log", lambda p: p.get_by_role("table").first),
    ):
        _check(page, path, h1, ready)
        expect(page.get_by_role("link", name="Products")).to_have_count(1)
        expect(page.get_by_role("navigation", name="Administration")).to_be_visible()

    # and on the product form "Description" finds the description box alone
    page.goto("/admin/products/new")
    expect(page.get_by_label("Description")).to_have_count(1)
    expect(page.get_by_label("Description")).to_have_attribute("id", "product-description")
    expect(page.get_by_label("Search engine summary")).to_have_attribute(
        "id", "product-seo_description"
    )
    # and an order's page leads back to the list by a name the "Orders" menu link does not share
    page.goto(f"/admin/orders/{number}")
    expect(page.get_by_role("link", name="Orders")).to_have_count(1)
    page.get_by_role("link", name="Back to the order list").click()
    expect(page).to_have_url(re.compile(r"/admin/orders/?$"))
    # and the customer's page links their order once, not once per file
    page.goto(f"/admin/customers/{customer_id}")
    expect(page.get_by_role("table", name="Downloads")).to_contain_text(number)
    expect(page.get_by_role("link", name=number)).to_have_count(1)
    assert page.problems.csp_violations == []  # type: ignore[attr-defined]
