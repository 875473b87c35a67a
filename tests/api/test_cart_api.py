"""The cart over HTTP: anonymous carts by an HttpOnly cookie, account carts, merge at sign-in."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from shop.models import Cart
from shop.services.cart import CART_COOKIE, hash_cart_token
from tests.factories import DEFAULT_PASSWORD, make_product, make_user, sign_in_as

SAME_ORIGIN = {"Origin": "http://shop.test"}


def _cart_cookie_header(response) -> str:
    headers = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    found = [h for h in headers if h.startswith(f"{CART_COOKIE}=")]
    assert len(found) == 1, headers
    return found[0]


def test_an_anonymous_visitor_gets_a_cart_by_an_httponly_cookie_stored_hashed(
    api_client: TestClient, session: Session
):
    # given a product for sale
    product = make_product(session, price_amount=1250)
    session.commit()
    # when an anonymous visitor adds two of it
    response = api_client.post(
        "/api/cart/items", json={"product_id": product.id, "quantity": 2}, headers=SAME_ORIGIN
    )
    # then the cart answers with catalog prices and a cookie scripts cannot read
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["item_count"] == 2
    assert body["subtotal"] == 2500
    assert body["items"][0]["unit_amount"] == 1250
    cookie = _cart_cookie_header(response).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    token = api_client.cookies.get(CART_COOKIE)
    assert token
    # and only the token's hash is stored
    session.expire_all()
    carts = session.exec(select(Cart)).all()
    assert [c.token_hash for c in carts] == [hash_cart_token(token)]
    # and the same cookie finds the same cart
    assert api_client.get("/api/cart").json()["item_count"] == 2


def test_quantity_change_and_removal_and_a_stranger_sees_an_empty_cart(
    api_client: TestClient, session: Session
):
    # given an anonymous cart with two products
    first, second = make_product(session), make_product(session)
    session.commit()
    for product in (first, second):
        api_client.post(
            "/api/cart/items", json={"product_id": product.id}, headers=SAME_ORIGIN
        ).raise_for_status()
    # when one line's quantity is set to 3 and the other removed
    changed = api_client.put(
        f"/api/cart/items/{first.id}", json={"quantity": 3}, headers=SAME_ORIGIN
    )
    removed = api_client.delete(f"/api/cart/items/{second.id}", headers=SAME_ORIGIN)
    # then the cart holds three of the first only
    assert changed.status_code == 200
    assert removed.json()["items"] == [
        {**changed.json()["items"][0], "quantity": 3, "amount": 3 * first.price_amount}
    ]
    # and a visitor without the cookie (or with a forged one) sees an empty cart
    api_client.cookies.clear()
    assert api_client.get("/api/cart").json()["items"] == []
    api_client.cookies.set(CART_COOKIE, "forged")
    assert api_client.get("/api/cart").json()["items"] == []


def test_bad_cart_input_is_refused_with_a_json_error_and_changes_nothing(
    api_client: TestClient, session: Session
):
    # given a retired product and a subscription
    retired = make_product(session, is_active=False)
    subscription = make_product(session, kind="subscription", interval="month")
    session.commit()
    # when they are added, or a silly quantity is asked for
    answers = [
        api_client.post("/api/cart/items", json={"product_id": retired.id}, headers=SAME_ORIGIN),
        api_client.post(
            "/api/cart/items", json={"product_id": subscription.id}, headers=SAME_ORIGIN
        ),
        api_client.post(
            "/api/cart/items",
            json={"product_id": subscription.id, "quantity": 0},
            headers=SAME_ORIGIN,
        ),
    ]
    # then each is a 4xx with an error body, and no cart has any line
    assert [a.status_code for a in answers] == [404, 422, 422]
    assert all("error" in a.json() for a in answers)
    assert api_client.get("/api/cart").json()["item_count"] == 0


def test_sold_out_and_price_changes_are_shown_not_charged(api_client: TestClient, session):
    # given a cart with a product that then sells out and one whose price then changes
    scarce = make_product(session, inventory_count=1)
    pricey = make_product(session, price_amount=1000)
    session.commit()
    for product in (scarce, pricey):
        api_client.post("/api/cart/items", json={"product_id": product.id}, headers=SAME_ORIGIN)
    scarce.inventory_count = 0
    pricey.price_amount = 1500
    session.add_all([scarce, pricey])
    session.commit()
    # when the cart is read
    body = api_client.get("/api/cart").json()
    # then the sold-out line says so, the subtotal uses today's price, checkout is blocked
    problems = {line["product_id"]: line["problem"] for line in body["items"]}
    assert problems[scarce.id] == f"{scarce.name} is sold out."
    assert problems[pricey.id] is None
    assert body["subtotal"] == 1500
    assert body["can_checkout"] is False


def test_sign_in_merges_the_anonymous_cart_into_the_account_cart(
    api_client: TestClient, session: Session
):
    # given a customer whose account cart holds one of a product
    user = make_user(session, email="merge@example.com")
    product, other = make_product(session), make_product(session)
    token = sign_in_as(session, user).tokens.access_token
    session.commit()
    api_client.post(
        "/api/cart/items",
        json={"product_id": product.id},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    # and, signed out, an anonymous cart with two of it and one other product
    api_client.post(
        "/api/cart/items", json={"product_id": product.id, "quantity": 2}, headers=SAME_ORIGIN
    )
    api_client.post("/api/cart/items", json={"product_id": other.id}, headers=SAME_ORIGIN)
    # when they sign in with the HTML form
    response = api_client.post(
        "/api/auth/login/form",
        data={"email": "merge@example.com", "password": DEFAULT_PASSWORD, "next": "/checkout"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    # then the carts are one, the quantities added up, and the cart cookie is gone
    assert response.status_code == 303
    assert response.headers["location"] == "/checkout"
    assert "Max-Age=0" in _cart_cookie_header(response)
    cart = api_client.get("/api/cart").json()
    assert {line["product_id"]: line["quantity"] for line in cart["items"]} == {
        product.id: 3,
        other.id: 1,
    }
    session.expire_all()
    assert len(session.exec(select(Cart)).all()) == 1


def test_sign_in_by_json_merges_too(api_client: TestClient, session: Session):
    # given an anonymous cart and a customer with no cart
    make_user(session, email="json@example.com")
    product = make_product(session)
    session.commit()
    api_client.post("/api/cart/items", json={"product_id": product.id}, headers=SAME_ORIGIN)
    # when they sign in through the JSON endpoint
    response = api_client.post(
        "/api/auth/login",
        json={"email": "json@example.com", "password": DEFAULT_PASSWORD},
        headers=SAME_ORIGIN,
    )
    # then their account cart holds the product
    assert response.status_code == 200
    token = response.json()["access_token"]
    cart = api_client.get("/api/cart", headers={"Authorization": f"Bearer {token}"}).json()
    assert [line["product_id"] for line in cart["items"]] == [product.id]


def test_creating_an_account_on_the_way_to_checkout_keeps_the_visitors_cart(
    api_client: TestClient, session: Session
):
    # given a visitor whose anonymous cart holds two of one product and one of another
    product, other = make_product(session), make_product(session)
    session.commit()
    api_client.post(
        "/api/cart/items", json={"product_id": product.id, "quantity": 2}, headers=SAME_ORIGIN
    ).raise_for_status()
    api_client.post(
        "/api/cart/items", json={"product_id": other.id}, headers=SAME_ORIGIN
    ).raise_for_status()
    # when they create an account with the sign-up form, sent from /login?next=/checkout
    response = api_client.post(
        "/api/auth/register/form",
        data={
            "email": "newcomer@example.com",
            "password": "velvet canoe harbour",
            "next": "/checkout",
        },
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    # then they reach checkout signed in, with the cart cookie dropped as after sign-in
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/checkout"
    assert "Max-Age=0" in _cart_cookie_header(response)
    assert api_client.cookies.get(CART_COOKIE) is None
    # and the new account's cart holds both lines
    cart = api_client.get("/api/cart").json()
    assert {line["product_id"]: line["quantity"] for line in cart["items"]} == {
        product.id: 2,
        other.id: 1,
    }
    session.expire_all()
    carts = session.exec(select(Cart)).all()
    assert len(carts) == 1
    assert carts[0].token_hash is None


def test_the_add_to_cart_form_sets_the_cookie_and_returns_to_the_page(
    api_client: TestClient, session: Session
):
    # given a product page and one sold out
    product = make_product(session, slug="form-product")
    gone = make_product(session, inventory_count=0)
    session.commit()
    # when its "Add to cart" form is posted
    response = api_client.post(
        "/api/cart/items/form",
        data={"product_id": str(product.id), "next": "/cart"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    # then the browser goes to the cart with an HttpOnly cart cookie
    assert response.status_code == 303
    assert response.headers["location"] == "/cart"
    assert "httponly" in _cart_cookie_header(response).lower()
    assert api_client.get("/api/cart").json()["item_count"] == 1
    # and a foreign `next` is never followed
    away = api_client.post(
        "/api/cart/items/form",
        data={"product_id": str(product.id), "next": "//evil.example/"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert away.headers["location"] == "/cart"
    # and the form posted from another site is refused (CSRF)
    cross = api_client.post(
        "/api/cart/items/form",
        data={"product_id": str(product.id)},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    # and a sold-out product posted anyway is shown as sold out in the cart, not charged
    api_client.post(
        "/api/cart/items/form",
        data={"product_id": str(gone.id), "next": "/products/x"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    problems = [line["problem"] for line in api_client.get("/api/cart").json()["items"]]
    assert f"{gone.name} is sold out." in problems


def test_the_carts_checkout_button_leads_to_exactly_checkout(api_client):
    # when the cart's "Checkout" form is sent (by a signed-in customer or a visitor alike)
    response = api_client.post(
        "/api/cart/checkout/form", headers={"Origin": "http://shop.test"}, follow_redirects=False
    )
    # then the browser is sent to /checkout itself, with no empty "?" after it
    assert response.status_code == 303
    assert response.headers["location"] == "/checkout"
