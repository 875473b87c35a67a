"""Text that no database column can keep (the NUL character, which PostgreSQL's text types
refuse, and unpaired surrogates, which are not UTF-8) is a 422 before any handler runs,
whoever sends it and wherever it is: path, query, JSON body or form. Runs on both databases."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from shop.api.middleware import UNSTORABLE_TEXT_MESSAGE
from shop.models import Product, User
from tests.factories import make_product, make_user, sign_in_as

SAME_ORIGIN = {"Origin": "http://shop.test"}
JSON = {"Content-Type": "application/json", **SAME_ORIGIN}


def _refused(response) -> bool:
    return response.status_code == 422 and response.json() == {
        "error": {"code": "invalid_input", "message": UNSTORABLE_TEXT_MESSAGE}
    }


def _count(session: Session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


@pytest.mark.parametrize(
    "url",
    [
        "/api/products/a%00b",
        "/api/products?category=a%00b",
        "/api/products?q=%00",
        "/api/payments/status/a%00b",
    ],
)
def test_a_nul_in_the_address_is_422_not_a_500(api_client: TestClient, url: str):
    # when anyone asks for an address holding a NUL
    response = api_client.get(url)
    # then it is refused plainly
    assert _refused(response), response.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "new@example.com", "password": "a long passphrase", "name": "a\\u0000b"}',
        b'{"email": "new@example.com", "password": "a long passphrase", "name": "\\ud800"}',
        b'{"email": "new@example.com", "password": "a long passphrase", "name": "\\uDFFFx"}',
        b'{"email": "new\\u0000@example.com", "password": "a long passphrase"}',
    ],
)
def test_a_json_body_holding_unstorable_text_is_422_and_changes_nothing(
    api_client: TestClient, session: Session, body: bytes
):
    # given no accounts yet
    before = _count(session, User)
    # when someone registers with a NUL or a lone surrogate somewhere in the body
    response = api_client.post("/api/auth/register", content=body, headers=JSON)
    # then it is refused and no account is made
    assert _refused(response), response.text
    assert _count(session, User) == before


def test_escaped_text_that_can_be_stored_is_accepted(api_client: TestClient, session: Session):
    # when the body spells accented letters and a paired surrogate (an emoji) as \\u escapes,
    # as JSON encoders that write ASCII only do
    body = (
        b'{"email": "erable@example.com", "password": "a long passphrase", '
        b'"name": "\\u00c9rable \\ud83c\\udf41 a\\\\u0000b"}'
    )
    response = api_client.post("/api/auth/register", content=body, headers=JSON)
    # then the account is made with that name (the escaped backslash is just text)
    assert response.status_code == 201, response.text
    session.expire_all()
    user = session.exec(select(User).where(User.email == "erable@example.com")).one()
    assert user.name == "\u00c9rable \U0001f341 a\\u0000b"


def test_a_staff_write_with_a_lone_surrogate_is_422_and_creates_nothing(
    api_client: TestClient, session: Session
):
    # given a signed-in admin and one product
    admin = make_user(session, roles=("admin",))
    make_product(session)
    session.commit()
    token = sign_in_as(session, admin).tokens.access_token
    session.commit()
    products = _count(session, Product)
    # when a product is created with a lone surrogate in its name
    response = api_client.post(
        "/api/products",
        content=b'{"name": "Guide \\ud800", "price": {"amount": 500, "currency": "cad"}}',
        headers={**JSON, "Authorization": f"Bearer {token}"},
    )
    # then it is refused and no product is made
    assert _refused(response), response.text
    assert _count(session, Product) == products


def test_a_form_post_holding_a_nul_is_422(api_client: TestClient):
    response = api_client.post(
        "/api/auth/login/form",
        content=b"email=a%00%40example.com&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded", **SAME_ORIGIN},
    )
    assert _refused(response), response.text


def test_an_oversized_json_body_is_still_a_413_in_the_error_shape(api_client: TestClient):
    # when a JSON body over API_MAX_BODY_BYTES comes without a Content-Length (chunked)
    def chunks():
        for _ in range(3):
            yield b" " * (1024 * 1024)

    response = api_client.post("/api/cart/items", content=chunks(), headers=JSON)
    # then the answer is the usual 413, not a 500
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
