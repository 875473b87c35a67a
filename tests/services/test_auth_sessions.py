"""Sessions, access and refresh tokens, timeouts, and what ends them."""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select

from shop import db
from shop.models import RefreshToken, SignInThrottle, User, UserSession, utcnow
from shop.services import auth, users
from shop.services.errors import InvalidInput
from shop.settings import get_settings
from tests.factories import DEFAULT_PASSWORD, make_user, sign_in_as


def test_sign_in_opens_a_session_stored_only_as_a_hash(session: Session):
    # given a customer
    user = make_user(session)
    # when they sign in
    signed_in = auth.sign_in(
        session=session, email=user.email.upper(), password=DEFAULT_PASSWORD, ip="10.0.0.1"
    )
    # then a random session token of >= 256 bits is issued and only its hash is stored
    assert signed_in is not None
    assert len(signed_in.session_token) >= 43
    row = session.get(UserSession, signed_in.user.session_id)
    assert row is not None
    assert row.token_hash == auth.hash_token(signed_in.session_token)
    assert signed_in.session_token not in {row.token_hash, row.ip, row.user_agent}
    assert row.ip == "10.0.0.1"
    stored_refresh = session.exec(select(RefreshToken)).one()
    assert stored_refresh.token_hash == auth.hash_token(signed_in.tokens.refresh_token)
    assert signed_in.user.roles == ("customer",)


def test_wrong_password_and_unknown_email_both_return_none(session: Session):
    user = make_user(session)
    assert auth.sign_in(session=session, email=user.email, password="not the password") is None
    assert auth.sign_in(session=session, email="ghost@example.com", password="whatever1") is None


def test_a_disabled_account_cannot_sign_in(session: Session):
    user = make_user(session, is_active=False)
    assert auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD) is None


def test_access_tokens_are_short_lived_jwts_naming_the_session(session: Session):
    user = make_user(session)
    signed_in = sign_in_as(session, user)
    claims = jwt.decode(
        signed_in.tokens.access_token, get_settings().effective_secret_key, algorithms=["HS256"]
    )
    assert claims["sub"] == str(user.id)
    assert claims["sid"] == signed_in.user.session_id
    assert claims["exp"] - claims["iat"] <= 15 * 60
    assert signed_in.tokens.expires_in <= 15 * 60
    assert "roles" not in claims


def test_a_forged_or_expired_access_token_is_refused(session: Session):
    user = make_user(session)
    signed_in = sign_in_as(session, user)
    claims = jwt.decode(
        signed_in.tokens.access_token, get_settings().effective_secret_key, algorithms=["HS256"]
    )
    forged = jwt.encode(claims, "another key entirely, 32 bytes long!", algorithm="HS256")
    expired = jwt.encode(
        {**claims, "exp": claims["iat"] - 1}, get_settings().effective_secret_key, algorithm="HS256"
    )
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (forged, expired, unsigned, "garbage"):
        assert auth.resolve_access_token(session=session, token=token) is None
    assert auth.resolve_access_token(session=session, token=signed_in.tokens.access_token)


def test_refresh_rotates_and_the_old_token_dies(session: Session):
    # given a session
    signed_in = sign_in_as(session, make_user(session))
    first = signed_in.tokens.refresh_token
    # when the refresh token is used
    outcome = auth.refresh(session=session, refresh_token=first)
    # then a new pair is issued
    assert outcome.tokens is not None
    assert outcome.tokens.refresh_token != first
    assert auth.resolve_access_token(session=session, token=outcome.tokens.access_token)


def test_a_stolen_refresh_token_used_twice_revokes_the_family(session: Session):
    # given a session whose refresh token was copied by a thief
    signed_in = sign_in_as(session, make_user(session))
    stolen = signed_in.tokens.refresh_token
    # when the owner refreshes (rotating it) and the thief then uses the copy
    legit = auth.refresh(session=session, refresh_token=stolen)
    assert legit.tokens is not None
    replay = auth.refresh(session=session, refresh_token=stolen)
    # then the replay fails and the whole session is ended: the owner's new tokens,
    # the cookie and the access tokens all stop working
    assert replay.tokens is None
    assert replay.reused
    assert auth.refresh(session=session, refresh_token=legit.tokens.refresh_token).tokens is None
    assert auth.resolve_access_token(session=session, token=legit.tokens.access_token) is None
    assert auth.resolve_session_token(session=session, token=signed_in.session_token) is None
    row = session.get(UserSession, signed_in.user.session_id)
    assert row is not None
    assert row.revoked_reason == "refresh_reuse"


