"""A membership in a real browser: the built shop, the Stripe sandbox beside it (its hosted
Checkout and Billing Portal pages, signed webhooks back to the shop), Chromium.

A customer opens the monthly plan, is asked to sign in and comes back, chooses Ontario and sees
HST 13 % and the total per month, pays on the sandbox's hosted Checkout page, lands on
/account/subscriptions where the membership shows up "Active" once Stripe reports it, cancels
it at the period end, resumes it, and opens the Billing Portal.
"""

from __future__ import annotations

import re
import subprocess
import sys
from itertools import count
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from shop import db
from shop.services import auth
from shop.services.money import format_money
from tests.e2e.conftest import OUTPUT_DIR, ROOT, LiveShop, shop_environment
from tests.e2e.test_accessible_names import _shared_names

pytestmark = pytest.mark.browser

PASSWORD = "a long enough test passphrase"
PLAN = "maple-club-monthly"
PLAN_NAME = "Maple Club — Monthly"
PLAN_PRICE = 900  # the demo seed's
_customers = count(1)


def _customer(live_shop: LiveShop) -> str:
    email = f"member{next(_customers)}@example.com"
    with db.session_scope(f"sqlite:///{live_shop.data_dir / 'shop.sqlite3'}") as session:
        auth.create_user(
            session=session,
            email=email,
            password=PASSWORD,
            roles=("customer",),
            email_verified=True,
        )
    return email


def _sync_plan_with_stripe(live_shop: LiveShop, slug: str) -> None:
    """Push the seeded plan to the sandbox (Product and Price), as the catalog-sync job does a
    few seconds after start-up (the live shop runs without its jobs)."""
    port = urlparse(live_shop.url).port or 0
    env = {**shop_environment(live_shop.data_dir, port), "STRIPE_API_BASE": live_shop.sandbox_url}
    code = (
        "from sqlmodel import select\n"
        "from shop.db import session_scope\n"
        "from shop.models import Product\n"
        "from shop.services import catalog_sync\n"
        "with session_scope() as session:\n"
        f"    product = session.exec(select(Product).where(Product.slug == {slug!r})).one()\n"
        "    print(catalog_sync.sync_product(session=session, product_id=product.id).status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip().endswith("synced"), done.stdout + done.stderr


def _pay_on_hosted_checkout(page, email: str) -> None:
    """The sandbox's hosted Checkout page: its labelled fields and its "Subscribe" button."""
    page.get_by_role("heading", name="Checkout").wait_for()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name on card").fill("Test Member")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiration date").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Subscribe").click()


