"""A valid session cookie does not open the Reflex event channel for another site.

Reflex event handlers read the session from the websocket handshake's Cookie header, so a
page on another origin that opened /_event with the visitor's cookie could act as them
(cross-site websocket hijacking). The handshake is refused on the Origin, whatever the
cookie."""

from __future__ import annotations

import pytest
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect

from shop.services import auth
from tests.factories import make_user, sign_in_as

EVENT_URL = "/_event/?EIO=4&transport=websocket"


@pytest.fixture
def session_cookie(session: Session) -> str:
    user = make_user(session, email="wendy@example.com")
    signed_in = sign_in_as(session, user)
    session.commit()
    return f"{auth.SESSION_COOKIE}={signed_in.session_token}"


def test_the_cookie_is_a_live_session(client, session_cookie):
    # the cookie used below really signs someone in (else the refusal would prove nothing)
    response = client.get("/api/auth/session", headers={"Cookie": session_cookie})
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "wendy@example.com"


@pytest.mark.parametrize("origin", ["http://evil.test", "http://shop.test.evil.test", "null"])
def test_event_websocket_with_a_valid_cookie_refuses_a_foreign_origin(
    client, session_cookie, origin
):
    # when another origin opens the event channel with the visitor's valid cookie
    headers = {"origin": origin, "cookie": session_cookie, "upgrade": "websocket"}
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(EVENT_URL, headers=headers),
    ):
        pass
    # then the handshake is refused (policy violation) before Reflex sees it
    assert refused.value.code == 1008


def test_event_websocket_with_a_valid_cookie_opens_for_the_shop_origin(client, session_cookie):
    headers = {"origin": "http://shop.test", "cookie": session_cookie, "upgrade": "websocket"}
    with client.websocket_connect(EVENT_URL, headers=headers) as ws:
        opening = ws.receive_text()
    assert opening.startswith("0{")