def test_sign_out_ends_cookie_access_and_refresh_tokens(session: Session):
    signed_in = sign_in_as(session, make_user(session))
    auth.sign_out(session=session, current=signed_in.user)
    assert auth.resolve_session_token(session=session, token=signed_in.session_token) is None
    assert auth.resolve_access_token(session=session, token=signed_in.tokens.access_token) is None
    refreshed = auth.refresh(session=session, refresh_token=signed_in.tokens.refresh_token)
    assert refreshed.tokens is None


def test_idle_timeout_ends_a_session(session: Session):
    # given a session last seen longer ago than the idle timeout
    signed_in = sign_in_as(session, make_user(session))
    row = session.get(UserSession, signed_in.user.session_id)
    row.last_seen_at = utcnow() - timedelta(minutes=get_settings().session_idle_minutes + 1)
    session.add(row)
    session.flush()
    # then it no longer authenticates, and is marked as ended for idleness
    assert auth.resolve_session_token(session=session, token=signed_in.session_token) is None
    assert row.revoked_reason == "idle"


def test_absolute_timeout_ends_an_active_session(session: Session):
    signed_in = sign_in_as(session, make_user(session))
    row = session.get(UserSession, signed_in.user.session_id)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.flush()
    assert auth.resolve_access_token(session=session, token=signed_in.tokens.access_token) is None
    assert row.revoked_reason == "expired"


def test_timeouts_are_settings(shop_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "30")
    monkeypatch.setenv("SESSION_ABSOLUTE_MINUTES", "720")
    get_settings.cache_clear()
    assert get_settings().session_idle_minutes == 30
    assert get_settings().session_absolute_minutes == 720


def test_disabling_an_account_ends_its_sessions_on_the_next_request(session: Session):
    user = make_user(session)
    signed_in = sign_in_as(session, user)
    make_user(session, roles=("admin",))
    users.set_active(session=session, user=user, active=False)
    assert auth.resolve_session_token(session=session, token=signed_in.session_token) is None
    assert auth.resolve_access_token(session=session, token=signed_in.tokens.access_token) is None


def test_role_changes_apply_on_the_next_request(session: Session):
    # given a signed-in customer
    user = make_user(session)
    signed_in = sign_in_as(session, user)
    assert not signed_in.user.can("catalog:write")
    # when an admin grants them the admin role, then their same token carries it
    users.grant_role(session=session, user=user, role="admin")
    current = auth.resolve_access_token(session=session, token=signed_in.tokens.access_token)
    assert current is not None
    assert current.can("catalog:write")
    # and when it is revoked, it is gone on the next request
    make_user(session, roles=("admin",))
    users.revoke_role(session=session, user=user, role="admin")
    current = auth.resolve_access_token(session=session, token=signed_in.tokens.access_token)
    assert current is not None
    assert not current.can("catalog:write")


def test_password_change_ends_other_sessions_when_asked(session: Session):
    # given a user signed in on two devices
    user = make_user(session)
    laptop = sign_in_as(session, user)
    phone = sign_in_as(session, user)
    # when they change the password on the laptop and ask to end other sessions
    ended = auth.change_password(
        session=session,
        current=laptop.user,
        current_password=DEFAULT_PASSWORD,
        new_password="a brand new passphrase",
    )
    # then the phone is signed out, the laptop stays, and the new password works
    assert ended == 1
    assert auth.resolve_session_token(session=session, token=phone.session_token) is None
    assert auth.resolve_session_token(session=session, token=laptop.session_token) is not None
    assert auth.sign_in(session=session, email=user.email, password="a brand new passphrase")


def test_password_change_can_keep_other_sessions(session: Session):
    user = make_user(session)
    laptop = sign_in_as(session, user)
    phone = sign_in_as(session, user)
    ended = auth.change_password(
        session=session,
        current=laptop.user,
        current_password=DEFAULT_PASSWORD,
        new_password="a brand new passphrase",
        end_other_sessions=False,
    )
    assert ended == 0
    assert auth.resolve_session_token(session=session, token=phone.session_token) is not None


def test_password_change_needs_the_current_password(session: Session):
    # given a signed-in user
    user = make_user(session)
    signed_in = sign_in_as(session, user)
    old_hash = user.hashed_password
    # when the change is asked with a wrong current password
    outcome = auth.change_password(
        session=session,
        current=signed_in.user,
        current_password="not it at all",
        new_password="a brand new passphrase",
    )
    # then nothing changes (None: the route answers wrong_current_password()), and the guess
    # is counted against the account like a failed sign-in
    assert outcome is None
    assert user.hashed_password == old_hash
    assert auth.wrong_current_password().code == "wrong_password"
    counters = session.exec(select(SignInThrottle)).all()
    assert any(row.key == f"acct:{user.email}" and row.failures == 1 for row in counters)


