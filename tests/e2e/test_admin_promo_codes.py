"""Promo codes in a real browser: the admin creates one, sees it mirrored, withdraws and
restores it; a bad definition is refused in place."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import OUTPUT_DIR, LiveShop, create_account
from tests.e2e.test_admin_products import _sign_in

pytestmark = pytest.mark.browser


def test_admin_creates_withdraws_and_restores_a_promo_code(page: Page, live_shop: LiveShop):
    # given an admin on the promo codes page
    email = f"codes-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, "admin"), "/admin/promo-codes")
    code = f"E2E{secrets.token_hex(3).upper()}"

    # when they give both a percentage and an amount, they are told to choose
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_label("Percent off").fill("10")
    page.get_by_label("Amount off").fill("5.00")
    page.get_by_role("button", name="Create promo code").click()
    expect(page.get_by_text("Give either a percentage or an amount off")).to_be_visible()

    # when they create a 10 % code for five uses
    page.get_by_label("Amount off").fill("")
    page.get_by_label("Redemption limit").fill("5")
    page.get_by_role("button", name="Create promo code").click()

    # then it is listed with its discount, conditions and uses, mirrored to Stripe
    expect(
        page.get_by_role("status").filter(has_text=f"Promo code {code} created.")
    ).to_be_visible()
    row = page.get_by_role("table", name="Promo codes").get_by_role("row").filter(has_text=code)
    expect(row).to_contain_text("10% off")
    expect(row).to_contain_text("once per customer")
    expect(row).to_contain_text("0 of 5")
    expect(row).to_contain_text("Mirrored")
    page.screenshot(path=str(OUTPUT_DIR / "admin-promo-codes.png"), full_page=True)

    # when they withdraw it, checkout stops taking it
    page.get_by_role("button", name=f"Withdraw {code}").click()
    expect(
        page.get_by_role("status").filter(has_text=f"Promo code {code} withdrawn")
    ).to_be_visible()
    expect(row).to_contain_text("Withdrawn")
    listed = page.request.get("/api/admin/promo-codes").json()
    assert [c["is_active"] for c in listed if c["code"] == code] == [False]

    # when they restore it, it is active again
    page.get_by_role("button", name=f"Restore {code}").click()
    expect(
        page.get_by_role("status").filter(has_text=f"Promo code {code} restored")
    ).to_be_visible()
    expect(row).to_contain_text("Active")


def test_a_customer_is_not_allowed_on_the_promo_codes_page(page: Page, live_shop: LiveShop):
    # given a signed-in customer
    email = f"nosy-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, None), "/account")

    # when they open the promo codes page, they are turned away and see no codes
    page.goto("/admin/promo-codes")
    expect(page.get_by_role("alert")).to_contain_text("not allowed")
    expect(page.get_by_role("table", name="Promo codes")).to_have_count(0)
    assert page.request.get("/api/admin/promo-codes").status == 403


def test_the_code_box_is_the_only_thing_labelled_code(page: Page, live_shop: LiveShop):
    # given an admin on the promo codes page, with a code already listed (its table shown)
    email = f"labels-{secrets.token_hex(3)}@example.com"
    _sign_in(page, email, create_account(live_shop, email, "admin"), "/admin/promo-codes")
    first = f"CODE{secrets.token_hex(3).upper()}"
    page.get_by_label("Code").fill(first)
    page.get_by_label("Percent off").fill("5")
    page.get_by_role("button", name="Create promo code").click()
    expect(page.get_by_role("table", name="Promo codes")).to_contain_text(first)

    # then "Code" finds the Code box alone, not the form, the table or a button naming a code
    expect(page.get_by_label("Code")).to_have_count(1)
    expect(page.get_by_role("form", name="New discount")).to_be_visible()
    expect(page.get_by_role("button", name=f"Withdraw {first}")).to_be_visible()
    # and a second code can be created by that label
    second = f"E2E{secrets.token_hex(3).upper()}"
    page.get_by_label("Code").fill(second)
    page.get_by_label("Percent off").fill("5")
    page.get_by_role("button", name="Create promo code").click()
    expect(page.get_by_role("table", name="Promo codes")).to_contain_text(second)
