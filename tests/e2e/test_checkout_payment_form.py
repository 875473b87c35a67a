"""The payment step in a real browser when things happen around it: Stripe.js loading slowly
while the customer picks a province, and an order replaced by the customer's other tab."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from shop import db
from shop.models import Order, Product, User
from shop.services import checkout, orders, payments
from shop.settings import get_settings
from tests.e2e.conftest import LiveShop
from tests.e2e.test_checkout import (
    _add_to_cart,
    _checkout_in_ontario,
    _customer,
    _database_url,
    _fill_card,
    _sign_in,
    _two_products,
)

pytestmark = pytest.mark.browser

# Holds back the first script whose address names Stripe for 2.5 s, as a slow network would.
SLOW_STRIPE_JS = """
(() => {
  const append = Node.prototype.appendChild;
  let delayed = false;
  Node.prototype.appendChild = function (child) {
    if (!delayed && child && child.tagName === "SCRIPT" && /stripe/i.test(child.src || "")) {
      delayed = true;
      setTimeout(() => append.call(this, child), 2500);
      return child;
    }
    return append.call(this, child);
  };
})();
"""


def test_a_slow_payment_form_is_mounted_once_and_pays(page, live_shop: LiveShop):
    # given a customer at checkout whose browser loads Stripe.js slowly
    email = _customer(live_shop)
    product = _two_products(live_shop)[0]
    _sign_in(page, email)
    _add_to_cart(page, product["slug"])
    page.add_init_script(SLOW_STRIPE_JS)

    # when they go to checkout and choose their province while the payment form still loads
    _checkout_in_ontario(page, None)
    page.get_by_label("Card number").first.wait_for(timeout=15_000)
    page.wait_for_timeout(1000)

    # then there is one card form, and paying with it works
    assert page.get_by_label("Card number").count() == 1
    _fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay").click()
    page.get_by_role("heading", name="Payment received").wait_for(timeout=30_000)


def test_an_order_replaced_in_another_tab_says_so_and_the_next_pay_starts_afresh(
    page, live_shop: LiveShop
):
    # given a customer whose first tab started paying for the last copy (card declined)
    email = _customer(live_shop)
    product = _two_products(live_shop)[1]
    before = _stock(live_shop, product["id"], 1)
    try:
        _sign_in(page, email)
        _add_to_cart(page, product["slug"])
        _checkout_in_ontario(page, None)
        _fill_card(page, "4000 0000 0000 0002")
        page.get_by_role("button", name="Pay").click()
        message = page.locator("#payment-message")
        message.filter(has_text=re.compile("declined", re.I)).wait_for(timeout=30_000)

        # when a second tab starts its own payment for it (which replaces the first tab's order)
        second = page.context.new_page()
        _checkout_in_ontario(second, None)
        _fill_card(second, "4000 0000 0000 0002")
        second.get_by_role("button", name="Pay").click()
        second.locator("#payment-message").filter(has_text=re.compile("declined", re.I)).wait_for(
            timeout=30_000
        )
        # and the first tab tries again with a good card
        _fill_card(page, "4242 4242 4242 4242")
        page.get_by_role("button", name="Pay").click()

        # then the first tab is told its order was replaced, and nothing was charged for it
        message.filter(has_text=checkout.REPLACED.message).wait_for(timeout=30_000)
        assert _orders_of(live_shop, email) == ["canceled", "failed"]

        # and when it pays once more, a new order is placed (replacing the second tab's) and paid
        page.get_by_role("button", name="Pay").click()
        page.get_by_role("heading", name="Payment received").wait_for(timeout=30_000)
        assert _orders_of(live_shop, email) == ["canceled", "canceled", "paid"]
    finally:
        # Later tests buy the same demo products: it must not stay sold out.
        _stock(live_shop, product["id"], before)


def _orders_of(live_shop: LiveShop, email: str) -> list[str]:
    with db.session_scope(_database_url(live_shop)) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        rows = session.exec(
            select(Order).where(Order.user_id == user.id).order_by(Order.id)  # type: ignore[arg-type]
        ).all()
        return [order.status for order in rows]


def test_a_product_sold_out_since_it_was_added_is_named_in_the_checkout_summary(
    page, live_shop: LiveShop
):
    # given a customer with a product in the cart, which then sells out
    email = _customer(live_shop)
    product = _two_products(live_shop)[0]
    _sign_in(page, email)
    _add_to_cart(page, product["slug"])
    before = _stock(live_shop, product["id"], 0)
    try:
        # when they open the checkout
        page.goto("/checkout")

        # then the order summary names the line that cannot be bought, and Pay is not offered
        summary = page.get_by_role("region", name="Order summary")
        expect(summary.get_by_text(f"{product['name']} is sold out.")).to_be_visible()
        expect(page.get_by_role("button", name="Pay")).to_be_disabled()
        # and no subtotal of the other lines alone is shown as if it were the order's
        expect(page.get_by_role("definition").filter(has_text="$0.00")).to_have_count(0)
        expect(page.get_by_role("term").filter(has_text="Subtotal")).to_have_count(0)
    finally:
        _stock(live_shop, product["id"], before)


def _stock(live_shop: LiveShop, product_id: int, count: int | None) -> int | None:
    """Set a product's stock; the stock it had."""
    with db.session_scope(_database_url(live_shop)) as session:
        product = session.get(Product, product_id)
        assert product is not None
        before = product.inventory_count
        product.inventory_count = count
        session.add(product)
        return before


