"""Staff search and date filters at their edges: LIKE wildcards are literal, customers are found
by their orders, dates next to year 1 or 9999 are a 422 naming the field (never a 500), and a
download link with a trailing newline is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from shop.services import backoffice, downloads
from shop.services.errors import InvalidInput
from shop.settings import get_settings
from tests.download_factories import make_purchase
from tests.factories import make_order, make_product, make_refund, make_user, sign_in_as

PAID = datetime(2026, 11, 29, 16, tzinfo=UTC)


def _bearer(session: Session, *roles: str) -> dict[str, str]:
    staff = make_user(session, roles=roles, password=None)
    return {"Authorization": f"Bearer {sign_in_as(session, staff).tokens.access_token}"}


@pytest.fixture
def in_tokyo(monkeypatch: pytest.MonkeyPatch, shop_env: Path) -> None:
    """A shop ahead of UTC: its first day, 0001-01-01, begins before UTC's first instant."""
    monkeypatch.setenv("SHOP_TIME_ZONE", "Asia/Tokyo")
    get_settings.cache_clear()


# --- F3: LIKE wildcards ------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["%", "_", "%%", "a%", "_@"])
def test_percent_and_underscore_are_searched_for_not_wildcards(
    api_client: TestClient, session: Session, q: str
):
    # given staff and customers with orders, none with % or _ in an email or order number
    headers = _bearer(session, "admin")
    product = make_product(session, name="Audit Ebook")
    for n in range(3):
        buyer = make_user(session, email=f"buyer{n}@example.com")
        make_order(session, paid_at=PAID, items=[(product, 1, 1000)], user=buyer)
    session.commit()
    # when staff search orders and customers for the wildcard characters
    orders = api_client.get("/api/admin/orders", params={"q": q}, headers=headers)
    customers = api_client.get("/api/admin/customers", params={"q": q}, headers=headers)
    # then nothing matches: the characters are taken literally
    assert orders.status_code == 200, orders.text
    assert orders.json()["total"] == 0
    assert customers.status_code == 200, customers.text
    assert customers.json()["total"] == 0


def test_a_literal_underscore_still_finds_an_email_that_has_one(session: Session):
    make_user(session, email="first_last@example.com")
    make_user(session, email="firstxlast@example.com")
    rows, total = backoffice.search_customers(session=session, q="t_l")
    assert total == 1
    assert [row.email for row in rows] == ["first_last@example.com"]


# --- F8: customers by their orders ---------------------------------------------------------------


def test_customers_are_found_by_an_order_number_payment_intent_or_refund_id(
    api_client: TestClient, session: Session
):
    # given a buyer with a refunded order paid by a PaymentIntent, and another customer
    headers = _bearer(session, "support")
    product = make_product(session, name="Audit Ebook")
    buyer = make_user(session, email="buyer@example.com")
    make_user(session, email="someone@example.com")
    order = make_order(session, paid_at=PAID, items=[(product, 1, 1000)], user=buyer)
    order.stripe_payment_intent_id = "pi_FindTheBuyer123"
    refund = make_refund(session, order, amount=500, at=PAID)
    session.commit()
    assert order.number is not None

    def found(q: str) -> list[str]:
        answer = api_client.get("/api/admin/customers", params={"q": q}, headers=headers)
        assert answer.status_code == 200, answer.text
        return [item["email"] for item in answer.json()["items"]]

    # when support searches customers by the order's number, its PaymentIntent or its refund
    # then the buyer is found, and only the buyer
    assert found(order.number) == ["buyer@example.com"]
    assert found(order.number.lower()) == ["buyer@example.com"]
    assert found("pi_FindTheBuyer123") == ["buyer@example.com"]
    assert found(refund.stripe_refund_id) == ["buyer@example.com"]
    # and an unknown Stripe id finds nobody, an email still finds its owner
    assert found("pi_nobody") == []
    assert found("someone@") == ["someone@example.com"]


# --- F7: dates at the ends of the calendar --------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_to": "9999-12-31"}, "date_to"),
        ({"date_from": "0001-01-01T00:00:00+14:00"}, "date_from"),
        ({"date_to": "9999-12-31T23:59:59-10:00"}, "date_to"),
        ({"date_from": "2026-01-01", "date_to": "9999-12-31"}, "date_to"),
    ],
)
def test_order_dates_beyond_the_calendar_are_a_422_naming_the_field(
    api_client: TestClient, session: Session, params: dict[str, str], field: str
):
    headers = _bearer(session, "admin")
    session.commit()
    answer = api_client.get("/api/admin/orders", params=params, headers=headers)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)
    assert error["message"]


def test_the_first_day_in_a_zone_ahead_of_utc_is_refused_not_a_crash(
    in_tokyo: None, session: Session
):
    # given a shop in Tokyo, when the admin page's Since box asks for 0001-01-01
    # then the service refuses it as bad input (the page shows the message)
    with pytest.raises(InvalidInput) as caught:
        backoffice.search_orders(session=session, date_from=date(1, 1, 1))
    assert caught.value.field == "date_from"
    with pytest.raises(InvalidInput):
        backoffice.search_orders(session=session, date_to=date(9999, 12, 31))


def test_order_dates_near_the_ends_that_exist_still_filter(
    api_client: TestClient, session: Session
):
    headers = _bearer(session, "admin")
    product = make_product(session, name="Audit Ebook")
    make_order(session, paid_at=PAID, items=[(product, 1, 1000)])
    session.commit()
    answer = api_client.get(
        "/api/admin/orders",
        params={"date_from": "0001-01-01", "date_to": "9999-12-30"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=9999-12-01&to=9999-12-31", "to"),
        ("to=0001-01-05", "to"),
    ],
)
def test_analytics_days_beyond_the_calendar_are_a_422_naming_the_field(
    api_client: TestClient, session: Session, query: str, field: str
):
    headers = _bearer(session, "admin")
    session.commit()
    answer = api_client.get(f"/api/admin/analytics?{query}", headers=headers)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)


def test_analytics_first_day_in_a_zone_ahead_of_utc_is_a_422(
    in_tokyo: None, api_client: TestClient, session: Session
):
    headers = _bearer(session, "admin")
    session.commit()
    answer = api_client.get("/api/admin/analytics?from=0001-01-01&to=0001-01-10", headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "from"


# --- F4: a download link with a trailing newline ---------------------------------------------------


def test_a_download_link_with_a_trailing_newline_is_refused(
    api_client: TestClient, session: Session, shop_env: Path
):
    # given a customer's usable link
    owner = make_user(session)
    headers = {"Authorization": f"Bearer {sign_in_as(session, owner).tokens.access_token}"}
    purchase = make_purchase(session, owner, data=b"%PDF-1.4 hello", limit=3)
    session.commit()
    assert owner.id is not None
    link = downloads.issue_link(session=session, user_id=owner.id, grant_id=purchase.grant_id)
    # when the link is followed with a newline after it
    answer = api_client.get(link.path + "%0a", headers=headers)
    # then it is an invalid link, and nothing counted
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "invalid_link"
    session.refresh(purchase.grant)
    assert purchase.grant.download_count == 0
    # while the link itself works
    assert api_client.get(link.path, headers=headers).status_code == 200
