"""GET /api/admin/orders?date_from=…&date_to=…: a day is included whole, as on /admin/orders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from shop.pages.admin_orders import AdminOrdersState
from shop.services.auth import SESSION_COOKIE
from tests.factories import make_order, make_product, make_user, sign_in_as
from tests.state.harness import page_state, run


def _orders_around_the_29th(session: Session) -> dict[str, int]:
    product = make_product(session, name="Audit Ebook")
    ids = {}
    for name, moment in {
        "before": datetime(2026, 11, 28, 23, 59, 59, tzinfo=UTC),
        "first": datetime(2026, 11, 29, 0, 0, 0, tzinfo=UTC),
        "last": datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC),
        "after": datetime(2026, 11, 30, 0, 0, 0, tzinfo=UTC),
    }.items():
        order = make_order(session, paid_at=moment, items=[(product, 1, 1000)], created_at=moment)
        assert order.id is not None
        ids[name] = order.id
    return ids


def test_a_date_only_date_to_includes_its_day_as_the_until_box_does(
    api_client: TestClient, session: Session
):
    # given staff and orders placed around 29 November
    staff = make_user(session, roles=("support",))
    signed = sign_in_as(session, staff)
    headers = {"Authorization": f"Bearer {signed.tokens.access_token}"}
    ids = _orders_around_the_29th(session)
    session.commit()

    def listed(**params: str) -> set[int]:
        answer = api_client.get("/api/admin/orders", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["items"]}

    # when staff ask the API for the 29th, then its whole day is included
    on_the_29th = {ids["first"], ids["last"]}
    assert listed(date_from="2026-11-29", date_to="2026-11-29") == on_the_29th
    assert listed(date_to="2026-11-29") == on_the_29th | {ids["before"]}
    # and a date with a time includes that instant
    assert listed(date_to="2026-11-29T00:00:00Z") == {ids["before"], ids["first"]}
    assert listed(date_from="2026-11-29T23:59:59Z") == {ids["last"], ids["after"]}

    # when staff filter /admin/orders by the same day, then the page finds the same orders
    state = page_state(
        AdminOrdersState,
        url="/admin/orders?since=2026-11-29&until=2026-11-29",
        cookie=f"{SESSION_COOKIE}={signed.session_token}",
    )
    run(state.load())
    assert {int(row["id"]) for row in state.rows} == on_the_29th


@pytest.mark.parametrize("value", ["2026-11-31", "yesterday", "29/11/2026"])
def test_a_bad_date_is_a_422_naming_the_field(api_client: TestClient, session: Session, value: str):
    staff = make_user(session, roles=("support",), password=None)
    headers = {"Authorization": f"Bearer {sign_in_as(session, staff).tokens.access_token}"}
    session.commit()
    answer = api_client.get("/api/admin/orders", params={"date_to": value}, headers=headers)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "date_to")
