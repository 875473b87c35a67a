"""Accounts in a real browser: sign up, sign out, sign in, the account page, the audit log."""

from __future__ import annotations

import email
import email.policy
import re
import secrets
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import OUTPUT_DIR, ROOT, LiveShop, shop_environment

pytestmark = pytest.mark.browser

PASSWORD = "maple syrup on fresh snow"


def _address(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


def _register_by_api(live_shop: LiveShop, address: str, password: str = PASSWORD) -> None:
    response = httpx.post(
        f"{live_shop.url}/api/auth/register",
        json={"email": address, "password": password},
        timeout=20,
    )
    assert response.status_code == 201, response.text


def _create_admin(live_shop: LiveShop, address: str) -> None:
    """The operator's way: `python -m shop users create … --role admin` on the shop's data."""
    port = int(urlsplit(live_shop.url).port or 0)
    subprocess.run(
        [sys.executable, "-m", "shop", "users", "create", address, "--role", "admin"]
        + ["--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        cwd=ROOT,
        env=shop_environment(live_shop.data_dir, port),
        check=True,
        timeout=120,
        capture_output=True,
    )


def _sign_in(page: Page, address: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account/?$"))


def _header(page: Page):
    return page.get_by_role("banner")


def test_register_lands_on_the_account_page_signed_in_then_sign_out(page: Page):
    address = _address("newcomer")
    # when a visitor fills in the sign-up form
    page.goto("/register")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create account")
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Name (optional)").fill("New Comer")
    page.get_by_role("button", name="Create account").click()
    # then they land on their account page, signed in
    expect(page).to_have_url(re.compile(r"/account/?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_role("region", name="Profile")).to_contain_text(address)
    expect(page.get_by_role("region", name="Profile")).to_contain_text("Not confirmed yet")
    expect(_header(page).get_by_role("button", name="Sign out")).to_be_visible()
    expect(_header(page).get_by_role("link", name="Sign in")).to_have_count(0)
    page.screenshot(path=str(OUTPUT_DIR / "account-page.png"), full_page=True)
    # when they sign out from the header
    _header(page).get_by_role("button", name="Sign out").click()
    # then they are home and the header offers to sign in again
    expect(page).to_have_url(re.compile(r"/$"))
    expect(_header(page).get_by_role("link", name="Sign in")).to_be_visible()
    expect(_header(page).get_by_role("button", name="Sign out")).to_have_count(0)
    # and the account page no longer opens: it sends them to sign in
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login/?\?next=/account/?$"))
    assert page.problems.console_errors == []
    assert page.problems.csp_violations == []


def test_a_weak_password_is_explained_on_the_sign_up_form(page: Page):
    page.goto("/register")
    page.get_by_label("Email", exact=True).fill(_address("weak"))
    page.get_by_label("Password", exact=True).fill("password1")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/register/?\?error=password_too_common"))
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("one of the most common")
    expect(_header(page).get_by_role("link", name="Sign in")).to_be_visible()


def test_a_wrong_password_shows_an_error_and_the_right_one_continues(
    page: Page, live_shop: LiveShop
):
    # given a customer
    address = _address("returning")
    _register_by_api(live_shop, address)
    # when they sign in with a wrong password on the way to the catalogue
    page.goto("/login?next=/products")
    expect(page.locator("input[name=next]")).to_have_value("/products")
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_label("Password", exact=True).fill("not the right one")
    page.get_by_role("button", name="Sign in").click()
    # then the form says so, keeps where they were going, and nobody is signed in
    expect(page).to_have_url(re.compile(r"/login/?\?error=invalid_credentials"))
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.locator("input[name=next]")).to_have_value("/products")
    expect(_header(page).get_by_role("link", name="Sign in")).to_be_visible()
    page.screenshot(path=str(OUTPUT_DIR / "login-error.png"), full_page=True)
    # when they try again with the right password
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # then they continue where they were going, signed in
    expect(page).to_have_url(re.compile(r"/products/?$"))
    expect(_header(page).get_by_role("button", name="Sign out")).to_be_visible()


def test_ending_another_session_from_the_account_page(page: Page, live_shop: LiveShop):
    # given a customer signed in here and, by the API, on another device
    address = _address("two-devices")
    _register_by_api(live_shop, address)
    other = httpx.Client(base_url=live_shop.url, headers={"User-Agent": "curl/8.5.0"})
    assert (
        other.post("/api/auth/login", json={"email": address, "password": PASSWORD}).status_code
        == 200
    )
    assert other.get("/api/auth/session").status_code == 200
    _sign_in(page, address)
    sessions = page.get_by_role("region", name="Active sessions")
    expect(sessions.get_by_role("row")).to_have_count(3)  # header + two sessions
    expect(sessions).to_contain_text("This device")
    # when they end the other session
    sessions.get_by_role("button", name=re.compile(r"^End session on curl")).click()
    # then it is gone from the list and its cookie no longer works
    expect(sessions.get_by_role("status")).to_have_text("The session is ended.")
    expect(sessions.get_by_role("row")).to_have_count(2)
    assert other.get("/api/auth/session").status_code == 401
    other.close()
    # and this browser is still signed in
    page.reload()
    expect(page.get_by_role("region", name="Profile")).to_contain_text(address)


def test_a_customer_is_refused_the_audit_log(page: Page, live_shop: LiveShop):
    address = _address("curious")
    _register_by_api(live_shop, address)
    _sign_in(page, address)
    # when a customer opens the audit log by its address
    page.goto("/admin/audit")
    # then they are told no, and no entry (not even their own sign-in) is on the page
    expect(page.get_by_role("alert")).to_have_text("Your account is not allowed to see this page.")
    expect(page.get_by_role("table")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Administration")).to_have_count(0)
    assert "auth.sign_in" not in page.content()
    assert address not in page.locator("main").inner_text()


def test_the_admin_reads_and_filters_the_audit_log(page: Page, live_shop: LiveShop):
    # given an owner, and a customer who failed to sign in once
    admin = _address("owner")
    _create_admin(live_shop, admin)
    customer = _address("typo")
    _register_by_api(live_shop, customer)
    httpx.post(
        f"{live_shop.url}/api/auth/login",
        json={"email": customer, "password": "wrong password here"},
        timeout=20,
    )
    # when the owner opens the audit log
    _sign_in(page, admin)
    page.goto("/admin/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    table = page.get_by_role("table")
    # then the newest entries are listed, their own sign-in first
    first_row = table.get_by_role("row").nth(1)
    expect(first_row).to_contain_text("auth.sign_in")
    expect(first_row).to_contain_text(admin)
    expect(table).to_contain_text("auth.sign_in_failed")
    page.screenshot(path=str(OUTPUT_DIR / "admin-audit.png"), full_page=True)
    # when they filter by the customer's failed sign-ins
    page.get_by_label("Action", exact=True).select_option("auth.sign_in_failed")
    page.get_by_label("Actor email").fill(customer)
    page.get_by_role("button", name="Filter").click()
    # then exactly that entry is left, and the filter is in the address
    expect(page).to_have_url(re.compile(r"action=auth.sign_in_failed"))
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("row").nth(1)).to_contain_text(customer)
    # when the date range excludes today, then nothing matches
    page.goto("/admin/audit?until=2000-01-01")
    expect(page.get_by_text("No entries match these filters.")).to_be_visible()
    assert page.problems.console_errors == []


def _link_from_outbox(live_shop: LiveShop, address: str, path: str) -> str:
    """The newest `path?token=…` link mailed to `address` (the outbox holds .eml files)."""
    for eml in sorted((live_shop.data_dir / "outbox").glob("*.eml"), reverse=True):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        if message["To"] != address:
            continue
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        match = re.search(
            rf"https?://[^/\s]+({re.escape(path)}\?token=[\w\-]+)", body.get_content()
        )
        if match:
            return match.group(1)
    raise AssertionError(f"no {path} link mailed to {address}")


def test_confirming_the_email_and_resetting_a_forgotten_password(page: Page, live_shop: LiveShop):
    # given a new customer who has not confirmed their address yet
    address = _address("forgetful")
    _register_by_api(live_shop, address)
    # when they open the confirmation link from their email
    page.goto(_link_from_outbox(live_shop, address, "/verify-email"))
    # then the address is confirmed
    expect(page.get_by_role("status").filter(has_text="confirmed")).to_have_text(
        "Your email address is confirmed. Thank you!"
    )
    # when they forget their password and ask for a link from the sign-in page
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    # (the sign-in form has an "Email" field too: fill the new page's, not the old one's)
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text(
        "a reset link is on its way"
    )
    # and the answer survives a reload, since it lives in the address
    page.reload()
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text(
        "a reset link is on its way"
    )
    # and follow the emailed link to choose a new one
    page.goto(_link_from_outbox(live_shop, address, "/reset-password"))
    page.get_by_label("New password", exact=True).fill("brand new winter passphrase")
    page.get_by_role("button", name="Save new password").click()
    # then they are asked to sign in, and the new password works
    expect(page).to_have_url(re.compile(r"/login/?\?notice=password_reset"))
    expect(page.get_by_role("main").get_by_role("status")).to_have_text(
        "Your password is changed. Sign in with the new one."
    )
    _sign_in(page, address, "brand new winter passphrase")
    expect(page.get_by_role("region", name="Profile")).to_contain_text("Confirmed")
    assert page.problems.console_errors == []


def _mails_to(live_shop: LiveShop, address: str, subject_part: str) -> int:
    count = 0
    for eml in (live_shop.data_dir / "outbox").glob("*.eml"):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        if message["To"] == address and subject_part in message["Subject"]:
            count += 1
    return count


def test_profile_verification_mail_and_password_change_on_the_account_page(
    page: Page, live_shop: LiveShop
):
    # given a customer signed in here and, by the API, somewhere else
    address = _address("settler")
    _register_by_api(live_shop, address)
    other = httpx.Client(base_url=live_shop.url)
    assert (
        other.post("/api/auth/login", json={"email": address, "password": PASSWORD}).status_code
        == 200
    )
    _sign_in(page, address)
    profile = page.get_by_role("region", name="Profile")
    # when they ask for the confirmation email again
    profile.get_by_role("button", name="Resend verification email").click()
    # then it is said and sent
    expect(profile.get_by_role("status")).to_have_text(
        f"A new confirmation link is on its way to {address}."
    )
    assert _mails_to(live_shop, address, "Confirm your email") == 2
    # when they change their name
    profile.get_by_label("Name", exact=True).fill("Sam Settler")
    profile.get_by_role("button", name="Save name").click()
    expect(profile.get_by_text("Your name is saved.")).to_be_visible()
    assert other.get("/api/auth/me").json()["name"] == "Sam Settler"
    # when they get the current password wrong in the password form
    form = page.get_by_role("region", name="Change password")
    form.get_by_label("Current password").fill("not my password")
    form.get_by_label("New password").fill("a fresh autumn passphrase")
    form.get_by_role("button", name="Change password").click()
    # then the field says so and nothing changed
    expect(form.get_by_role("alert")).to_have_text("The current password is not right.")
    expect(form.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    assert other.get("/api/auth/session").status_code == 200
    # when they fill it in right, leaving "Sign out my other sessions" ticked
    expect(form.get_by_label("Sign out my other sessions")).to_be_checked()
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password").fill("a fresh autumn passphrase")
    form.get_by_role("button", name="Change password").click()
    # then the password is changed, the other session is over and this one goes on
    expect(form.get_by_role("status")).to_have_text(
        "Your password is changed. Other sessions ended: 1."
    )
    assert other.get("/api/auth/session").status_code == 401
    other.close()
    expect(page.get_by_role("banner").get_by_role("button", name="Sign out")).to_be_visible()
    assert page.problems.console_errors == []


def test_a_wrong_password_keeps_the_email_and_clears_the_password(page: Page, live_shop: LiveShop):
    # given an account
    address = _address("typo")
    _register_by_api(live_shop, address)

    # when its owner signs in with a wrong password
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_label("Password", exact=True).fill("not the right one")
    page.get_by_role("button", name="Sign in").click()

    # then the page says so, with the email still filled in and the password box empty
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password.")
    expect(page.get_by_label("Email", exact=True)).to_have_value(address)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")

    # and fixing only the password signs them in
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account/?$"))


def test_a_refused_password_keeps_the_email_and_name_on_the_sign_up_form(page: Page):
    # when a visitor signs up with a password that is too short
    address = _address("hasty")
    page.goto("/register")
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Name (optional)").fill("Hasty Hare")
    page.get_by_role("button", name="Create account").click()

    # then the password is refused, and what they typed besides it is still there
    expect(page.get_by_text("Use at least 8 characters.")).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_have_value(address)
    expect(page.get_by_label("Name (optional)")).to_have_value("Hasty Hare")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")

    # and a better password alone is enough to create the account
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/account/?$"))
