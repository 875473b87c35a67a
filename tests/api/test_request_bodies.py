"""Request bodies that are not what an endpoint reads: JSON that does not parse is a plain
`invalid_json` 400; a body over API_MAX_BODY_BYTES is a 413 in the JSON error shape before
anything is parsed; uploads keep their own, larger limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from shop.models import Cart, ProductFile
from shop.settings import get_settings
from tests.factories import make_product, make_user, sign_in_as

SAME_ORIGIN = {"Origin": "http://shop.test"}
JSON = {"Content-Type": "application/json", **SAME_ORIGIN}


def _carts(session: Session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(Cart)).one()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"items": [', "at character 11"),
        (b"{'product_id': 1}", "at character 1"),
        (b"   ", "at character 3"),
        (b'{\x00"\x00', "at character 1"),  # read as UTF-16, then not JSON either
        (b'{"product_id": "\xff"}', "it is not UTF-8 text"),
    ],
)
def test_a_body_that_is_not_json_is_400_invalid_json_without_a_bogus_field(
    api_client: TestClient, session: Session, body: bytes, where: str
):
    # when a JSON endpoint gets a body that does not parse
    response = api_client.post("/api/cart/items", content=body, headers=JSON)
    # then it says so plainly, with no position passed off as a field name, and changes nothing
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": {
            "code": "invalid_json",
            "message": f"The request body is not valid JSON ({where}).",
        }
    }
    assert _carts(session) == 0


def test_other_validation_messages_are_unchanged(api_client: TestClient):
    response = api_client.post("/api/cart/items", json={"quantity": 2}, headers=SAME_ORIGIN)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == "product_id"
    assert error["message"] == "product_id: Field required"
    assert error["details"] == [{"field": "product_id", "message": "Field required"}]


def test_a_5_mb_json_body_is_413_in_the_json_shape_and_changes_nothing(
    api_client: TestClient, session: Session
):
    # given a syntactically fine body padded to 5 MB
    body = b'{"product_id": 1, "quantity": 1, "pad": "' + b"x" * 5_000_000 + b'"}'
    # when it is posted (with its Content-Length)
    response = api_client.post("/api/cart/items", content=body, headers=JSON)
    # then it is refused as too large, with the JSON error shape, and no cart was made
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert _carts(session) == 0


def test_a_large_body_without_content_length_is_cut_off_at_the_limit(api_client: TestClient):
    # given a 4 MiB body sent in chunks, with no Content-Length to go by
    def chunks() -> Iterator[bytes]:
        yield b'{"items": ['
        for _ in range(64):
            yield b" " * 65536
        yield b"]}"

    # when it is posted to the checkout
    response = api_client.post("/api/payments/intent", content=chunks(), headers=JSON)
    # then it is refused as too large once the limit is passed
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"


def test_form_bodies_are_capped_too(api_client: TestClient):
    response = api_client.post(
        "/api/auth/login/form",
        data={"email": "a@example.com", "password": "x" * 2_000_000},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_limit_is_the_api_max_body_bytes_setting(
    shop_env, monkeypatch: pytest.MonkeyPatch, session: Session
):
    # given a shop configured for bodies of at most 2 KiB
    from shop.api.app import create_api_app

    monkeypatch.setenv("API_MAX_BODY_BYTES", "2048")
    get_settings.cache_clear()
    product = make_product(session)
    session.commit()
    with TestClient(create_api_app(), base_url="http://shop.test") as client:
        # when bodies just under and over it are posted
        small = {"product_id": product.id, "quantity": 1, "pad": "x" * 1900}
        large = {"product_id": product.id, "quantity": 1, "pad": "x" * 2100}
        accepted = client.post("/api/cart/items", json=small, headers=SAME_ORIGIN)
        refused = client.post("/api/cart/items", json=large, headers=SAME_ORIGIN)
    # then the first is read and the second refused
    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 413
    assert refused.json()["error"]["message"] == (
        "The request body is larger than the limit of 2,048 bytes."
    )


def test_a_product_file_larger_than_the_json_limit_still_uploads(
    api_client: TestClient, session: Session
):
    # given an admin and a product
    admin = make_user(session, roles=("admin",), password=None)
    headers = {"Authorization": f"Bearer {sign_in_as(session, admin).tokens.access_token}"}
    product = make_product(session)
    session.commit()
    data = b"PK\x03\x04" + b"\x00" * (3 * 1024 * 1024)
    # when a 3 MiB file is uploaded (its own limit is UPLOAD_MAX_FILE_BYTES)
    response = api_client.post(
        f"/api/products/{product.id}/files",
        files={"file": ("pack.zip", data, "application/zip")},
        headers=headers,
    )
    # then it is stored whole
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(data)
    session.expire_all()
    assert session.exec(select(func.count()).select_from(ProductFile)).one() == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/payments/refund", {"order_id": True, "amount": True}, "order_id"),
        ("post", "/api/payments/refund", {"order_id": "{order}", "amount": "5"}, "amount"),
        ("post", "/api/payments/refund", {"order_id": "{order}", "amount": 7.0}, "amount"),
        ("put", "/api/admin/promo-codes/{promo}", {"active": "no"}, "active"),
        ("post", "/api/admin/promo-codes", {"code": "TEXTNUM", "percent_off": "10"}, "percent_off"),
        ("post", "/api/admin/promo-codes", {"code": "BOOLS", "amount_off": True}, "amount_off"),
        ("post", "/api/cart/items", {"product_id": "{product}", "quantity": "2"}, "quantity"),
        ("post", "/api/cart/items", {"product_id": True}, "product_id"),
    ],
)
def test_text_or_true_where_a_number_or_flag_is_wanted_is_422_and_changes_nothing(
    api_client: TestClient, session: Session, method: str, path: str, body: dict, field: str
):
    # given an admin, a product, a paid order of it and an active promo code
    from shop.models import Order, PromoCode

    admin = make_user(session, roles=("admin",), password=None)
    headers = {"Authorization": f"Bearer {sign_in_as(session, admin).tokens.access_token}"}
    product = make_product(session)
    order = Order(status="paid", total_amount=1000, subtotal_amount=1000, user_id=admin.id)
    promo = PromoCode(code="ACTIVE10", percent_off="10")
    session.add_all([order, promo])
    session.commit()
    ids = {"{order}": order.id, "{promo}": promo.id, "{product}": product.id}
    sent = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    # when a value of the wrong JSON type is sent (true for 1, "5" for 5, 7.0 for 7)
    response = getattr(api_client, method)(
        path.replace("{promo}", str(promo.id)), json=sent, headers=headers
    )
    # then it is refused naming the field, and nothing changed
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    session.expire_all()
    assert session.get(Order, order.id).status == "paid"  # type: ignore[union-attr]
    assert session.get(PromoCode, promo.id).is_active is True  # type: ignore[union-attr]
    assert session.exec(select(func.count()).select_from(PromoCode)).one() == 1
    assert _carts(session) == 0
