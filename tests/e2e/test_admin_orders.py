"""Staff order management in a real browser: find an order, refund part of it, run
reconciliation from its page."""

from __future__ import annotations

import re
from itertools import count

import httpx
import pytest
from playwright.sync_api import Page, expect

from shop import db
from shop.services import auth
from tests.e2e.conftest import OUTPUT_DIR, LiveShop

pytestmark = pytest.mark.browser

PASSWORD = "refunds are part of selling"
_people = count(1)


def _database_url(live_shop: LiveShop) -> str:
    return f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}"


def _account(live_shop: LiveShop, role: str) -> str:
    address = f"{role}-orders{next(_people)}@example.com"
    with db.session_scope(_database_url(live_shop)) as session:
        auth.create_user(
            session=session, email=address, password=PASSWORD, roles=(role,), email_verified=True
        )
    return address


def _paid_order(live_shop: LiveShop) -> dict:
    """A customer buys one seeded product through the API and pays with pm_card_visa."""
    buyer = _account(live_shop, "customer")
    with httpx.Client(base_url=live_shop.url, timeout=60) as client:
        login = client.post("/api/auth/login", json={"email": buyer, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        products = client.get("/api/products", params={"limit": 50}).json()["items"]
        product = next(p for p in products if p["kind"] == "one_time")
        started = client.post(
            "/api/payments/intent",
            json={
                "items": [{"product_id": product["id"], "quantity": 1}],
                "billing": {"country": "CA", "region": "ON"},
            },
            headers=headers,
        )
        assert started.status_code == 201, started.text
        body = started.json()
        paid = client.post(
            "/api/payments/confirm",
            json={"payment_intent_id": body["payment_intent_id"], "payment_method": "pm_card_visa"},
            headers=headers,
        )
        assert paid.json()["status"] == "paid", paid.text
    return {**body, "buyer": buyer}


def _sign_in(page: Page, address: str, next_path: str) -> None:
    page.goto(f"/login?next={next_path}")
    # The form carries `next` once the page's state has read it from the address; sent
    # sooner, the sign-in lands on /account (seen in full runs on a busy machine).
    expect(page.locator('input[name="next"]')).to_have_value(next_path)
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(next_path) + r"/?$"))


def test_the_admin_finds_an_order_and_refunds_part_of_it(page: Page, live_shop: LiveShop):
    # given a paid order and an admin signed in on the orders page
    order = _paid_order(live_shop)
    admin = _account(live_shop, "admin")
    _sign_in(page, admin, "/admin/orders")

    # when they search the buyer's email and open the order
    page.get_by_label("Search").fill(order["buyer"])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=order["order_number"]).click()

    # then the order shows its payment timeline and a refund form
    expect(page.get_by_role("heading", name=f"Order {order['order_number']}")).to_be_visible()
    expect(page.get_by_role("table", name="Payment timeline")).to_contain_text(
        "payment_intent.succeeded", timeout=15_000
    )

    # when they refund $5.00 with a reason
    page.get_by_label("Amount").fill("5.00")
    page.get_by_label("Reason").fill("Late delivery")
    page.get_by_role("button", name="Refund", exact=True).click()

    # then the page confirms it, the order is partially refunded and the refund listed
    expect(page.get_by_role("status").filter(has_text="Refunded")).to_have_text(
        "Refunded $5.00 CAD."
    )
    expect(page.locator(".admin-facts")).to_contain_text("Partially refunded")
    expect(page.get_by_role("table", name="Refunds")).to_contain_text("Late delivery")
    page.screenshot(path=str(OUTPUT_DIR / "admin-order-refund.png"), full_page=True)

    # when they ask for more than is left, then the form explains it and nothing changes
    page.get_by_label("Amount").fill("9999")
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("left to refund")
    assert page.problems.console_errors == []


def test_a_support_agent_sees_orders_but_not_reconciliation(page: Page, live_shop: LiveShop):
    support = _account(live_shop, "support")
    _sign_in(page, support, "/admin/orders")
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    page.goto("/admin/reconciliation")
    expect(page.get_by_role("alert")).to_contain_text("not allowed")


def test_the_admin_runs_reconciliation_from_its_page(page: Page, live_shop: LiveShop):
    admin = _account(live_shop, "admin")
    _sign_in(page, admin, "/admin/reconciliation")
    expect(page.get_by_text("Webhook backlog")).to_be_visible()
    page.get_by_role("button", name="Run reconciliation now").click()
    expect(page.get_by_role("status").filter(has_text="Reconciliation")).to_contain_text(
        "Reconciliation done"
    )
    expect(page.get_by_role("table", name="Recent runs")).to_contain_text("manual")
    assert page.problems.console_errors == []


def test_the_order_page_heading_never_says_undefined_and_sign_in_comes_back(
    page: Page, live_shop: LiveShop
):
    # given a paid order
    number = _paid_order(live_shop)["order_number"]

    # when a visitor without a session opens its staff page
    page.goto(f"/admin/orders/{number}")

    # then the heading is plain "Order" and the sign-in link comes back to this page
    expect(page.get_by_role("alert")).to_contain_text("Please sign in with a staff account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Order")
    sign_in = page.get_by_role("link", name="Go to the sign-in page")
    expect(sign_in).to_have_attribute("href", f"/login?next=%2Fadmin%2Forders%2F{number}")

    # when an admin follows it and signs in
    admin = _account(live_shop, "admin")
    sign_in.click()
    expect(page.locator('input[name="next"]')).to_have_value(f"/admin/orders/{number}")
    page.get_by_label("Email", exact=True).fill(admin)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # then they are on the order's page, its heading naming it
    expect(page).to_have_url(re.compile(re.escape(f"/admin/orders/{number}") + "/?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")

    # and an order that does not exist is "Order not found"
    page.goto("/admin/orders/ORD-NOPE-NOPE")
    expect(page.get_by_text("There is no such order.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Order not found")
    expect(page.locator("body")).not_to_contain_text("undefined")
