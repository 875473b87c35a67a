"""The admin product form's handlers: creating a product moves to its edit page at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlmodel import Session, select

from shop.models import Product
from shop.pages.admin_products import AdminProductEditState
from shop.services.auth import SESSION_COOKIE
from tests.factories import make_user, sign_in_as
from tests.state.harness import page_state, run

FORM = {
    "name": "Harbour Sketchbook",
    "slug": "",
    "description": "",
    "price": "12.00",
    "currency": "cad",
    "kind": "one_time",
    "interval": "",
    "category": "",
    "seo_title": "",
    "seo_description": "",
    "inventory": "",
    "download_limit": "",
    "download_days": "",
    "is_active": "true",
}


def _updates(handler_updates: AsyncIterator[Any]) -> list[Any]:
    async def collect() -> list[Any]:
        return [update async for update in handler_updates]

    return run(collect())


def _redirects(updates: list[Any]) -> list[str]:
    """The paths of the redirects among a handler's updates."""
    paths = []
    for update in updates:
        args = {str(name): value for name, value in getattr(update, "args", ())}
        if "path" in args:
            paths.append(args["path"]._var_value)
    return paths


def test_creating_a_product_moves_to_its_edit_page_and_a_second_submit_does_not_copy_it(
    session: Session, shop_stripe: str
):
    # given an admin on /admin/products/new
    admin = make_user(session, roles=("admin",))
    token = sign_in_as(session, admin).session_token
    session.commit()
    state = page_state(
        AdminProductEditState, url="/admin/products/new", cookie=f"{SESSION_COOKIE}={token}"
    )
    _updates(state.load())
    # when the form is submitted, and submitted again before the browser has moved on
    first = _updates(state.save(FORM))
    second = _updates(state.save({**FORM, "price": "13.00"}))
    # then one product exists, and the first submit sent the browser to its edit page
    products = session.exec(select(Product)).all()
    assert [(p.name, p.price_amount) for p in products] == [("Harbour Sketchbook", 1300)]
    assert _redirects(first) == [f"/admin/products/{products[0].id}"]
    assert _redirects(second) == []
    assert state.product_id == products[0].id
