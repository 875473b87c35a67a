"""Behind a reverse proxy the customer's address comes from X-Forwarded-For, believed only from
the proxies in FORWARDED_ALLOW_IPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from sqlmodel import select
from starlette.testclient import TestClient

from shop.models import AuditLog
from shop.settings import Settings, get_settings
from tests.factories import DEFAULT_PASSWORD, make_user

PROXY = ("172.18.0.1", 50000)
CUSTOMER = "203.0.113.7"
SPOOFED = "198.51.100.9"


@pytest.fixture
def through_proxy(shop_env, web_app, fake_build, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The production app, reached from the proxy's address."""
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(fake_build.parent.parent))
    with TestClient(web_app, base_url="http://shop.test", client=PROXY) as client:
        yield client


def _sign_in_ip(client: TestClient, session, email: str) -> str | None:
    """Sign in with the header nginx sends: what the client claimed (here a made-up address),
    then the address nginx saw the connection come from."""
    answer = client.post(
        "/api/auth/login",
        json={"email": email, "password": DEFAULT_PASSWORD},
        headers={"X-Forwarded-For": f"{SPOOFED}, {CUSTOMER}", "X-Forwarded-Proto": "https"},
    )
    assert answer.status_code == 200, answer.text
    session.expire_all()
    return session.exec(
        select(AuditLog.ip).where(AuditLog.action == "auth.sign_in").order_by(AuditLog.id.desc())  # type: ignore[union-attr]
    ).first()


def test_the_customers_address_is_taken_from_a_trusted_proxys_header(
    through_proxy, session, monkeypatch: pytest.MonkeyPatch
):
    # given a shop that trusts the proxy network, and a customer
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1, 172.16.0.0/12")
    get_settings.cache_clear()
    user = make_user(session, email="proxied@example.com")
    session.commit()

    # when the customer signs in through the proxy
    recorded = _sign_in_ip(through_proxy, session, user.email)

    # then the audit log names the address the proxy saw, neither the proxy's own nor the one
    # the client made up
    assert recorded == CUSTOMER


def test_forwarded_headers_are_ignored_unless_their_sender_is_trusted(
    through_proxy, session, monkeypatch: pytest.MonkeyPatch
):
    # given a shop that trusts no proxy (the default)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    get_settings.cache_clear()
    user = make_user(session, email="direct@example.com")
    session.commit()

    # when someone sends X-Forwarded-For with their sign-in
    recorded = _sign_in_ip(through_proxy, session, user.email)

    # then the connection's own address is what counts
    assert recorded == PROXY[0]


def test_a_proxy_list_that_is_not_addresses_is_refused_at_start():
    with pytest.raises(ValidationError, match="'nginx' is not an IP address or network"):
        Settings(forwarded_allow_ips="127.0.0.1, nginx")
    assert Settings(forwarded_allow_ips=" 10.0.0.1 ,::1 ").forwarded_allow_ips == "10.0.0.1,::1"
