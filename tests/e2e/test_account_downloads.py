"""The customer's account pages in a real browser: orders, an order's detail, and downloads.

A customer with a paid order signs in, sees the order with its tax line and a link to the
receipt, and downloads the file with the "Download" button: the browser receives the exact
bytes, and the page then shows one download fewer; the same link in a browser that is not
signed in gives nothing. Strangers are sent to sign in first.
"""

from __future__ import annotations

import re
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from shop import db
from shop.models import (
    DownloadGrant,
    Order,
    OrderItem,
    OrderStatus,
    OrderTaxLine,
    Product,
    ProductFile,
    utcnow,
)
from shop.services import auth, storage
from tests.e2e.conftest import OUTPUT_DIR, LiveShop

pytestmark = pytest.mark.browser

PASSWORD = "a long enough test passphrase"
FILE_BYTES = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
_n = count(1)


def _database_url(live_shop: LiveShop) -> str:
    return f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}"


def _customer_with_a_purchase(live_shop: LiveShop) -> tuple[str, str, str]:
    """A customer (email) who bought "Boreal Field Guide N" (name); and the order number."""
    n = next(_n)
    email, name, number = f"downloads{n}@example.com", f"Boreal Field Guide {n}", f"ORD-E2E-{n:04d}"
    key = storage.new_key(".pdf")
    path = live_shop.data_dir / "files" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(FILE_BYTES)
    now = utcnow()
    with db.session_scope(_database_url(live_shop)) as session:
        user = auth.create_user(
            session=session,
            email=email,
            password=PASSWORD,
            roles=("customer",),
            email_verified=True,
        )
        # Not for sale (inactive): other browser tests of this session see the catalog unchanged.
        product = Product(
            name=name, slug=f"boreal-field-guide-e2e-{n}", price_amount=2000, is_active=False
        )
        session.add(product)
        session.flush()
        product_file = ProductFile(
            product_id=product.id or 0,
            storage_key=key,
            original_name=f"boreal-field-guide-{n}.pdf",
            content_type="application/pdf",
            size_bytes=len(FILE_BYTES),
            sha256="0" * 64,
        )
        order = Order(
            user_id=user.id,
            status=OrderStatus.PAID.value,
            subtotal_amount=2000,
            tax_amount=260,
            total_amount=2260,
            number=number,
            billing_country="CA",
            billing_region="ON",
            paid_at=now,
            fulfilled_at=now,
        )
        session.add_all([product_file, order])
        session.flush()
        _lines(session, order, product, product_file, user_id=user.id or 0)
    return email, name, number


def _lines(
    session: Session, order: Order, product: Product, product_file: ProductFile, *, user_id: int
) -> None:
    item = OrderItem(
        order_id=order.id or 0,
        product_id=product.id or 0,
        product_name=product.name,
        price_at_time=2000,
    )
    session.add(item)
    session.add(
        OrderTaxLine(order_id=order.id or 0, name="HST", jurisdiction="ON", rate="0.13", amount=260)
    )
    session.flush()
    session.add(
        DownloadGrant(
            order_item_id=item.id or 0,
            product_file_id=product_file.id or 0,
            user_id=user_id,
            expires_at=utcnow() + timedelta(days=7),
            download_limit=5,
        )
    )


def _sign_in(page, live_shop: LiveShop, email: str) -> None:
    answer = page.request.post(
        "/api/auth/login/form",
        form={"email": email, "password": PASSWORD},
        headers={"Origin": live_shop.url},
        max_redirects=0,
    )
    assert answer.status == 303, answer.text()


def test_strangers_are_sent_to_sign_in_first(page):
    page.goto("/account/downloads")
    page.wait_for_url(re.compile(r"/login\?next=/account/downloads/?$"))
    page.goto("/account/orders")
    page.wait_for_url(re.compile(r"/login\?next=/account/orders/?$"))


def test_a_customer_sees_the_order_and_downloads_the_file(page, browser, live_shop: LiveShop):
    # given a signed-in customer with a paid order of a product with a file
    email, name, number = _customer_with_a_purchase(live_shop)
    _sign_in(page, live_shop, email)

    # when they open their orders
    page.goto("/account/orders")
    # then the order is listed with its date, status and total
    row = page.get_by_role("row").filter(has_text=number)
    row.wait_for()
    assert "Paid" in row.inner_text()
    assert "$22.60 CAD" in row.inner_text()
    page.screenshot(path=str(OUTPUT_DIR / "account-orders.png"), full_page=True)

    # when they open it, then they see the item, the tax line, the total and the receipt link
    page.get_by_role("link", name=f"View order {number}").click()
    page.wait_for_url(re.compile(f"/account/orders/{number}/?$"))
    page.get_by_role("heading", name=f"Order {number}").wait_for()
    assert page.get_by_role("row").filter(has_text=name).count() == 1
    assert "HST 13% (ON)" in page.get_by_role("row").filter(has_text="HST").inner_text()
    receipt = page.get_by_role("link", name="View receipt")
    assert receipt.get_attribute("href") == f"/account/orders/{number}/receipt"
    page.screenshot(path=str(OUTPUT_DIR / "account-order.png"), full_page=True)

    # when they open their downloads
    page.get_by_role("link", name="Your downloads").click()
    page.wait_for_url(re.compile("/account/downloads/?$"))
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=name))
    card.wait_for()
    # then the file is there with its expiry and five downloads left
    assert "5 of 5" in card.inner_text()
    assert "available until" in card.inner_text().lower()
    page.screenshot(path=str(OUTPUT_DIR / "account-downloads.png"), full_page=True)

    # when they press "Download"
    with page.expect_download() as download_info:
        card.get_by_role("button", name="Download").click()
    download = download_info.value
    # then the browser saves the exact file under its own name
    assert download.suggested_filename.startswith("boreal-field-guide-")
    assert Path(download.path()).read_bytes() == FILE_BYTES
    # and the same link, opened in a browser that is not signed in, serves nothing
    stranger = browser.new_context(base_url=live_shop.url)
    try:
        refused = stranger.request.get(download.url)
        assert refused.status == 401
        assert refused.json()["error"]["code"] == "unauthorized"
    finally:
        stranger.close()

    # and the page then shows one download fewer, without being reloaded
    expect(card).to_contain_text("4 of 5", timeout=15_000)
    assert not [e for e in page.problems.console_errors if "CSP violation" in e]


def test_another_customers_order_is_not_found(page, live_shop: LiveShop):
    # given two customers, the first with an order
    _, _, number = _customer_with_a_purchase(live_shop)
    other, _, _ = _customer_with_a_purchase(live_shop)
    # when the second opens the first one's order by its number
    _sign_in(page, live_shop, other)
    page.goto(f"/account/orders/{number}")
    # then it is not found, exactly like a number that does not exist
    page.get_by_text("We could not find this order in your account.").wait_for()
    assert page.get_by_role("link", name="View receipt").count() == 0
