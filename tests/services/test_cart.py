"""Carts: anonymous and signed-in, merged at sign-in, priced from the catalog."""

from __future__ import annotations

from functools import partial

import pytest
from sqlmodel import Session, select

from shop import db
from shop.models import Cart
from shop.services import auth, cart
from shop.services.errors import InvalidInput, NotFound
from tests.concurrency import at_once
from tests.factories import make_product


def _user(session: Session, email: str = "cart@example.com") -> int:
    user = auth.create_user(session=session, email=email, password=None)
    assert user.id is not None
    return user.id


def test_add_change_and_remove_items_in_an_anonymous_cart(session: Session):
    # given a visitor's cart token and two products
    token = cart.new_cart_token()
    book = make_product(session, price_amount=1500)
    font = make_product(session, price_amount=900)
    basket = cart.get_or_create_cart(session=session, token=token)

    # when they add both, add the book again, set the font to 3, then remove the book
    cart.add_item(session=session, cart=basket, product_id=book.id, quantity=1)  # type: ignore[arg-type]
    cart.add_item(session=session, cart=basket, product_id=font.id)  # type: ignore[arg-type]
    cart.add_item(session=session, cart=basket, product_id=book.id)  # type: ignore[arg-type]
    middle = cart.view_cart(session=session, cart=basket)
    cart.set_quantity(session=session, cart=basket, product_id=font.id, quantity=3)  # type: ignore[arg-type]
    cart.remove_item(session=session, cart=basket, product_id=book.id)  # type: ignore[arg-type]
    after = cart.view_cart(session=session, cart=basket)

    # then the cart follows, priced from the catalog, and the token is not stored
    assert [(line.name, line.quantity) for line in middle.lines] == [(book.name, 2), (font.name, 1)]
    assert middle.subtotal == 2 * 1500 + 900
    assert [(line.product_id, line.quantity, line.amount) for line in after.lines] == [
        (font.id, 3, 2700)
    ]
    assert after.item_count == 3
    assert cart.find_cart(session=session, token=token).id == basket.id  # type: ignore[union-attr]
    assert session.exec(select(Cart.token_hash)).one() != token


def test_the_anonymous_cart_merges_into_the_account_at_sign_in(session: Session):
    # given an anonymous cart and an account cart that share a product
    user_id = _user(session)
    token = cart.new_cart_token()
    shared = make_product(session)
    only_anonymous = make_product(session)
    anonymous = cart.get_or_create_cart(session=session, token=token)
    cart.add_item(session=session, cart=anonymous, product_id=shared.id, quantity=2)  # type: ignore[arg-type]
    cart.add_item(session=session, cart=anonymous, product_id=only_anonymous.id)  # type: ignore[arg-type]
    mine = cart.get_or_create_cart(session=session, user_id=user_id)
    cart.add_item(session=session, cart=mine, product_id=shared.id)  # type: ignore[arg-type]

    # when the visitor signs in
    merged = cart.merge_into_user_cart(session=session, token=token, user_id=user_id)

    # then the account's cart holds both, quantities added, and the anonymous cart is gone
    view = cart.view_cart(session=session, cart=merged)
    assert {(line.product_id, line.quantity) for line in view.lines} == {
        (shared.id, 3),
        (only_anonymous.id, 1),
    }
    assert cart.find_cart(session=session, token=token) is None


def test_price_changes_and_sold_out_items_are_shown_not_hidden(session: Session):
    # given a cart with a product whose price then rises, and one that sells out
    token = cart.new_cart_token()
    pricey = make_product(session, price_amount=1000)
    scarce = make_product(session, inventory_count=5)
    basket = cart.get_or_create_cart(session=session, token=token)
    cart.add_item(session=session, cart=basket, product_id=pricey.id)  # type: ignore[arg-type]
    cart.add_item(session=session, cart=basket, product_id=scarce.id, quantity=2)  # type: ignore[arg-type]

    # when the catalog changes
    pricey.price_amount = 1200
    scarce.inventory_count = 0
    session.add_all([pricey, scarce])
    session.flush()
    view = cart.view_cart(session=session, cart=basket)

    # then the cart shows the new price and the problem, and cannot check out as it is
    assert view.lines[0].unit_amount == 1200
    assert view.lines[1].problem == f"{scarce.name} is sold out."
    assert view.can_checkout is False


def test_retired_products_cannot_be_added_and_bad_quantities_are_refused(session: Session):
    # given a retired product and a cart
    retired = make_product(session, is_active=False)
    live = make_product(session)
    basket = cart.get_or_create_cart(session=session, token=cart.new_cart_token())

    # when / then
    with pytest.raises(NotFound):
        cart.add_item(session=session, cart=basket, product_id=retired.id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        cart.add_item(session=session, cart=basket, product_id=live.id, quantity=0)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        cart.set_quantity(session=session, cart=basket, product_id=live.id, quantity=2)  # type: ignore[arg-type]


def test_adds_sent_at_the_same_instant_are_all_counted(session: Session):
    # given a customer's cart with one copy of a product, and another product not in it yet
    user_id = _user(session, "parallel@example.com")
    held, fresh = make_product(session), make_product(session)
    own = cart.get_or_create_cart(session=session, user_id=user_id)
    cart.add_item(session=session, cart=own, product_id=held.id)  # type: ignore[arg-type]
    session.commit()
    errors: list[BaseException] = []

    def add(product_id: int) -> None:
        try:
            with db.session_scope() as other:
                found = cart.get_or_create_cart(session=other, user_id=user_id)
                cart.add_item(session=other, cart=found, product_id=product_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    # when 8 adds of each product arrive at once (two tabs, a double click, a script)
    at_once([partial(add, p.id) for p in (held, fresh) for _ in range(8)])  # type: ignore[arg-type]

    # then every add counted
    assert errors == []
    view = cart.view_cart(session=session, cart=own)
    assert {line.product_id: line.quantity for line in view.lines} == {held.id: 9, fresh.id: 8}
