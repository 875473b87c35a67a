"""Signing in keeps where the visitor was going: the whole address, query string included."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from shop.pages.auth_pages import LoginState
from shop.pages.checkout import CheckoutSuccessState
from tests.state.harness import page_state, run


def _redirect_path(answer: Any) -> str:
    args = {str(name): value for name, value in getattr(answer, "args", ())}
    return args["path"]._var_value


def test_the_success_page_sends_a_visitor_to_sign_in_and_back_with_its_query_string():
    # given a visitor without a session on a success page naming an order
    state = page_state(CheckoutSuccessState, url="/checkout/success?order=ORD-ABCD-EFGH")

    # when it loads, they are sent to sign in
    target = _redirect_path(run(state.load()))

    # then `next` is the whole page address, query string included
    parts = urlsplit(target)
    assert parts.path == "/login"
    assert parse_qs(parts.query)["next"] == ["/checkout/success?order=ORD-ABCD-EFGH"]

    # and the sign-in page posts that address back as where to go
    login = page_state(LoginState, url=target)
    login.load()
    assert login.next_path == "/checkout/success?order=ORD-ABCD-EFGH"


def test_the_sign_in_page_keeps_only_a_local_next():
    login = page_state(LoginState, url="/login?next=https%3A%2F%2Fevil.example%2F")
    login.load()
    assert login.next_path == "/account"


def test_a_visitor_signed_in_already_is_told_so_on_the_sign_in_page(session):
    # given a customer signed in
    from shop.services.auth import SESSION_COOKIE
    from tests.factories import make_user, sign_in_as

    user = make_user(session, roles=("customer",), email="walt@example.com")
    token = sign_in_as(session, user).session_token
    session.commit()
    login = page_state(LoginState, url="/login", cookie=f"{SESSION_COOKIE}={token}")
    # when they open the sign-in page (which, as every page, refreshes the header's session)
    run(login.load_session())
    login.load()
    # then it says whose session this is, and that signing in switches accounts
    assert login.signed_in_note == (
        "You are signed in as walt@example.com. Signing in here switches accounts."
    )
    # and a visitor who is not signed in sees no such note
    stranger = page_state(LoginState, url="/login")
    run(stranger.load_session())
    assert stranger.signed_in_note == ""
