"""The accounts API end to end: register, verify, sign in and out, tokens, throttling, CSRF,
password reset over real SMTP, password change, profile, admin user management."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from shop.api.app import create_api_app
from shop.models import AuditLog, User
from shop.services import auth
from shop.settings import get_settings
from tests.factories import DEFAULT_PASSWORD, make_user, sign_in_as

SAME_ORIGIN = {"Origin": "http://shop.test"}
NEW_PASSWORD = "a completely new passphrase"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _link_token(text: str, path: str) -> str:
    match = re.search(rf"http://shop\.test{path}\?token=([A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


def _outbox_texts(data_dir: Path) -> list[str]:
    """The plain-text bodies of the `.eml` files in the outbox, oldest first."""
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted((data_dir / "outbox").glob("*.eml"))
    ]
    return [_body(message) for message in messages]


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def _login(client: TestClient, email: str, password: str = DEFAULT_PASSWORD, **kwargs):
    return client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers=SAME_ORIGIN,
        **kwargs,
    )


@pytest.fixture
def customer(session: Session) -> User:
    user = make_user(session, email="carol@example.com")
    session.commit()
    return user


def test_registering_a_taken_address_again_and_again_mails_its_owner_once_a_minute(
    api_client: TestClient, shop_env: Path, customer: User, monkeypatch: pytest.MonkeyPatch
):
    # given an existing account, and the answer a brand-new address gets
    body = {"password": "purple monkey dishwasher"}
    fresh = api_client.post("/api/auth/register", json={**body, "email": "fresh@example.com"})
    mails_before = len(_outbox_texts(shop_env))
    # when someone registers the existing account's address 20 times in a row
    answers = [
        api_client.post("/api/auth/register", json={**body, "email": customer.email})
        for _ in range(20)
    ]
    # then each answer is the new address's answer, and the owner got one mail, not 20
    assert {(a.status_code, a.text) for a in answers} == {(fresh.status_code, fresh.text)}
    notices = [t for t in _outbox_texts(shop_env)[mails_before:] if "already have one" in t]
    assert len(notices) == 1
    # when the interval has passed and it happens again, then the owner hears of it again
    monkeypatch.setattr(auth, "EXISTING_ACCOUNT_MAIL_INTERVAL", timedelta(0))
    again = api_client.post("/api/auth/register", json={**body, "email": customer.email})
    assert again.status_code == 201
    notices = [t for t in _outbox_texts(shop_env)[mails_before:] if "already have one" in t]
    assert len(notices) == 2


def test_register_verify_and_sign_in(api_client: TestClient, shop_env: Path, session: Session):
    # when a visitor registers
    created = api_client.post(
        "/api/auth/register",
        json={"email": "New.Person@Example.com", "password": "purple monkey dishwasher"},
    )
    # then the account exists (email lower-cased, not yet verified) and a link is mailed
    assert created.status_code == 201, created.text
    user = session.exec(select(User).where(User.email == "new.person@example.com")).one()
    assert not user.email_verified
    token = _link_token(_outbox_texts(shop_env)[-1], "/verify-email")
    # when the link is followed, then the address is confirmed, and only once
    assert api_client.post("/api/auth/verify-email", json={"token": token}).status_code == 200
    again = api_client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "invalid_token"
    session.refresh(user)
    assert user.email_verified
    # and the new customer can sign in
    assert (
        _login(api_client, "new.person@example.com", "purple monkey dishwasher").status_code == 200
    )


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("k7#Qz!p", "password_too_short"),
        ("password1", "password_too_common"),
        ("x" * 1025, "password_too_long"),
    ],
)
def test_register_refuses_weak_passwords(api_client: TestClient, password: str, code: str):
    response = api_client.post(
        "/api/auth/register", json={"email": "weak@example.com", "password": password}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == "password"


def test_register_accepts_a_65_character_password(api_client: TestClient):
    password = "q" * 30 + " a sixty-five character passphrase!"
    assert len(password) == 65
    response = api_client.post(
        "/api/auth/register", json={"email": "long@example.com", "password": password}
    )
    assert response.status_code == 201
    assert _login(api_client, "long@example.com", password).status_code == 200
    assert _login(api_client, "long@example.com", password[:64]).status_code == 401


def test_login_returns_tokens_and_a_hardened_session_cookie(api_client: TestClient, customer):
    response = _login(api_client, customer.email)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 900
    assert body["access_token"]
    assert body["refresh_token"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{auth.SESSION_COOKIE}=")
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43  # 256 bits, base64url
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=lax"} <= attributes
    assert "secure" not in attributes  # PUBLIC_URL is http:// in tests


def test_the_cookie_is_secure_under_https(shop_env: Path, monkeypatch, session: Session):
    make_user(session, email="tls@example.com")
    session.commit()
    monkeypatch.setenv("PUBLIC_URL", "https://shop.test")
    get_settings.cache_clear()
    with TestClient(create_api_app(), base_url="https://shop.test") as client:
        response = client.post(
            "/api/auth/login",
            json={"email": "tls@example.com", "password": DEFAULT_PASSWORD},
            headers={"Origin": "https://shop.test"},
        )
    assert response.status_code == 200
    assert "secure" in response.headers["set-cookie"].lower()


def test_wrong_password_and_unknown_email_get_the_same_answer(api_client: TestClient, customer):
    wrong = _login(api_client, customer.email, "not my password")
    unknown = _login(api_client, "nobody@example.com", "not my password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == "Bearer"


def test_session_works_with_the_bearer_token_and_with_the_cookie(api_client: TestClient, customer):
    # anonymous: 401
    assert api_client.get("/api/auth/session").status_code == 401
    tokens = _login(api_client, customer.email).json()
    # with the cookie the client now holds
    by_cookie = api_client.get("/api/auth/session")
    assert by_cookie.status_code == 200
    assert by_cookie.json() == {
        "user": {"id": customer.id, "email": customer.email, "roles": ["customer"]}
    }
    # with the bearer token on a client without cookies
    with TestClient(api_client.app, base_url="http://shop.test") as bare:
        assert (
            bare.get("/api/auth/session", headers=_bearer(tokens["access_token"])).status_code
            == 200
        )
        # a bad bearer header never falls back to a cookie
        bare.cookies.set(auth.SESSION_COOKIE, api_client.cookies[auth.SESSION_COOKIE])
        assert bare.get("/api/auth/session", headers=_bearer("nonsense")).status_code == 401


def test_an_access_token_stops_working_after_sign_out(api_client: TestClient, customer):
    # given a signed-in API client
    tokens = _login(api_client, customer.email).json()
    headers = _bearer(tokens["access_token"])
    assert api_client.get("/api/auth/me", headers=headers).status_code == 200
    # when it signs out
    assert api_client.post("/api/auth/logout", headers=headers).status_code == 204
    # then the still-unexpired access token, the refresh token and the cookie are all dead
    assert api_client.get("/api/auth/me", headers=headers).status_code == 401
    refreshed = api_client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert api_client.get("/api/auth/session").status_code == 401


def test_signing_out_with_only_the_refresh_token_ends_its_session(api_client: TestClient, customer):
    # given an API client holding only its tokens
    tokens = _login(api_client, customer.email).json()
    api_client.cookies.clear()
    # when it signs out by sending the refresh token alone (its access token may have expired)
    answer = api_client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    # then the session is over: the refresh token and the access token are both dead
    assert answer.status_code == 204
    refreshed = api_client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert api_client.get("/api/auth/me", headers=_bearer(tokens["access_token"])).status_code == (
        401
    )
    # and an unknown refresh token, or none, signs nobody out and is still a 204
    assert api_client.post("/api/auth/logout", json={"refresh_token": "nonsense"}).status_code == (
        204
    )
    assert api_client.post("/api/auth/logout").status_code == 204


def test_cookie_sign_out_clears_the_cookie(api_client: TestClient, customer):
    _login(api_client, customer.email)
    response = api_client.post("/api/auth/logout", headers=SAME_ORIGIN)
    assert response.status_code == 204
    assert (
        'shop_session=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    assert api_client.get("/api/auth/session").status_code == 401


def test_refresh_rotates_and_a_replayed_token_ends_the_session(api_client: TestClient, customer):
    # given tokens from a sign-in
    first = _login(api_client, customer.email).json()
    # when the refresh token is used, then a new pair comes back and works
    api_client.cookies.clear()  # an API client: tokens only
    rotated = api_client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        api_client.get("/api/auth/me", headers=_bearer(second["access_token"])).status_code == 200
    )
    # when a thief replays the first (spent) refresh token
    replay = api_client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    # then it is refused and the whole family is revoked
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "refresh_token_reused"
    assert (
        api_client.get("/api/auth/me", headers=_bearer(second["access_token"])).status_code == 401
    )
    again = api_client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 401


def test_failed_sign_ins_are_throttled_with_retry_after(api_client: TestClient, customer):
    # given four free failures
    for _ in range(4):
        assert _login(api_client, customer.email, "bad guess").status_code == 401
    # when the fifth fails, then the next attempt (even with the right password) gets 429
    assert _login(api_client, customer.email, "bad guess").status_code == 401
    throttled = _login(api_client, customer.email)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "too_many_attempts"
    assert int(throttled.headers["retry-after"]) >= 1


def test_a_foreign_origin_post_with_a_valid_session_cookie_is_refused(
    api_client: TestClient, customer
):
    # given a browser holding a valid session cookie
    _login(api_client, customer.email)
    body = {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    # when another site makes it post (Origin: evil or opaque), or sends a foreign Referer, or
    # the browser says the request is cross-site, then each is refused with 403, nothing changes
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.shop.test"},
    ):
        refused = api_client.post("/api/auth/password", json=body, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["error"]["code"] == "csrf_refused"
        refused = api_client.put("/api/auth/me", json={"name": "Mallory"}, headers=headers)
        assert refused.status_code == 403
    assert api_client.get("/api/auth/me").json()["name"] == customer.name
    # while the same request from our own origin (or by Referer) goes through
    assert (
        api_client.put("/api/auth/me", json={"name": "Carol"}, headers=SAME_ORIGIN).status_code
        == 200
    )
    ok = api_client.put(
        "/api/auth/me", json={"name": "Carol B"}, headers={"Referer": "http://shop.test/account"}
    )
    assert ok.status_code == 200


def test_a_cookie_of_an_ended_session_does_not_make_a_request_without_origin_cross_site(
    api_client: TestClient, customer
):
    # given a client (no browser: it sends no Origin) still holding the cookie of a session
    # that has since been signed out
    _login(api_client, customer.email)
    stale = api_client.cookies.get(auth.SESSION_COOKIE)
    assert api_client.post("/api/auth/logout", headers=SAME_ORIGIN).status_code == 204
    api_client.cookies.clear()
    cookie = {"Cookie": f"{auth.SESSION_COOKIE}={stale}"}
    credentials = {"email": customer.email, "password": "not the password"}
    # when it signs in with a wrong password, then the right one, without Origin
    wrong = api_client.post("/api/auth/login", json=credentials, headers=cookie)
    right = api_client.post(
        "/api/auth/login", json={**credentials, "password": DEFAULT_PASSWORD}, headers=cookie
    )
    # then it is told the credentials are wrong, then signed in with a new cookie
    assert wrong.status_code == 401, wrong.text
    assert right.status_code == 200, right.text
    assert right.cookies.get(auth.SESSION_COOKIE) not in (None, stale)


def test_a_stale_cookie_without_origin_is_anonymous_not_cross_site(
    api_client: TestClient, customer
):
    # given a cookie that never opened a session
    cookie = {"Cookie": f"{auth.SESSION_COOKIE}=made-up-session-token"}
    # when a change that needs an account is sent without Origin
    response = api_client.put("/api/auth/me", json={"name": "Nobody"}, headers=cookie)
    # then it is answered as anonymous: sign in first
    assert response.status_code == 401, response.text


def test_a_client_signed_in_by_cookie_without_browser_headers_is_not_cross_site(
    api_client: TestClient, customer
):
    # given an API client (no browser: no Origin, Referer or Sec-Fetch-Site) whose cookie jar
    # holds a live session, as DESIGN §5 allows ("Bearer <access_token> or the session cookie")
    tokens = _login(api_client, customer.email).json()
    # when it signs in with a wrong password, rotates its refresh token, changes its name and
    # signs out, all with that cookie and no browser headers
    wrong = api_client.post(
        "/api/auth/login", json={"email": customer.email, "password": "not the password"}
    )
    rotated = api_client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    renamed = api_client.put("/api/auth/me", json={"name": "Carol"})
    out = api_client.post("/api/auth/logout")
    # then each is answered on its merits: no page of another site can send such a request
    assert wrong.status_code == 401, wrong.text
    assert rotated.status_code == 200, rotated.text
    assert renamed.status_code == 200, renamed.text
    assert out.status_code == 204, out.text
    assert api_client.get("/api/auth/me").status_code == 401


def test_a_page_opened_at_the_shops_ip_address_may_write(api_client: TestClient, customer):
    # given a browser signed in on the shop opened at 127.0.0.1 while PUBLIC_URL names another
    _login(api_client, customer.email)
    here = {"Origin": "http://127.0.0.1:8000", "Host": "127.0.0.1:8000"}
    # when its page changes the name, then it goes through: that origin is the server asked
    renamed = api_client.put("/api/auth/me", json={"name": "Carol"}, headers=here)
    assert renamed.status_code == 200, renamed.text
    # while the same Origin sent to another address is cross-site
    elsewhere = {"Origin": "http://127.0.0.1:8000", "Host": "127.0.0.1:9000"}
    refused = api_client.put("/api/auth/me", json={"name": "Mallory"}, headers=elsewhere)
    assert refused.status_code == 403


def test_a_browser_saying_cross_site_is_refused_even_without_origin(
    api_client: TestClient, customer
):
    # given a browser signed in by cookie
    _login(api_client, customer.email)
    # when a page of another site makes it sign out, with no Origin but Sec-Fetch-Site
    out = api_client.post("/api/auth/logout", headers={"Sec-Fetch-Site": "cross-site"})
    # then it is refused and the session lives on; our own pages (same-origin) go through
    assert out.status_code == 403
    assert out.json()["error"]["code"] == "csrf_refused"
    assert api_client.get("/api/auth/me").status_code == 200
    mine = api_client.post("/api/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert mine.status_code == 204


def test_bearer_requests_are_exempt_from_the_origin_check(api_client: TestClient, customer):
    tokens = _login(api_client, customer.email).json()
    api_client.cookies.clear()
    response = api_client.put(
        "/api/auth/me",
        json={"name": "Script"},
        headers={**_bearer(tokens["access_token"]), "Origin": "https://elsewhere.example"},
    )
    assert response.status_code == 200


def test_a_cross_site_sign_in_form_is_refused(api_client: TestClient, customer):
    response = api_client.post(
        "/api/auth/login",
        json={"email": customer.email, "password": DEFAULT_PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_password_reset_mail_arrives_over_smtp_and_the_link_works_once(
    smtp_inbox, api_client: TestClient, customer
):
    # given a customer signed in elsewhere
    old_tokens = _login(api_client, customer.email).json()
    # when they ask for a reset
    api_client.cookies.clear()
    asked = api_client.post("/api/auth/password-reset", json={"email": customer.email})
    assert asked.status_code == 202
    # then a real SMTP server received the mail with a single-use link
    message = smtp_inbox.last_to(customer.email)
    assert "reset" in message["Subject"].lower()
    token = _link_token(_body(message), "/reset-password")
    # when the link is used, then the password changes and every session ends
    confirm = {"token": token, "new_password": NEW_PASSWORD}
    assert api_client.post("/api/auth/password-reset/confirm", json=confirm).status_code == 200
    assert (
        api_client.get("/api/auth/me", headers=_bearer(old_tokens["access_token"])).status_code
        == 401
    )
    assert _login(api_client, customer.email).status_code == 401
    assert _login(api_client, customer.email, NEW_PASSWORD).status_code == 200
    # and the same link does not work a second time
    api_client.cookies.clear()
    second = api_client.post(
        "/api/auth/password-reset/confirm",
        json={"token": token, "new_password": "yet another one!"},
    )
    assert second.status_code == 422
    assert second.json()["error"]["code"] == "invalid_token"


def test_password_reset_for_an_unknown_email_looks_the_same(smtp_inbox, api_client: TestClient):
    response = api_client.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    assert response.status_code == 202
    assert smtp_inbox.messages == []


def test_an_expired_reset_link_is_refused(
    shop_env: Path, api_client: TestClient, customer, session: Session
):
    from datetime import timedelta

    from shop.models import AccountToken, utcnow

    api_client.post("/api/auth/password-reset", json={"email": customer.email})
    token = _link_token(_outbox_texts(shop_env)[-1], "/reset-password")
    row = session.exec(select(AccountToken)).one()
    assert row.expires_at - row.created_at < timedelta(hours=1)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    response = api_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 422


def _age_reset_links(session: Session) -> None:
    """Make the links asked for so far older, past the one-request-a-minute limit."""
    from datetime import timedelta

    from shop.models import AccountToken

    for row in session.exec(select(AccountToken)).all():
        row.created_at -= timedelta(minutes=2)
        session.add(row)
    session.commit()


def test_a_new_password_voids_every_older_reset_link(
    shop_env: Path, api_client: TestClient, customer, session: Session
):
    # given two reset links sent to the customer, a while apart, and a third one later
    api_client.post("/api/auth/password-reset", json={"email": customer.email})
    older = _link_token(_outbox_texts(shop_env)[-1], "/reset-password")
    _age_reset_links(session)
    api_client.post("/api/auth/password-reset", json={"email": customer.email})
    newer = _link_token(_outbox_texts(shop_env)[-1], "/reset-password")
    assert newer != older
    # when the newer one sets a new password
    confirm = {"token": newer, "new_password": NEW_PASSWORD}
    assert api_client.post("/api/auth/password-reset/confirm", json=confirm).status_code == 200
    # then the older one, still in the mailbox, can no longer take the account
    stolen = {"token": older, "new_password": "Attacker-pass-99"}
    refused = api_client.post("/api/auth/password-reset/confirm", json=stolen)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_token"
    assert _login(api_client, customer.email, NEW_PASSWORD).status_code == 200


def test_changing_the_password_voids_reset_links_sent_before(
    shop_env: Path, api_client: TestClient, customer
):
    # given a reset link sent to the customer, who then changes the password while signed in
    api_client.post("/api/auth/password-reset", json={"email": customer.email})
    link = _link_token(_outbox_texts(shop_env)[-1], "/reset-password")
    tokens = _login(api_client, customer.email).json()
    changed = api_client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=_bearer(tokens["access_token"]),
    )
    assert changed.status_code == 200, changed.text
    # when the old link is used, then it is refused
    api_client.cookies.clear()
    stolen = {"token": link, "new_password": "Attacker-pass-99"}
    assert api_client.post("/api/auth/password-reset/confirm", json=stolen).status_code == 422


def test_wrong_current_passwords_are_throttled_like_sign_ins_and_audited(
    api_client: TestClient, customer, session: Session
):
    from shop.models import AuditLog

    # given a signed-in customer (or someone holding their token)
    headers = _bearer(_login(api_client, customer.email).json()["access_token"])
    api_client.cookies.clear()
    guess = {"current_password": "a wrong guess!", "new_password": NEW_PASSWORD}
    # when the current password is guessed again and again
    answers = [api_client.post("/api/auth/password", json=guess, headers=headers) for _ in range(8)]
    # then the first guesses are told it is wrong, the later ones must wait (429 + Retry-After)
    codes = [a.status_code for a in answers]
    assert codes[0] == 422
    assert answers[0].json()["error"]["code"] == "wrong_password"
    assert 429 in codes, codes
    waited = answers[codes.index(429)]
    assert int(waited.headers["retry-after"]) >= 1
    # and even the right password waits its turn, while every wrong guess is in the audit log
    right = {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    assert api_client.post("/api/auth/password", json=right, headers=headers).status_code == 429
    session.expire_all()
    failed = session.exec(
        select(AuditLog).where(AuditLog.action == "user.password_change_failed")
    ).all()
    assert len(failed) == codes.count(422)


def test_password_change_offers_to_end_other_sessions(
    api_client: TestClient, customer, shop_env: Path
):
    # given the same customer signed in on a phone (bearer) and in this browser (cookie)
    phone = _login(api_client, customer.email).json()
    _login(api_client, customer.email)
    # when the browser changes the password, ending other sessions
    response = api_client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=SAME_ORIGIN,
    )
    # then the phone is signed out and the browser is not
    assert response.status_code == 200
    assert response.json()["other_sessions_ended"] == 1
    assert api_client.get("/api/auth/me", headers=_bearer(phone["access_token"])).status_code == 401
    assert api_client.get("/api/auth/me").status_code == 200
    # and the owner is told by email
    assert "password of your account was just changed" in _outbox_texts(shop_env)[-1]


def test_profile_read_and_update(api_client: TestClient, customer):
    _login(api_client, customer.email)
    me = api_client.get("/api/auth/me").json()
    assert me["email"] == customer.email
    assert me["roles"] == ["customer"]
    assert "orders:read_own" in me["permissions"]
    updated = api_client.put("/api/auth/me", json={"name": "Carol Jones"}, headers=SAME_ORIGIN)
    assert updated.json()["name"] == "Carol Jones"
    assert api_client.get("/api/auth/me").json()["name"] == "Carol Jones"


def test_a_profile_update_leaves_fields_it_does_not_name_alone(api_client: TestClient, customer):
    # given a signed-in customer with a name
    _login(api_client, customer.email)
    assert api_client.get("/api/auth/me").json()["name"] == customer.name
    # when a change names no field, or sends back what GET showed (email as it is)
    empty = api_client.put("/api/auth/me", json={}, headers=SAME_ORIGIN)
    echoed = api_client.put(
        "/api/auth/me", json=api_client.get("/api/auth/me").json(), headers=SAME_ORIGIN
    )
    # then both succeed, and the name is still there
    assert (empty.status_code, echoed.status_code) == (200, 200), (empty.text, echoed.text)
    assert empty.json()["name"] == echoed.json()["name"] == customer.name
    assert api_client.get("/api/auth/me").json()["name"] == customer.name


def test_changing_the_email_through_the_profile_is_refused_and_changes_nothing(
    api_client: TestClient, customer
):
    # given a signed-in customer
    _login(api_client, customer.email)
    # when they send a new email address (with or without a new name)
    for change in ({"email": "new@example.com"}, {"email": "new@example.com", "name": "X"}):
        response = api_client.put("/api/auth/me", json=change, headers=SAME_ORIGIN)
        # then 422 names the email field and says it cannot be changed
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "email"
        assert "cannot be changed" in response.json()["error"]["message"]
    # and neither the address nor the name changed
    me = api_client.get("/api/auth/me").json()
    assert (me["email"], me["name"]) == (customer.email, customer.name)


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    admin = make_user(session, email="boss@example.com", roles=("admin",))
    signed_in = sign_in_as(session, admin)
    session.commit()
    return _bearer(signed_in.tokens.access_token)


def test_admin_disables_an_account_and_its_access_ends_on_the_next_request(
    api_client: TestClient, admin_headers, customer
):
    tokens = _login(api_client, customer.email).json()
    assert (
        api_client.get("/api/auth/me", headers=_bearer(tokens["access_token"])).status_code == 200
    )
    disabled = api_client.post(f"/api/admin/users/{customer.id}/disable", headers=admin_headers)
    assert disabled.status_code == 200
    assert disabled.json()["is_active"] is False
    assert (
        api_client.get("/api/auth/me", headers=_bearer(tokens["access_token"])).status_code == 401
    )
    assert api_client.get("/api/auth/session").status_code == 401
    assert _login(api_client, customer.email).status_code == 401
    enabled = api_client.post(f"/api/admin/users/{customer.id}/enable", headers=admin_headers)
    assert enabled.json()["is_active"] is True


def test_admin_grants_and_revokes_roles_effective_on_the_next_request(
    api_client: TestClient, admin_headers, customer
):
    tokens = _login(api_client, customer.email).json()
    mine = _bearer(tokens["access_token"])
    assert api_client.get("/api/admin/audit", headers=mine).status_code == 403
    granted = api_client.put(f"/api/admin/users/{customer.id}/roles/admin", headers=admin_headers)
    assert granted.status_code == 200
    assert "admin" in granted.json()["roles"]
    assert api_client.get("/api/admin/audit", headers=mine).status_code == 200
    revoked = api_client.delete(
        f"/api/admin/users/{customer.id}/roles/admin", headers=admin_headers
    )
    assert revoked.status_code == 200
    assert revoked.json()["roles"] == ["customer"]
    assert api_client.get("/api/admin/audit", headers=mine).status_code == 403
    unknown = api_client.put(f"/api/admin/users/{customer.id}/roles/wizard", headers=admin_headers)
    assert unknown.status_code == 422


def test_admin_lists_users_and_reads_the_audit_log(api_client: TestClient, admin_headers, customer):
    _login(api_client, customer.email, "wrong password!")
    listed = api_client.get("/api/admin/users", params={"q": "carol"}, headers=admin_headers).json()
    assert [item["email"] for item in listed["items"]] == [customer.email]
    assert api_client.get("/api/admin/users/999999", headers=admin_headers).status_code == 404
    entries = api_client.get(
        "/api/admin/audit", params={"action": "auth.sign_in_failed"}, headers=admin_headers
    ).json()["items"]
    assert entries[0]["actor_email"] == customer.email
    assert entries[0]["ip"] == "testclient"
    verified = api_client.get("/api/admin/audit/verify", headers=admin_headers).json()
    assert verified["ok"] is True
    assert verified["rows_checked"] >= 1


def test_admin_actions_are_audited(
    api_client: TestClient, admin_headers, customer, session: Session
):
    api_client.put(f"/api/admin/users/{customer.id}/roles/support", headers=admin_headers)
    api_client.post(f"/api/admin/users/{customer.id}/disable", headers=admin_headers)
    rows = session.exec(select(AuditLog).where(AuditLog.target == f"user:{customer.id}")).all()
    actions = {row.action: row for row in rows}
    assert {"user.role_granted", "user.disabled"} <= set(actions)
    assert actions["user.role_granted"].actor_email == "boss@example.com"
    assert actions["user.role_granted"].details["role"] == "support"


@pytest.fixture
def tight_limits(shop_env: Path, monkeypatch) -> Iterator[TestClient]:
    monkeypatch.setenv("RATE_LIMIT_PER_IP", "5/minute")
    monkeypatch.setenv("RATE_LIMIT_PER_USER", "3/minute")
    get_settings.cache_clear()
    with TestClient(create_api_app(), base_url="http://shop.test") as client:
        yield client


def test_the_api_rate_limits_each_ip(tight_limits: TestClient):
    statuses = [tight_limits.get("/api/products").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = tight_limits.get("/api/products")
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # health checks are never limited
    assert tight_limits.get("/api/health").status_code == 200


def test_the_api_rate_limits_each_user(tight_limits: TestClient, session: Session, monkeypatch):
    # given a user (IP limit raised so only the per-user one can bite)
    user = make_user(session)
    token = sign_in_as(session, user).tokens.access_token
    session.commit()
    monkeypatch.setenv("RATE_LIMIT_PER_IP", "1000/minute")
    get_settings.cache_clear()
    with TestClient(create_api_app(), base_url="http://shop.test") as client:
        statuses = [
            client.get("/api/auth/me", headers=_bearer(token)).status_code for _ in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


def test_rate_limits_are_shared_through_redis(
    redis_url: str, shop_env: Path, monkeypatch: pytest.MonkeyPatch
):
    # given two app instances (two web processes) on the same Redis
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RATE_LIMIT_PER_IP", "4/minute")
    get_settings.cache_clear()
    with (
        TestClient(create_api_app(), base_url="http://shop.test") as first,
        TestClient(create_api_app(), base_url="http://shop.test") as second,
    ):
        # when the same IP spreads its requests over both
        statuses = [(first if n % 2 else second).get("/api/products").status_code for n in range(5)]
    # then the limit counts them together
    assert statuses == [200, 200, 200, 200, 429]


def test_the_html_sign_in_form_sets_the_cookie_and_redirects(api_client: TestClient, customer):
    # when a plain HTML form posts the credentials from our own page
    response = api_client.post(
        "/api/auth/login/form",
        data={"email": customer.email, "password": DEFAULT_PASSWORD, "next": "/orders"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    # then the browser is sent on with the HttpOnly cookie and no token in sight
    assert response.status_code == 303
    assert response.headers["location"] == "/orders"
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "access_token" not in response.text
    assert api_client.get("/api/auth/session").status_code == 200
    # and the header's sign-out form ends the session and goes home
    out = api_client.post("/api/auth/logout/form", headers=SAME_ORIGIN, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/"
    assert api_client.get("/api/auth/session").status_code == 401


def test_the_html_sign_in_form_reports_errors_and_never_redirects_off_site(
    api_client: TestClient, customer
):
    wrong = api_client.post(
        "/api/auth/login/form",
        data={"email": customer.email, "password": "nope nope", "next": "https://evil.example/"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert wrong.status_code == 303
    assert wrong.headers["location"].startswith("/login?error=invalid_credentials")
    assert "evil" not in wrong.headers["location"]
    ok = api_client.post(
        "/api/auth/login/form",
        data={"email": customer.email, "password": DEFAULT_PASSWORD, "next": "//evil.example/x"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/account"


def test_extra_trusted_origins_are_a_setting(shop_env: Path, monkeypatch, session: Session):
    make_user(session, email="dev@example.com")
    session.commit()
    monkeypatch.setenv("CSRF_TRUSTED_ORIGINS", "http://localhost:3000, http://127.0.0.1:3000/")
    get_settings.cache_clear()
    with TestClient(create_api_app(), base_url="http://shop.test") as client:
        _login(client, "dev@example.com")
        for origin, expected in (
            ("http://localhost:3000", 200),
            ("http://127.0.0.1:3000", 200),
            ("http://localhost:3001", 403),
        ):
            response = client.put("/api/auth/me", json={"name": "Dev"}, headers={"Origin": origin})
            assert response.status_code == expected, origin


def test_register_refuses_an_overlong_local_part_on_field_email(api_client: TestClient):
    # when an address with a 300-character local part registers
    response = api_client.post(
        "/api/auth/register",
        json={"email": "a" * 300 + "@example.com", "password": "purple monkey dishwasher"},
    )
    # then a clear 422 names the field and the reason
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "email")
    assert "too long before the @-sign" in error["message"]


def test_sign_in_and_reset_find_the_account_under_another_spelling(
    smtp_inbox, api_client: TestClient, customer
):
    # given carol@example.com; when she signs in under a capitalised, dot-ended spelling
    assert _login(api_client, "CAROL@Example.com.").status_code == 200
    # and asks for a reset under a fullwidth spelling, then the mail reaches her account
    api_client.cookies.clear()
    asked = api_client.post("/api/auth/password-reset", json={"email": "ｃarol@example.com"})
    assert asked.status_code == 202
    assert "reset" in smtp_inbox.last_to(customer.email)["Subject"].lower()


def test_an_internationalised_domain_gets_its_mail_over_smtp_in_ascii(
    smtp_inbox, api_client: TestClient
):
    # when bob registers at a domain written in unicode
    created = api_client.post(
        "/api/auth/register",
        json={"email": "bob@exämple.com", "password": "purple monkey dishwasher"},
    )
    # then the SMTP server gets the confirmation for the ASCII (punycode) address
    assert created.status_code == 201, created.text
    assert smtp_inbox.last_to("bob@xn--exmple-cua.com")["To"] == "bob@xn--exmple-cua.com"