def test_the_reflex_ui_resolves_the_user_from_the_handshake_cookie_header(session: Session):
    # given a signed-in user (committed, as the UI reads in its own transaction)
    user = make_user(session)
    signed_in = sign_in_as(session, user)
    session.commit()
    header = f"theme=dark; {auth.SESSION_COOKIE}={signed_in.session_token}; other=1"
    # when the UI resolves the websocket handshake's Cookie header
    current = auth.resolve_session_from_cookie_header(header)
    # then it gets the user; after sign-out it gets nobody
    assert current is not None
    assert current.email == user.email
    assert auth.sign_out_token(session=session, session_token=signed_in.session_token)
    session.commit()
    assert auth.resolve_session_from_cookie_header(header) is None
    assert auth.resolve_session_from_cookie_header("") is None
    assert auth.resolve_session_from_cookie_header(f"{auth.SESSION_COOKIE}=forged") is None


def test_registration_refuses_bad_emails_and_weak_passwords(session: Session):
    with pytest.raises(InvalidInput):
        auth.register(session=session, email="not-an-email", password="purple monkey dishwasher")
    with pytest.raises(InvalidInput):
        auth.register(session=session, email="new@example.com", password="short")
    with pytest.raises(InvalidInput):
        auth.register(session=session, email="new@example.com", password="password1")
    assert session.exec(select(User)).all() == []


def test_registration_of_a_taken_email_reveals_nothing(session: Session, shop_env: Path):
    # given an existing customer
    user = make_user(session)
    # when someone registers with the same email
    result = auth.register(session=session, email=user.email, password="purple monkey dishwasher")
    session.commit()
    # then no second account exists and the owner gets a heads-up by mail
    assert result is None
    assert len(session.exec(select(User).where(User.email == user.email)).all()) == 1
    mails = list((shop_env / "outbox").glob("*.eml"))
    assert len(mails) == 1
    assert "already have" in mails[0].read_text()


def test_parallel_registrations_of_one_email_make_one_account(shop_env: Path, database_url: str):
    # given six sign-ups for the same address at the same moment
    barrier = threading.Barrier(6)
    results: list[object] = []

    def sign_up() -> None:
        barrier.wait()
        try:
            with db.session_scope(database_url) as session:
                results.append(
                    auth.register(
                        session=session, email="twin@example.com", password="twin passphrase 1"
                    )
                )
        except BaseException as exc:  # pragma: no cover - reported below
            results.append(exc)

    threads = [threading.Thread(target=sign_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then none failed, exactly one created the account, and the table holds one row
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len([r for r in results if isinstance(r, User)]) == 1
    with db.session_scope(database_url) as session:
        assert len(session.exec(select(User)).all()) == 1


def test_racing_refreshes_with_one_token_leave_at_most_one_winner(
    shop_env: Path, database_url: str
):
    # given a refresh token sent twice at once (a thief racing the owner)
    with db.session_scope(database_url) as session:
        signed_in = sign_in_as(session, make_user(session))
    barrier = threading.Barrier(2)
    outcomes: list[auth.RefreshOutcome] = []

    def use() -> None:
        barrier.wait()
        with db.session_scope(database_url) as session:
            outcomes.append(
                auth.refresh(session=session, refresh_token=signed_in.tokens.refresh_token)
            )

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then one is treated as reuse and the family is ended: no tokens outlive the race
    assert sum(1 for outcome in outcomes if outcome.reused) == 1
    with db.session_scope(database_url) as session:
        for outcome in outcomes:
            if outcome.tokens is not None:
                token = outcome.tokens.access_token
                assert auth.resolve_access_token(session=session, token=token) is None


@given(junk=st.text(max_size=300), token=st.from_regex(r"[A-Za-z0-9_\-]{43}", fullmatch=True))
def test_the_cookie_header_parser_finds_our_cookie_among_any_junk(junk: str, token: str):
    # whatever else the browser sends, parsing never fails and finds our token when present
    auth.session_token_from_cookie_header(junk)
    header = f"{auth.SESSION_COOKIE}={token}; {junk.replace(';', '')}"
    assert auth.session_token_from_cookie_header(header) == token


def test_spellings_of_one_address_are_one_account(session: Session, shop_env: Path):
    # given alice registered
    first = auth.register(session=session, email="alice@example.com", password=DEFAULT_PASSWORD)
    session.commit()
    assert first is not None
    # when the same address is registered in other spellings: fullwidth letter, trailing dot of
    # the domain, capitals
    spellings = ["ａlice@example.com", "alice@example.com.", "ALICE@Example.com"]
    again = [
        auth.register(session=session, email=spelling, password=DEFAULT_PASSWORD)
        for spelling in spellings
    ]
    session.commit()
    # then no new account exists, and each spelling signs in to alice's
    assert again == [None, None, None]
    assert [u.email for u in session.exec(select(User)).all()] == ["alice@example.com"]
    for spelling in spellings:
        signed_in = auth.sign_in(session=session, email=spelling, password=DEFAULT_PASSWORD)
        assert signed_in is not None
        assert signed_in.user.id == first.id


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("a" * 65 + "@example.com", "too long before the @-sign"),
        ("a" * 300 + "@example.com", "too long before the @-sign"),
        ("a" * 64 + "@" + ".".join(["d" * 61, "e" * 61, "f" * 63]) + ".ca", "too long"),  # 255
        ("bób@exämple.com", "Internationalized characters before the @-sign"),
        ("alice@example.com..", "period"),
    ],
)
def test_addresses_the_shop_cannot_mail_are_refused_on_field_email(
    session: Session, address: str, why: str
):
    # when someone registers with an address over RFC 5321's limits or with a non-ASCII mailbox
    with pytest.raises(InvalidInput) as refused:
        auth.register(session=session, email=address, password=DEFAULT_PASSWORD)
    # then it is refused with the reason, on the email field, and no account exists
    assert refused.value.field == "email"
    assert why in refused.value.message
    assert session.exec(select(User)).all() == []


