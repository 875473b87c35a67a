"""Checkout, orders and promo codes (shop/api/routes/payments.py) with ids and amounts no
database row can hold: a path naming one is 404, a body or query field holding one is 422."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from shop.models import PromoCode
from tests.factories import make_user, sign_in_as

BEYOND = "99999999999999999999999"  # more than 2**63 - 1
HUGE = 2**70


def _bearer(session: Session, *roles: str) -> dict[str, str]:
    user = make_user(session, roles=roles, password=None)
    token = sign_in_as(session, user).tokens.access_token
    session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "path",
    [
        f"/api/payments/status/{BEYOND}",
        "/api/payments/status/²",
        f"/api/orders/{BEYOND}",
        "/api/orders/²",
    ],
)
def test_an_order_reference_no_row_can_have_is_404(
    api_client: TestClient, session: Session, path: str
):
    # given a signed-in customer (staff would see every order: the same answer)
    for headers in (_bearer(session, "customer"), _bearer(session, "admin")):
        # when they ask for an order by an id no row can have
        response = api_client.get(path, headers=headers)
        # then it is not found
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("cursor", ["99999999999999999999", "²", "0"])
def test_an_order_list_cursor_no_row_can_have_is_422(
    api_client: TestClient, session: Session, cursor: str
):
    response = api_client.get(
        "/api/orders", params={"cursor": cursor}, headers=_bearer(session, "customer")
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"percent_off": 10, "product_ids": [HUGE]}, "product_ids.0"),
        ({"percent_off": 10, "min_subtotal": HUGE}, "min_subtotal"),
        ({"amount_off": HUGE, "currency": "cad"}, "amount_off"),
        ({"amount_off": 2**31, "currency": "cad"}, "amount_off"),  # beyond PostgreSQL's INTEGER
        ({"percent_off": 10, "max_redemptions": HUGE}, "max_redemptions"),
    ],
)
def test_a_promo_code_with_a_number_no_column_can_hold_is_422_and_not_created(
    api_client: TestClient, session: Session, fields: dict[str, object], field: str
):
    # when an admin creates a code with one number out of the database's range
    response = api_client.post(
        "/api/admin/promo-codes",
        json={"code": "TOOBIG", **fields},
        headers=_bearer(session, "admin"),
    )
    # then the field is named and no code exists
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)
    session.expire_all()
    assert session.exec(select(func.count()).select_from(PromoCode)).one() == 0


def test_withdrawing_a_promo_code_no_row_can_have_is_404(api_client: TestClient, session: Session):
    response = api_client.put(
        f"/api/admin/promo-codes/{BEYOND}",
        json={"active": False},
        headers=_bearer(session, "admin"),
    )
    assert response.status_code == 404, response.text
