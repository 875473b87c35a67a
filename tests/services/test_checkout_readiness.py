"""What must hold before checkout prices a cart, and a product's category for the admin."""

from __future__ import annotations

from sqlmodel import Session

from shop.services import cart, products_admin
from tests.factories import make_category, make_product


def test_an_empty_cart_is_refused_before_anything_else(session: Session):
    # given a cart with nothing in it, and no cart at all
    basket = cart.get_or_create_cart(session=session, token=cart.new_cart_token())
    empty = cart.view_cart(session=session, cart=basket)
    missing = cart.view_cart(session=session, cart=None)

    # when checkout asks whether they can be priced, even without a province
    problems = [
        cart.checkout_problem(view=view, country="CA", region=None) for view in (empty, missing)
    ]

    # then the customer is told the cart is empty
    assert problems == ["Your cart is empty.", "Your cart is empty."]


def test_a_cart_that_changed_must_be_reviewed_before_paying(session: Session):
    # given a cart whose product sold out after it was added
    scarce = make_product(session, inventory_count=3)
    basket = cart.get_or_create_cart(session=session, token=cart.new_cart_token())
    cart.add_item(session=session, cart=basket, product_id=scarce.id)  # type: ignore[arg-type]
    scarce.inventory_count = 0
    session.add(scarce)
    session.flush()

    # when checkout asks, with a complete Canadian address
    problem = cart.checkout_problem(
        view=cart.view_cart(session=session, cart=basket), country="CA", region="ON"
    )

    # then the customer is sent back to review the cart
    assert problem == "Your cart has changed; review it before paying."


def test_a_canadian_address_needs_its_province_and_others_do_not(session: Session):
    # given a cart that can be bought as it is
    basket = cart.get_or_create_cart(session=session, token=cart.new_cart_token())
    cart.add_item(session=session, cart=basket, product_id=make_product(session).id)  # type: ignore[arg-type]
    view = cart.view_cart(session=session, cart=basket)

    # when checkout asks for Canada without and with a province, and for another country
    without = cart.checkout_problem(view=view, country="CA", region="")
    with_province = cart.checkout_problem(view=view, country="CA", region="QC")
    abroad = cart.checkout_problem(view=view, country="FR", region=None)

    # then only the province is missing, and otherwise the cart is ready to be priced
    assert without == "Choose your province to see the taxes."
    assert with_province is None
    assert abroad is None


def test_product_category_reads_the_category_or_none(session: Session):
    # given a product on a shelf and one on none
    shelf = make_category(session, slug="shelf-brushes", name="Brushes")
    filed = make_product(session, category=shelf)
    loose = make_product(session)

    # when the admin reads their categories
    found = products_admin.product_category(session=session, product=filed)
    none = products_admin.product_category(session=session, product=loose)

    # then the shelf is found for one and nothing for the other
    assert found is not None
    assert (found.id, found.slug, found.name) == (shelf.id, "shelf-brushes", "Brushes")
    assert none is None