def test_a_customer_subscribes_cancels_resumes_and_manages_billing(page, live_shop):
    # given a customer and the monthly plan of the demo catalog, set up with Stripe
    email = _customer(live_shop)
    _sync_plan_with_stripe(live_shop, PLAN)
    hst = 117  # 13 % of $9.00
    # when, not signed in yet, they open the plan and click "Subscribe"
    page.goto(f"/products/{PLAN}")
    facts = page.locator(".product-facts")
    expect(facts).to_contain_text("while it lasts")
    expect(facts).to_contain_text("Cancel any time")
    page.get_by_role("link", name="Subscribe").click()
    # then they are asked to sign in, and come back to the plan's subscribe page
    page.wait_for_url(re.compile(r"/login\?next=(%2F|/)subscribe(%2F|/)" + PLAN))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"/subscribe/{PLAN}/?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Subscribe to {PLAN_NAME}")
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noindex"
    # when they choose Ontario
    page.get_by_label("Country").select_option("CA")
    page.get_by_label("Province").select_option(label="Ontario")
    # then HST 13 % and the total per month are the server's
    totals = page.get_by_label("Totals")
    expect(totals).to_contain_text("HST 13%")
    expect(totals).to_contain_text(format_money(hst, "cad"))
    expect(totals).to_contain_text(format_money(PLAN_PRICE + hst, "cad"))
    expect(page.get_by_role("alert")).to_have_count(0)
    assert _shared_names(page) == []
    page.screenshot(path=str(OUTPUT_DIR / "subscribe-ontario.png"), full_page=True)
    # when they continue to payment, they are on Stripe's (the sandbox's) Checkout page
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(re.compile(re.escape(live_shop.sandbox_url) + r"/_sandbox/checkout/"))
    # and when they pay there with the test card
    _pay_on_hosted_checkout(page, email)
    # then Stripe brings them back to their subscriptions, which thank them
    page.wait_for_url(re.compile(r"/account/subscriptions/?\?checkout=cs_"), timeout=30_000)
    expect(page.get_by_role("status").filter(has_text="Thanks")).to_have_text(
        "Thanks — your membership starts as soon as Stripe confirms the payment."
    )
    # and once Stripe has reported it, the membership is there, active, renewing
    card = page.locator(".acct-dl").filter(has_text=PLAN_NAME)
    expect(card).to_contain_text("Active", timeout=60_000)
    expect(card).to_contain_text(re.compile(r"Renews on \d{1,2} \w{3} \d{4}"))
    expect(card).to_contain_text("$9.00 CAD per month")
    expect(page.get_by_text("Waiting for Stripe")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your subscriptions")
    assert _shared_names(page) == []
    # and the first month was charged with Ontario's HST: an order of $10.17
    expect(page.get_by_role("link", name="Orders")).to_be_visible()
    page.get_by_role("link", name="Orders").click()
    expect(page.locator("main")).to_contain_text(format_money(PLAN_PRICE + hst, "cad"))
    page.go_back()
    card = page.locator(".acct-dl").filter(has_text=PLAN_NAME)
    expect(card).to_contain_text("Active")
    page.screenshot(path=str(OUTPUT_DIR / "subscriptions-active.png"), full_page=True)
    # when they cancel it, confirming that it ends at the period end
    card.get_by_role("button", name="Cancel subscription").click()
    card.get_by_role("button", name="Yes, cancel at period end").click()
    # then it ends on the last day paid for, and can be resumed
    expect(card).to_contain_text(re.compile(r"Ends on \d{1,2} \w{3} \d{4}"))
    expect(card).to_contain_text("Active")
    expect(page.get_by_role("status")).to_contain_text("You keep access until then")
    # when they resume it, it renews again
    card.get_by_role("button", name="Resume").click()
    expect(card).to_contain_text(re.compile(r"Renews on \d{1,2} \w{3} \d{4}"))
    expect(card.get_by_role("button", name="Cancel subscription")).to_be_visible()
    # when they open "Manage billing", they are on Stripe's Billing Portal for their account
    page.get_by_role("button", name="Manage billing").click()
    page.wait_for_url(re.compile(re.escape(live_shop.sandbox_url) + r"/_sandbox/portal/"))
    expect(page.get_by_role("heading", name="Your subscriptions")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Renews on")
    # and its link brings them back to the shop
    page.get_by_role("link", name="Return to the shop").click()
    page.wait_for_url(re.compile(r"/account/subscriptions/?$"))
    expect(page.locator(".acct-dl").filter(has_text=PLAN_NAME)).to_contain_text("Active")
    # and the yearly plan of the same membership is refused them, with the way to their list
    page.goto("/subscribe/maple-club-yearly")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"You already subscribe to {PLAN_NAME}.")
    expect(page.get_by_role("button", name="Continue to payment")).to_be_disabled()
    alert.get_by_role("link", name="Your subscriptions").click()
    page.wait_for_url(re.compile(r"/account/subscriptions/?$"))
    assert [e for e in page.problems.console_errors if "CSP" in e] == []


def test_quebec_taxes_and_the_way_back_from_a_canceled_checkout(page, live_shop):
    # given a customer without a membership on the yearly plan's subscribe page
    email = _customer(live_shop)
    _sync_plan_with_stripe(live_shop, "maple-club-yearly")
    page.goto("/login?next=/subscribe/maple-club-yearly")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/subscribe/maple-club-yearly/?$"))
    # when they choose Quebec, then GST and QST, and the way on
    page.get_by_label("Province").select_option(label="Quebec")
    totals = page.get_by_label("Totals")
    expect(totals).to_contain_text("GST 5%")
    expect(totals).to_contain_text("QST 9.975%")
    expect(page.get_by_role("button", name="Continue to payment")).to_be_enabled()
    # when Stripe Checkout sends them back canceled, their (empty) list says nothing was
    # charged and leads to the memberships
    page.goto("/account/subscriptions?checkout=canceled")
    expect(page.get_by_role("status")).to_have_text("Checkout was canceled; nothing was charged.")
    expect(page.get_by_role("link", name="See the memberships")).to_be_visible()
    expect(page.get_by_role("button", name="Manage billing")).to_have_count(0)
    expect(
        page.get_by_role("navigation", name="Your account").get_by_role(
            "link", name="Subscriptions"
        )
    ).to_have_attribute("aria-current", "page")