def test_laptop_and_intranet_mailboxes_are_addresses_but_reserved_names_are_not():
    # given addresses of a shop run on a laptop or an intranet, and of names no mail reaches
    # when they are normalised
    # then localhost, .local and dotless hosts are kept, .invalid and .onion are refused
    assert auth.normalize_email("Admin@LocalHost") == "admin@localhost"
    assert auth.normalize_email("owner@shop.local") == "owner@shop.local"
    assert auth.normalize_email("ops@intranet") == "ops@intranet"
    for reserved in ("x@shop.invalid", "y@market.onion"):
        with pytest.raises(InvalidInput) as refused:
            auth.normalize_email(reserved)
        assert refused.value.field == "email"


def test_the_longest_addresses_rfc_5321_allows_are_accepted(session: Session):
    local = "a" * 64
    longest = local + "@" + ".".join(["d" * 61, "e" * 61, "f" * 62]) + ".ca"  # 254 characters
    assert len(longest) == 254
    for address in (local + "@example.com", longest):
        assert auth.normalize_email(address) == address


def test_an_internationalised_domain_is_stored_and_mailed_in_ascii(
    session: Session, shop_env: Path
):
    # when bob registers with a domain written in unicode
    user = auth.register(session=session, email="Bob@Exämple.com", password=DEFAULT_PASSWORD)
    session.commit()
    # then the account holds the punycode form, which finds it from either spelling
    assert user is not None
    assert user.email == "bob@xn--exmple-cua.com"
    assert auth.find_user(session=session, email="bob@exämple.com").id == user.id  # type: ignore[union-attr]
    # and the confirmation mail is addressed in plain ASCII, no RFC 2047 encoded word
    raw = next((shop_env / "outbox").glob("*.eml")).read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "bob@xn--exmple-cua.com"
    assert b"=?" not in raw.split(b"\n\n", 1)[0]


def test_an_account_stored_under_the_old_rules_still_signs_in(session: Session):
    # given an account whose address the old rule accepted and the new one refuses
    legacy = make_user(session, email="l" * 70 + "@example.com")
    session.commit()
    # when its owner signs in with it, in capitals
    signed_in = auth.sign_in(session=session, email=legacy.email.upper(), password=DEFAULT_PASSWORD)
    # then it is found as before
    assert signed_in is not None
    assert signed_in.user.id == legacy.id


def test_an_account_stored_with_a_unicode_domain_before_the_rule_still_signs_in(
    session: Session,
):
    # given an account the old rule stored with its domain in unicode
    legacy = make_user(session, email="zoë@exämple.com")
    session.commit()
    # when its owner signs in as they always have, then it is found
    signed_in = auth.sign_in(session=session, email="Zoë@Exämple.com", password=DEFAULT_PASSWORD)
    assert signed_in is not None
    assert signed_in.user.id == legacy.id
