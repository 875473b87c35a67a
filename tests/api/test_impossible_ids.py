"""Ids no database row can have (beyond 2**63 - 1, zero, negative, "²"): a path naming one is
404 like any missing object, a body or query field holding one is 422, and nothing changes.
They used to reach SQLite and come back as 500s (`OverflowError`)."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from shop.models import AuditLog, Cart, Category, Product
from tests.factories import make_product, make_user, sign_in_as

BEYOND = "99999999999999999999999"  # more than 2**63 - 1
HUGE = 2**70
SAME_ORIGIN = {"Origin": "http://shop.test"}


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    user = make_user(session, email="root@example.com", roles=("admin",), password=None)
    token = sign_in_as(session, user).tokens.access_token
    session.commit()
    return {"Authorization": f"Bearer {token}", **SAME_ORIGIN}


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/products/{BEYOND}"),
        ("GET", "/api/products/²"),
        ("GET", f"/api/admin/products/{BEYOND}"),
        ("GET", "/api/admin/products/0"),
        ("GET", "/api/admin/products/-1"),
        ("PUT", f"/api/products/{BEYOND}"),
        ("DELETE", f"/api/products/{BEYOND}"),
        ("DELETE", f"/api/products/1/files/{BEYOND}"),
        ("POST", f"/api/products/{BEYOND}/files"),
        ("POST", f"/api/products/{BEYOND}/image"),
        ("PUT", f"/api/admin/categories/{BEYOND}"),
        ("DELETE", f"/api/admin/categories/{BEYOND}"),
        ("PUT", f"/api/cart/items/{BEYOND}"),
        ("DELETE", f"/api/cart/items/{BEYOND}"),
        ("GET", f"/api/orders/{BEYOND}/receipt.pdf"),
        ("GET", "/api/orders/²/receipt.pdf"),
        ("GET", f"/api/admin/orders/{BEYOND}"),
        ("POST", f"/api/admin/orders/{BEYOND}/resend-receipt"),
        ("POST", f"/api/admin/orders/{BEYOND}/resend-downloads"),
        ("POST", f"/api/admin/grants/{BEYOND}/reset"),
        ("POST", f"/api/admin/grants/{BEYOND}/extend"),
        ("GET", f"/api/admin/customers/{BEYOND}"),
        ("POST", f"/api/admin/customers/{BEYOND}/sessions/end"),
        ("GET", f"/api/admin/users/{BEYOND}"),
        ("PUT", f"/api/admin/users/{BEYOND}/roles/support"),
        ("DELETE", f"/api/admin/users/{BEYOND}/roles/support"),
        ("POST", f"/api/admin/users/{BEYOND}/disable"),
        ("POST", f"/api/admin/users/{BEYOND}/enable"),
    ],
)
def test_a_path_naming_an_id_no_row_can_have_is_404(
    api_client: TestClient, session: Session, admin: dict[str, str], method: str, path: str
):
    # given an admin (who may call every one of these) and a catalog
    make_product(session)
    session.commit()
    audited = _count(session, AuditLog)
    # when the path names an id that no row can have
    body = {"name": "Renamed", "quantity": 1, "days": 3}
    response = api_client.request(
        method, path, json=body if method in ("PUT", "POST") else None, headers=admin
    )
    # then it is not found, in the JSON error shape, and nothing was written
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert _count(session, AuditLog) == audited
    assert _count(session, Cart) == 0


def test_anonymous_callers_still_get_401_before_an_impossible_id_is_looked_at(
    api_client: TestClient,
):
    response = api_client.get(f"/api/admin/orders/{BEYOND}")
    assert response.status_code == 401


def test_an_impossible_product_id_in_the_cart_body_is_422_and_makes_no_cart(
    api_client: TestClient, session: Session
):
    # given an anonymous visitor without a cart
    # when they add a product whose id no row can have
    response = api_client.post(
        "/api/cart/items", json={"product_id": HUGE, "quantity": 1}, headers=SAME_ORIGIN
    )
    # then the field is named and no cart (nor cookie) is made
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "product_id")
    assert _count(session, Cart) == 0
    assert "set-cookie" not in response.headers


def test_the_add_to_cart_form_sends_an_impossible_product_back_as_not_found(
    api_client: TestClient, session: Session
):
    # when the plain-HTML form posts a product id no row can have
    response = api_client.post(
        "/api/cart/items/form",
        data={"product_id": str(HUGE), "next": "/products"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    # then it goes back like for any product not for sale, and no cart is kept
    assert response.status_code == 303
    assert response.headers["location"] == "/products?cart_error=not_found"
    assert _count(session, Cart) == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/payments/refund", {"order_id": HUGE}, "order_id"),
        ("PUT", "/api/admin/categories/order", {"ordered_ids": [HUGE]}, "ordered_ids.0"),
        ("GET", f"/api/admin/orders?offset={BEYOND}", None, "offset"),
        ("GET", f"/api/admin/customers?offset={BEYOND}", None, "offset"),
        ("GET", f"/api/admin/users?offset={BEYOND}", None, "offset"),
        ("GET", f"/api/admin/audit?before_id={BEYOND}", None, "before_id"),
    ],
)
def test_an_impossible_number_in_a_body_or_query_is_422_naming_the_field(
    api_client: TestClient,
    session: Session,
    admin: dict[str, str],
    method: str,
    path: str,
    body: dict[str, object] | None,
    field: str,
):
    # when an admin sends a number beyond what the database holds
    response = api_client.request(method, path, json=body, headers=admin)
    # then it is invalid input naming the field
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)


def test_a_category_named_by_an_impossible_id_is_422_and_the_product_keeps_its_own(
    api_client: TestClient, session: Session, admin: dict[str, str]
):
    # given a product without a category
    product = make_product(session)
    session.commit()
    # when an admin moves it to "category 99999999999999999999999"
    response = api_client.put(
        f"/api/products/{product.id}", json={"category": BEYOND}, headers=admin
    )
    # then that category is not found, as a problem with the field, and nothing changed
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "category"
    session.expire_all()
    assert session.get(Product, product.id).category_id is None  # type: ignore[union-attr]
    assert _count(session, Category) == 0


@pytest.mark.parametrize("q", [BEYOND, "²"])
def test_searching_orders_for_an_impossible_id_finds_none(
    api_client: TestClient, admin: dict[str, str], q: str
):
    response = api_client.get("/api/admin/orders", params={"q": q}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


@pytest.mark.parametrize("path", ["/api/products", "/api/admin/products"])
def test_a_forged_cursor_past_any_id_is_refused_as_foreign(
    api_client: TestClient, admin: dict[str, str], path: str
):
    # given a cursor made like the API's own but holding an id no row can have
    cursor = base64.urlsafe_b64encode(f"p:{BEYOND}".encode()).decode().rstrip("=")
    # when a listing is asked for the page after it
    response = api_client.get(path, params={"cursor": cursor}, headers=admin)
    # then it is a cursor this API never gave out
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "cursor"
