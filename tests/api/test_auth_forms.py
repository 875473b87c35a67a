"""The HTML form endpoints behind /register, /account and /reset-password: plain form posts
that answer with a 303 back to a page, set or keep the HttpOnly cookie, and never let a
password pass through the UI's state."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from shop.models import AuditLog, TokenPurpose, User, UserSession
from shop.services import auth, passwords
from tests.factories import DEFAULT_PASSWORD, make_user, sign_in_as

SAME_ORIGIN = {"Origin": "http://shop.test"}
NEW_PASSWORD = "a completely new passphrase"


def _outbox(data_dir: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted((data_dir / "outbox").glob("*.eml"))
    ]


def _text(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def _where(response) -> tuple[str, dict[str, str], str]:
    """(path, query, fragment) of a 303 answer's Location."""
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    return location.path, query, location.fragment


def _post(client: TestClient, path: str, data: dict[str, str], **headers: str):
    return client.post(path, data=data, headers={**SAME_ORIGIN, **headers}, follow_redirects=False)


def _user(session: Session, address: str) -> User | None:
    session.expire_all()
    return session.exec(select(User).where(User.email == address)).first()


# --- /register ---------------------------------------------------------------------------


def test_register_form_creates_the_account_and_signs_in(
    api_client: TestClient, session: Session, shop_env: Path
):
    # when a visitor submits the sign-up form
    response = _post(
        api_client,
        "/api/auth/register/form",
        {"email": "Dana@Example.com", "password": "velvet canoe harbour", "name": "Dana"},
    )
    # then they land on /account with an HttpOnly session cookie
    assert _where(response) == ("/account", {}, "")
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("shop_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    # and the cookie is a live session of the new customer
    me = api_client.get("/api/auth/me").json()
    assert (me["email"], me["name"], me["roles"], me["email_verified"]) == (
        "dana@example.com",
        "Dana",
        ["customer"],
        False,
    )
    # and the confirmation link was mailed
    mail = _outbox(shop_env)[-1]
    assert mail["To"] == "dana@example.com"
    assert "http://shop.test/verify-email?token=" in _text(mail)


def test_register_form_continues_to_a_local_next_page_only(api_client: TestClient):
    to_checkout = _post(
        api_client,
        "/api/auth/register/form",
        {"email": "erin@example.com", "password": "velvet canoe harbour", "next": "/checkout"},
    )
    assert _where(to_checkout)[0] == "/checkout"
    off_site = _post(
        api_client,
        "/api/auth/register/form",
        {"email": "finn@example.com", "password": "velvet canoe harbour", "next": "//evil.test"},
    )
    assert _where(off_site)[0] == "/account"


def test_a_form_sent_before_the_page_filled_in_next_goes_where_the_page_address_says(
    api_client: TestClient, session: Session
):
    # given an account, and the sign-in page opened at /login?next=/admin/orders
    user = make_user(session)
    session.commit()
    page = {**SAME_ORIGIN, "Referer": "http://shop.test/login?next=%2Fadmin%2Forders"}
    # when the form is sent before the page has written `next` into it (the default remains)
    signed_in = api_client.post(
        "/api/auth/login/form",
        data={"email": user.email, "password": DEFAULT_PASSWORD, "next": "/account"},
        headers=page,
        follow_redirects=False,
    )
    # then the sign-in still continues to the page's `next`
    assert signed_in.status_code == 303
    assert _where(signed_in)[0] == "/admin/orders"
    # and a wrong password comes back to the form keeping it
    refused = api_client.post(
        "/api/auth/login/form",
        data={"email": user.email, "password": "not the password", "next": "/account"},
        headers=page,
        follow_redirects=False,
    )
    assert _where(refused)[1]["next"] == "/admin/orders"
    # and a Referer naming another site's path never leads off the shop
    elsewhere = {**SAME_ORIGIN, "Referer": "http://shop.test/login?next=%2F%2Fevil.test"}
    off_site = api_client.post(
        "/api/auth/login/form",
        data={"email": user.email, "password": DEFAULT_PASSWORD},
        headers=elsewhere,
        follow_redirects=False,
    )
    assert _where(off_site)[0] == "/account"


@pytest.mark.parametrize(
    ("address", "password", "error", "field"),
    [
        ("gail@example.com", "short7!", "password_too_short", "password"),
        ("gail@example.com", "password123", "password_too_common", "password"),
        ("gail@example.com", "gail@example.com", "password_is_email", "password"),
        ("not-an-email", "velvet canoe harbour", "invalid_input", "email"),
    ],
)
def test_register_form_sends_refusals_back_to_the_form(
    api_client: TestClient, session: Session, address, password, error, field
):
    # when the form is submitted with a weak password or a malformed address
    response = _post(
        api_client,
        "/api/auth/register/form",
        {"email": address, "password": password, "next": "/checkout"},
    )
    # then the browser goes back to /register with the reason and the field, nothing else
    path, query, _ = _where(response)
    assert path == "/register"
    assert query == {"error": error, "field": field, "next": "/checkout"}
    assert password not in response.headers["location"]
    # and no account and no cookie were made
    assert "set-cookie" not in response.headers
    assert _user(session, address.lower()) is None


def test_register_form_does_not_say_that_an_address_is_taken(
    api_client: TestClient, session: Session, shop_env: Path
):
    # given an existing customer
    owner = make_user(session, email="hana@example.com")
    session.commit()
    # when someone signs up with their address and another password
    response = _post(
        api_client,
        "/api/auth/register/form",
        {"email": "HANA@example.com", "password": "some other phrase"},
    )
    # then nobody is signed in and the page only says to check the inbox
    assert _where(response) == ("/login", {"notice": "check_email"}, "")
    assert "set-cookie" not in response.headers
    # and the owner's account is untouched and the owner is told by email
    again = _user(session, "hana@example.com")
    assert again is not None
    assert again.hashed_password == owner.hashed_password
    mail = _outbox(shop_env)[-1]
    assert mail["To"] == "hana@example.com"
    assert "you already have one" in _text(mail)


# --- /account: password change -----------------------------------------------------------


@pytest.fixture
def signed_in(session: Session):
    """A customer signed in twice: (user, this browser's SignedIn, the other device's)."""
    user = make_user(session, email="ivan@example.com")
    here = sign_in_as(session, user)
    elsewhere = sign_in_as(session, user)
    session.commit()
    return user, here, elsewhere


def _cookie(signed) -> dict[str, str]:
    return {"Cookie": f"{auth.SESSION_COOKIE}={signed.session_token}"}


def _live(session: Session, signed) -> bool:
    session.expire_all()
    return auth.resolve_session_token(session=session, token=signed.session_token) is not None


def test_password_form_changes_it_and_ends_other_sessions_when_ticked(
    api_client: TestClient, session: Session, signed_in
):
    user, here, elsewhere = signed_in
    # when the form is sent with the (default) ticked box
    response = _post(
        api_client,
        "/api/auth/password/form",
        {
            "current_password": DEFAULT_PASSWORD,
            "new_password": NEW_PASSWORD,
            "end_other_sessions": "on",
        },
        **_cookie(here),
    )
    # then the page says so, the other device is signed out and this one is not
    assert _where(response) == ("/account", {"password": "changed", "ended": "1"}, "password")
    assert not _live(session, elsewhere)
    assert _live(session, here)
    changed = _user(session, user.email)
    assert changed is not None
    assert changed.hashed_password is not None
    assert passwords.verify_password(changed.hashed_password, NEW_PASSWORD)


def test_password_form_keeps_other_sessions_when_unticked(
    api_client: TestClient, session: Session, signed_in
):
    _user_row, here, elsewhere = signed_in
    # when the box is unticked (browsers then leave the field out)
    response = _post(
        api_client,
        "/api/auth/password/form",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        **_cookie(here),
    )
    # then both sessions stay
    assert _where(response) == ("/account", {"password": "changed", "ended": "0"}, "password")
    assert _live(session, elsewhere)
    assert _live(session, here)


@pytest.mark.parametrize(
    ("current", "new", "error", "field"),
    [
        ("not my password", NEW_PASSWORD, "wrong_password", "current_password"),
        (DEFAULT_PASSWORD, "short", "password_too_short", "new_password"),
        (DEFAULT_PASSWORD, "qwerty123", "password_too_common", "new_password"),
    ],
)
def test_password_form_sends_refusals_back_to_the_account_page(
    api_client: TestClient, session: Session, signed_in, current, new, error, field
):
    user, here, elsewhere = signed_in
    response = _post(
        api_client,
        "/api/auth/password/form",
        {"current_password": current, "new_password": new, "end_other_sessions": "on"},
        **_cookie(here),
    )
    assert _where(response) == ("/account", {"error": error, "field": field}, "password")
    # and nothing changed
    assert _live(session, elsewhere)
    unchanged = _user(session, user.email)
    assert unchanged is not None
    assert unchanged.hashed_password is not None
    assert passwords.verify_password(unchanged.hashed_password, DEFAULT_PASSWORD)


def test_password_form_needs_a_signed_in_user(api_client: TestClient):
    response = _post(
        api_client,
        "/api/auth/password/form",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 401


def test_foreign_origin_form_posts_with_a_valid_cookie_are_refused(
    api_client: TestClient, session: Session, signed_in
):
    user, here, _elsewhere = signed_in
    body = {
        "current_password": DEFAULT_PASSWORD,
        "new_password": NEW_PASSWORD,
        "end_other_sessions": "on",
    }
    # when another site makes the signed-in browser post the forms (with its Origin,
    # an opaque "null" one, or a foreign Referer only)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/attack.html"},
    ):
        for path, data in (
            ("/api/auth/password/form", body),
            ("/api/auth/logout/form", {}),
            ("/api/auth/register/form", {"email": "x@example.com", "password": NEW_PASSWORD}),
        ):
            refused = api_client.post(
                path,
                data=data,
                headers={**_cookie(here), **headers},
                follow_redirects=False,
            )
            # then each is refused with 403 before it reaches the endpoint
            assert refused.status_code == 403, (path, headers)
            assert refused.json()["error"]["code"] == "csrf_refused"
    # and nothing changed: same password, session alive, no account made
    unchanged = _user(session, user.email)
    assert unchanged is not None
    assert unchanged.hashed_password is not None
    assert passwords.verify_password(unchanged.hashed_password, DEFAULT_PASSWORD)
    assert _live(session, here)
    assert _user(session, "x@example.com") is None


# --- /reset-password ---------------------------------------------------------------------


def test_reset_form_sets_the_new_password_from_the_emailed_link(
    api_client: TestClient, session: Session, shop_env: Path, signed_in
):
    user, here, _elsewhere = signed_in
    # given a reset link in the inbox
    assert (
        api_client.post(
            "/api/auth/password-reset", json={"email": user.email}, headers=SAME_ORIGIN
        ).status_code
        == 202
    )
    match = re.search(r"/reset-password\?token=([A-Za-z0-9_\-]+)", _text(_outbox(shop_env)[-1]))
    assert match
    token = match.group(1)
    # when the form on /reset-password is sent
    response = _post(
        api_client, "/api/auth/password-reset/form", {"token": token, "new_password": NEW_PASSWORD}
    )
    # then the browser goes to sign in, the new password works and old sessions ended
    assert _where(response) == ("/login", {"notice": "password_reset"}, "")
    assert not _live(session, here)
    signed = auth.sign_in(session=session, email=user.email, password=NEW_PASSWORD)
    assert signed is not None
    # and the link does not work twice
    again = _post(
        api_client, "/api/auth/password-reset/form", {"token": token, "new_password": "x" * 20}
    )
    path, query, _ = _where(again)
    assert path == "/reset-password"
    assert query == {"token": token, "error": "invalid_token", "field": "token"}


def test_forgot_password_form_mails_a_link_and_says_sent_in_the_address(
    api_client: TestClient, session: Session, shop_env: Path
):
    # given an account
    user = make_user(session, email="forgetful@example.com")
    session.commit()
    # when the form on /forgot-password is sent with its address
    response = _post(
        api_client, "/api/auth/password-reset/request/form", {"email": "Forgetful@Example.com"}
    )
    # then the browser goes back to the page with the outcome in the address
    assert _where(response) == ("/forgot-password", {"sent": "1"}, "")
    # and one reset link went to the account's address
    mails = [m for m in _outbox(shop_env) if m["To"] == user.email]
    assert len(mails) == 1
    assert "/reset-password?token=" in _text(mails[0])


def test_forgot_password_form_answers_the_same_for_an_unknown_address(
    api_client: TestClient, shop_env: Path
):
    # when the form is sent with an address no account uses
    response = _post(
        api_client, "/api/auth/password-reset/request/form", {"email": "nobody@example.com"}
    )
    # then the answer cannot be told apart from a known address, and nothing is mailed
    assert _where(response) == ("/forgot-password", {"sent": "1"}, "")
    assert _outbox(shop_env) == []


def test_forgot_password_form_refuses_what_is_not_an_address(
    api_client: TestClient, shop_env: Path
):
    # when the form is sent with something that is not an email address
    response = _post(api_client, "/api/auth/password-reset/request/form", {"email": "jo at home"})
    # then the page is asked to say so, and nothing is mailed
    assert _where(response) == (
        "/forgot-password",
        {"error": "invalid_input", "field": "email"},
        "",
    )
    assert _outbox(shop_env) == []


def test_reset_form_keeps_the_link_when_the_new_password_is_refused(
    api_client: TestClient, session: Session
):
    user = make_user(session, email="jo@example.com")
    token = auth._issue_account_token(
        session, user, TokenPurpose.RESET_PASSWORD, timedelta(minutes=30)
    )
    session.commit()
    response = _post(
        api_client, "/api/auth/password-reset/form", {"token": token, "new_password": "1234567"}
    )
    path, query, _ = _where(response)
    assert path == "/reset-password"
    assert query == {"token": token, "error": "password_too_short", "field": "new_password"}
    # the refused attempt did not spend the link: a good password still goes through
    ok = _post(
        api_client, "/api/auth/password-reset/form", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert _where(ok)[0] == "/login"


def test_sign_up_by_form_is_audited_with_the_session_it_opened(
    api_client: TestClient, session: Session
):
    # when a visitor signs up by form
    _post(
        api_client,
        "/api/auth/register/form",
        {"email": "kim@example.com", "password": "velvet canoe harbour"},
        **{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"},
    )
    # then the log has the registration and the sign-in, naming the one new session
    session.expire_all()
    opened = session.exec(select(UserSession)).one()
    assert opened.user_agent is not None
    assert "Chrome" in opened.user_agent
    rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()  # type: ignore[arg-type]
    assert [(r.action, r.actor_email, r.target) for r in rows] == [
        ("user.registered", "kim@example.com", f"user:{opened.user_id}"),
        ("auth.sign_in", "kim@example.com", f"session:{opened.id}"),
    ]
