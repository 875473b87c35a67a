"""Checkout in a real browser: the built shop, the Stripe sandbox beside it (its stripe.js
stand-in renders the Payment Element and delivers signed webhooks to the shop), Chromium.

A customer signs in, adds two products, chooses Ontario, applies a promo code, pays with the
test card 4242 4242 4242 4242 and sees "Payment received" with the total the tax rules give;
a declined card (4000 0000 0000 0002) is refused in place and the order stays payable.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from itertools import count
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from sqlmodel import select

from shop import db
from shop.models import Order
from shop.services import auth, promo_codes
from shop.services.money import format_money
from tests.e2e.conftest import OUTPUT_DIR, LiveShop
from tests.e2e.test_admin_orders import PASSWORD as BUYER_PASSWORD
from tests.e2e.test_admin_orders import _paid_order

pytestmark = pytest.mark.browser

PASSWORD = "a long enough test passphrase"
_customers = count(1)


def _database_url(live_shop: LiveShop) -> str:
    return f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}"


def _customer(live_shop: LiveShop, roles: tuple[str, ...] = ("customer",)) -> str:
    email = f"checkout{next(_customers)}@example.com"
    with db.session_scope(_database_url(live_shop)) as session:
        auth.create_user(
            session=session,
            email=email,
            password=PASSWORD,
            roles=roles,
            email_verified=True,
        )
    return email


def _promo_code(live_shop: LiveShop, code: str, amount_off: int) -> None:
    with db.session_scope(_database_url(live_shop)) as session:
        promo_codes.create_promo_code(
            session=session, code=code, amount_off=amount_off, currency="cad"
        )


def _two_products(live_shop: LiveShop) -> list[dict]:
    """Two one-time products of the seeded catalog that are in stock."""
    items = httpx.get(f"{live_shop.url}/api/products", params={"limit": 50}).json()["items"]
    chosen = [p for p in items if p["kind"] == "one_time" and p["price"]["amount"] >= 500][:2]
    assert len(chosen) == 2, items
    return chosen


def _sign_in(page, email: str, next_path: str = "/") -> None:
    page.goto(f"/login?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(next_path) + r"$"))


def _add_to_cart(page, slug: str) -> None:
    page.goto(f"/products/{slug}")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_text("Added to your cart").wait_for()


def _fill_card(page, number: str) -> None:
    # The names issue 3 gives the stand-in's inputs, exactly.
    page.get_by_label("Card number", exact=True).fill(number)
    page.get_by_label("Expiration date", exact=True).fill("12 / 34")
    page.get_by_label("CVC", exact=True).fill("123")


def _hst(amount: int) -> int:
    return int((Decimal(amount) * Decimal("0.13")).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _checkout_in_ontario(page, promo: str | None) -> None:
    page.goto("/cart")
    page.get_by_role("button", name="Checkout").click()
    page.wait_for_url(re.compile(r"/checkout$"))
    page.get_by_label("Country").select_option("CA")
    page.get_by_label("Province").select_option(label="Ontario")
    page.get_by_text("HST 13%").wait_for()
    if promo:
        page.get_by_label("Promo code").fill(promo)
        page.get_by_role("button", name="Apply").click()
        page.get_by_text(f"Code {promo} applied").wait_for()


def test_customer_pays_for_two_products_with_a_promo_code_in_ontario(page, live_shop):
    # given a customer, two products and a $5.00 promo code
    email = _customer(live_shop)
    first, second = _two_products(live_shop)
    _promo_code(live_shop, "TAKE5", 500)
    subtotal = first["price"]["amount"] + second["price"]["amount"]
    expected_total = subtotal - 500 + _hst(subtotal - 500)
    # when, not signed in yet, they add both products to the cart
    _add_to_cart(page, first["slug"])
    _add_to_cart(page, second["slug"])
    # then the header counts two items and the cart lists both
    page.get_by_role("link", name=re.compile(r"Cart, 2 items")).wait_for()
    # and it is the one link named "Cart" on the page, which leads to the cart
    page.get_by_role("link", name="Cart").click()
    page.wait_for_url(re.compile(r"/cart/?$"))
    page.get_by_role("link", name=first["name"]).wait_for()
    page.get_by_role("link", name=second["name"]).wait_for()
    # when they go to checkout, checkout asks them to sign in first, then comes back
    page.get_by_role("button", name="Checkout").click()
    page.wait_for_url(re.compile(r"/login\?next=%2Fcheckout|/login\?next=/checkout"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/checkout$"))
    # and the anonymous cart has become theirs
    summary = page.get_by_label("Order summary")
    summary.get_by_text(first["name"]).wait_for()
    assert second["name"] in summary.inner_text()
    # when they choose Ontario and try an unknown code, then a good one
    page.get_by_label("Country").select_option("CA")
    page.get_by_label("Province").select_option(label="Ontario")
    page.get_by_text("HST 13%").wait_for()
    page.get_by_label("Promo code").fill("NOSUCHCODE")
    page.get_by_role("button", name="Apply").click()
    # (the one alert on the page: the payment form's message box is hidden while empty)
    expect(page.get_by_role("alert")).to_have_text("The promo code NOSUCHCODE is not valid.")
    page.get_by_label("Promo code").fill("TAKE5")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Code TAKE5 applied").wait_for()
    # then the totals shown are the server's: discount, HST 13 %, total
    totals = page.get_by_label("Totals")
    assert format_money(-500, "cad") in totals.inner_text()
    assert format_money(_hst(subtotal - 500), "cad") in totals.inner_text()
    assert format_money(expected_total, "cad") in totals.inner_text()
    # when they pay with the test card in the payment form
    _fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay").click()
    # then "Payment received" with the order's total, at /checkout/success?order=…
    page.get_by_role("heading", name="Payment received").wait_for(timeout=30_000)
    assert re.search(r"/checkout/success\?order=\d+$", page.url), page.url
    assert format_money(expected_total, "cad") in page.locator("main").inner_text()
    page.screenshot(path=str(OUTPUT_DIR / "checkout-paid.png"), full_page=True)
    # and the order is paid at that total, and the page loaded Stripe.js without CSP trouble
    with db.session_scope(_database_url(live_shop)) as session:
        order = session.exec(select(Order).order_by(Order.id.desc())).first()  # type: ignore[union-attr]
        assert order is not None
        assert (order.status, order.total_amount) == ("paid", expected_total)
    assert [e for e in page.problems.console_errors if "CSP" in e] == []
    # when they click the first download link, then the browser downloads the file
    first_file = page.get_by_role("link", name=re.compile(rf"^Download {re.escape(first['name'])}"))
    with page.expect_download() as fetched:
        first_file.click()
    assert Path(fetched.value.path()).stat().st_size > 0
    # when they open the receipt
    page.get_by_role("link", name="Receipt").click()
    page.get_by_role("heading", name=re.compile("Receipt for order")).wait_for()
    # then it shows the HST line with the merchant's number and the total, and its PDF
    receipt = page.locator("main").inner_text()
    assert re.search(r"HST 13% \(reg\. [^)]+\)", receipt)
    assert format_money(expected_total, "cad") in receipt
    # and "Download PDF" downloads the receipt as a PDF
    with page.expect_download() as fetched:
        page.get_by_role("link", name="Download PDF").click()
    assert Path(fetched.value.path()).read_bytes().startswith(b"%PDF-")


def test_a_declined_card_is_refused_in_place_and_the_order_stays_payable(page, live_shop):
    # given a signed-in customer with a product in the cart at checkout in Ontario
    email = _customer(live_shop)
    product = _two_products(live_shop)[0]
    _sign_in(page, email)
    _add_to_cart(page, product["slug"])
    _checkout_in_ontario(page, None)
    # when they pay with a card that is declined
    _fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Pay").click()
    # then the refusal is shown on the checkout page itself
    expect(page.get_by_role("alert")).to_contain_text("declined", timeout=30_000)
    assert re.search(r"/checkout$", page.url)
    # and the order is not paid but still payable
    with db.session_scope(_database_url(live_shop)) as session:
        order = session.exec(select(Order).order_by(Order.id.desc())).first()  # type: ignore[union-attr]
        assert order is not None
        assert order.status in ("pending", "failed")
        assert order.fulfilled_at is None
    # and when they try again with a good card, the same order is paid
    _fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay").click()
    page.get_by_role("heading", name="Payment received").wait_for(timeout=30_000)
    with db.session_scope(_database_url(live_shop)) as session:
        paid = session.get(Order, order.id)
        assert paid is not None
        assert paid.status == "paid"


def test_a_code_that_pays_everything_places_the_order_without_a_card(page, live_shop):
    # given a signed-in customer with a product in the cart, and a 100 % code
    email = _customer(live_shop)
    product = _two_products(live_shop)[0]
    with db.session_scope(_database_url(live_shop)) as session:
        promo_codes.create_promo_code(session=session, code="ONTHEHOUSE", percent_off=100)
    _sign_in(page, email)
    _add_to_cart(page, product["slug"])
    # when they apply the code at checkout
    _checkout_in_ontario(page, "ONTHEHOUSE")
    # then the total is nothing, no card is asked for, and "Place order" takes the place of "Pay"
    totals = page.get_by_label("Totals")
    expect(totals).to_contain_text(format_money(0, "cad"))
    expect(totals).not_to_contain_text("HST")
    expect(page.get_by_role("button", name="Pay")).to_have_count(0)
    expect(page.get_by_label("Card number", exact=True)).to_have_count(0)
    # when they place the order
    page.get_by_role("button", name="Place order").click()
    # then it is complete and delivered: its download link is there
    page.get_by_role("heading", name="Order complete").wait_for(timeout=30_000)
    expect(
        page.get_by_role("link", name=re.compile(rf"^Download {re.escape(product['name'])}"))
    ).to_be_visible()
    with db.session_scope(_database_url(live_shop)) as session:
        order = session.exec(select(Order).order_by(Order.id.desc())).first()  # type: ignore[union-attr]
        assert order is not None
        assert (order.status, order.total_amount, order.stripe_payment_intent_id) == (
            "paid",
            0,
            None,
        )


def test_three_d_secure_is_handled_in_the_page_fail_then_pass(page, live_shop):
    # given a signed-in customer at checkout in Ontario with a card that needs 3-D Secure
    email = _customer(live_shop)
    product = _two_products(live_shop)[1]
    _sign_in(page, email)
    _add_to_cart(page, product["slug"])
    _checkout_in_ontario(page, None)
    _fill_card(page, "4000 0027 6000 3184")
    # when they pay and fail the authentication in the challenge
    page.get_by_role("button", name="Pay").click()
    challenge = page.get_by_role("dialog", name="3D Secure authentication")
    challenge.get_by_role("button", name="Fail authentication").click()
    # then the refusal is shown in place, in words for the customer, and nothing is paid
    message = page.locator("#payment-message")
    message.filter(has_text=re.compile(r"\w")).wait_for(timeout=30_000)
    assert message.inner_text() == (
        "We couldn't verify this card with your bank. Try again or use another card."
    )
    assert re.search(r"/checkout$", page.url)
    # when they pay again and complete the authentication
    page.get_by_role("button", name="Pay").click()
    challenge.get_by_role("button", name="Complete authentication").click()
    # then the payment is received
    page.get_by_role("heading", name="Payment received").wait_for(timeout=30_000)
    with db.session_scope(_database_url(live_shop)) as session:
        order = session.exec(select(Order).order_by(Order.id.desc())).first()  # type: ignore[union-attr]
        assert order is not None
        assert order.status == "paid"


def test_the_cart_changes_quantities_and_removes_lines(page, live_shop):
    # given an anonymous visitor with one product in the cart
    product = _two_products(live_shop)[0]
    _add_to_cart(page, product["slug"])
    page.goto("/cart")
    # then the header names the link in the singular
    page.get_by_role("link", name="Cart, 1 item", exact=True).wait_for()
    # when they choose a quantity of 3
    page.get_by_label(f"Quantity of {product['name']}").select_option("3")
    # then the line and the subtotal are three times the price, and the header says 3
    subtotal = format_money(3 * product["price"]["amount"], "cad")
    page.get_by_text(f"Subtotal: {subtotal}").wait_for()
    page.get_by_role("link", name=re.compile(r"Cart, 3 items")).wait_for()
    # when they remove it
    page.get_by_role("button", name=f"Remove {product['name']}").click()
    # then the cart is empty and there is nothing to check out
    page.get_by_text("Your cart is empty.").wait_for()
    page.get_by_role("link", name=re.compile(r"Cart, 0 items")).wait_for()
    assert page.get_by_role("button", name="Checkout").count() == 0


def _admin_put(live_shop: LiveShop, product_id: int, fields: dict) -> None:
    """As the admin would, through the API (so the shop's catalog caches move on)."""
    admin = _customer(live_shop, roles=("admin",))
    tokens = httpx.post(
        f"{live_shop.url}/api/auth/login", json={"email": admin, "password": PASSWORD}
    ).json()
    response = httpx.put(
        f"{live_shop.url}/api/products/{product_id}",
        json=fields,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 200, response.text


def _set_stock(live_shop: LiveShop, product_id: int, stock: int | None) -> None:
    _admin_put(live_shop, product_id, {"inventory_count": stock})


def _set_price(live_shop: LiveShop, product_id: int, amount: int) -> None:
    _admin_put(live_shop, product_id, {"price": {"amount": amount, "currency": "cad"}})


def _orders_of(live_shop: LiveShop, email: str) -> list[Order]:
    with db.session_scope(_database_url(live_shop)) as session:
        user = auth.find_user(session=session, email=email)
        assert user is not None
        return list(session.exec(select(Order).where(Order.user_id == user.id)).all())


def test_a_price_changed_while_the_page_was_open_is_shown_not_charged(page, live_shop):
    # given a signed-in customer at checkout in Ontario with a $10.00 product: $11.30 shown
    email = _customer(live_shop)
    product = _two_products(live_shop)[0]
    _set_price(live_shop, product["id"], 1000)
    try:
        _sign_in(page, email)
        _add_to_cart(page, product["slug"])
        _checkout_in_ontario(page, None)
        totals = page.get_by_label("Totals")
        assert format_money(1130, "cad") in totals.inner_text()
        # when the admin raises the price to $25.00 and then the customer pays
        _set_price(live_shop, product["id"], 2500)
        _fill_card(page, "4242 4242 4242 4242")
        page.get_by_role("button", name="Pay").click()
        # then the change is shown in place, with the new total, and nothing is charged
        message = page.locator("#payment-message")
        message.filter(has_text="The total is now").wait_for(timeout=30_000)
        assert message.get_attribute("role") == "alert"
        assert message.inner_text() == (
            f"The total is now {format_money(2825, 'cad')}, not the {format_money(1130, 'cad')} "
            "shown; check the new total and pay again."
        )
        # and the page shows the lines and totals as they are now
        page.get_by_role("region", name="Order summary").get_by_text(
            format_money(2500, "cad")
        ).wait_for()
        totals.get_by_text(format_money(2825, "cad")).wait_for()
        assert re.search(r"/checkout$", page.url)
        assert _orders_of(live_shop, email) == []
        # when they pay the new total
        pay = page.get_by_role("button", name="Pay")
        assert pay.is_enabled()
        pay.click()
        # then it is received, at the total they were shown
        page.get_by_role("heading", name="Payment received").wait_for(timeout=30_000)
        assert format_money(2825, "cad") in page.locator("main").inner_text()
        [order] = _orders_of(live_shop, email)
        assert (order.status, order.total_amount) == ("paid", 2825)
    finally:
        _set_price(live_shop, product["id"], product["price"]["amount"])


def test_a_sold_out_product_cannot_be_added(page, live_shop):
    # given a product whose stock has run out
    items = httpx.get(f"{live_shop.url}/api/products", params={"limit": 50}).json()["items"]
    product = [p for p in items if p["kind"] == "one_time"][-1]
    _set_stock(live_shop, product["id"], 0)
    try:
        # when its page is opened
        page.goto(f"/products/{product['slug']}")
        # then its "Add to cart" control is named sold out and disabled: nothing can be added
        sold_out = page.get_by_role("button", name="Sold out")
        sold_out.wait_for()
        assert sold_out.is_disabled()
        add = page.get_by_role("button", name="Add to cart")
        assert add.count() == 1
        assert add.is_disabled()
        # and "Sold out" is said once on the page, by its notice
        expect(page.get_by_text("Sold out")).to_have_count(1)
    finally:
        _set_stock(live_shop, product["id"], None)


def test_signing_in_from_the_success_page_comes_back_to_that_order(page, live_shop):
    # given a customer's paid order
    paid = _paid_order(live_shop)

    # when they open its success page signed out, they are asked to sign in
    page.goto(f"/checkout/success?order={paid['order_number']}")
    expect(page).to_have_url(re.compile(r"/login/?\?next="))
    # with the whole address (query string included) as where to go next
    expect(page.locator('input[name="next"]')).to_have_value(
        re.compile(r"^/checkout/success/?" + re.escape("?order=" + paid["order_number"]) + "$")
    )
    page.get_by_label("Email", exact=True).fill(paid["buyer"])
    page.get_by_label("Password", exact=True).fill(BUYER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # then they are back on that order's success page, which finds the order
    expect(page).to_have_url(re.compile(re.escape("?order=" + paid["order_number"]) + "$"))
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(paid["order_number"]).first).to_be_visible()