def test_a_copy_held_by_another_checkout_can_be_checked_again_once_the_hold_expires(
    page, live_shop: LiveShop
):
    # given the last copy of a product in another customer's unpaid order
    email, other = _customer(live_shop), _customer(live_shop)
    product = _two_products(live_shop)[1]
    before = _stock(live_shop, product["id"], 1)
    held = _unpaid_order(live_shop, other, product["id"])
    try:
        _sign_in(page, email)
        _add_to_cart(page, product["slug"])

        # when the customer checks out
        page.goto("/cart")
        page.get_by_role("button", name="Checkout").click()
        page.get_by_label("Country").select_option("CA")
        page.get_by_label("Province").select_option(label="Ontario")

        # then they are told to try again later, and cannot pay yet
        wait = f"The last copy of {product['name']} is in another customer's checkout"
        expect(page.get_by_role("status").filter(has_text=wait)).to_be_visible()
        expect(page.get_by_role("button", name="Pay")).to_be_disabled()

        # when they check again before the hold expires, then they are told nothing changed
        page.get_by_role("button", name="Check again").click()
        expect(
            page.get_by_role("status").filter(has_text="nothing has changed yet")
        ).to_be_visible()
        expect(page.get_by_role("button", name="Pay")).to_be_disabled()

        # when the other checkout's hold expires and they check again
        _backdate(live_shop, held, minutes=get_settings().checkout_hold_minutes + 1)
        page.get_by_role("button", name="Check again").click()

        # then the totals are shown and Pay is offered, with the keyboard focus on it
        expect(page.get_by_text("HST 13%")).to_be_visible()
        expect(page.get_by_role("button", name="Pay")).to_be_enabled()
        expect(page.get_by_role("button", name="Check again")).to_have_count(0)
        expect(page.get_by_role("button", name="Pay")).to_be_focused()
    finally:
        with db.session_scope(_database_url(live_shop)) as session:
            payments.cancel_unstarted_order(session=session, order_id=held, reason="test over")
        _stock(live_shop, product["id"], before)


def _unpaid_order(live_shop: LiveShop, email: str, product_id: int) -> int:
    with db.session_scope(_database_url(live_shop)) as session:
        buyer = session.exec(select(User).where(User.email == email)).one()
        order = orders.place_order(
            session=session,
            buyer_id=buyer.id,  # type: ignore[arg-type]
            items=[orders.LineRequest(product_id, 1)],
            billing=orders.Billing(country="CA", region="ON"),
        )
        assert order.id is not None
        return order.id


def _backdate(live_shop: LiveShop, order_id: int, *, minutes: int) -> None:
    with db.session_scope(_database_url(live_shop)) as session:
        order = session.get(Order, order_id)
        assert order is not None
        order.created_at = order.created_at - timedelta(minutes=minutes)
        session.add(order)


def test_a_session_ended_in_another_tab_sends_the_checkout_to_sign_in(page, live_shop: LiveShop):
    # given a customer on the checkout page, ready to pay
    email = _customer(live_shop)
    product = _two_products(live_shop)[0]
    _sign_in(page, email)
    _add_to_cart(page, product["slug"])
    _checkout_in_ontario(page, None)

    # when they sign out in another tab
    other = page.context.new_page()
    other.goto("/")
    other.get_by_role("button", name="Sign out").first.click()
    other.get_by_role("link", name="Sign in").first.wait_for()
    other.close()

    # then changing the province on the checkout tab asks them to sign in again (and come
    # back), rather than saying the cart is empty
    page.get_by_label("Province").select_option(label="Quebec")
    page.wait_for_url(re.compile(r"/login\?next=(/|%2F)checkout$"))

    # and so does "Pay" on a checkout page that is still open in a tab signed out since
    _sign_in(page, email, "/checkout")
    page.get_by_label("Province").select_option(label="Ontario")
    page.get_by_text("HST 13%").wait_for()
    page.context.request.post(f"{live_shop.url}/api/auth/logout")
    _fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r"/login\?next=(/|%2F)checkout$"))
    assert _orders_of(live_shop, email) == []
