"""The admin product form's handlers: creating a product moves to its edit page at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlmodel import Session, select

from shop.models import Product, ProductFile
from shop.pages.admin_products import AdminProductEditState
from shop.services.auth import SESSION_COOKIE
from shop.services.product_form import form_values
from tests.factories import make_product, make_user, sign_in_as
from tests.state.harness import page_state, run

# What a new product's form holds once the admin has typed a name and a price.
FORM = {**form_values(None), "name": "Harbour Sketchbook", "price": "12.00"}


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


def _admin_on_the_new_product_page(session: Session) -> AdminProductEditState:
    admin = make_user(session, roles=("admin",))
    token = sign_in_as(session, admin).session_token
    session.commit()
    state = page_state(
        AdminProductEditState, url="/admin/products/new", cookie=f"{SESSION_COOKIE}={token}"
    )
    _updates(state.load())
    return state


def test_creating_a_product_moves_to_its_edit_page_and_a_second_submit_does_not_copy_it(
    session: Session, shop_stripe: str
):
    # given an admin on /admin/products/new
    state = _admin_on_the_new_product_page(session)
    # when the form is submitted, and submitted again before the browser has moved on
    first = _updates(state.save(FORM))
    second = _updates(state.save({**FORM, "price": "13.00"}))
    # then one product exists, and the first submit sent the browser to its edit page
    products = session.exec(select(Product)).all()
    assert [(p.name, p.price_amount) for p in products] == [("Harbour Sketchbook", 1300)]
    assert _redirects(first) == [f"/admin/products/{products[0].id}"]
    assert _redirects(second) == []
    assert state.product_id == products[0].id


def test_an_empty_submit_marks_every_box_at_fault_at_once(session: Session, shop_stripe: str):
    # given an admin on /admin/products/new
    state = _admin_on_the_new_product_page(session)
    # when the empty form is submitted with a download period the form cannot read
    _updates(state.save({**FORM, "name": "", "price": "", "download_days": "ten"}))
    # then the name, the price and the period are marked together, each next to its box
    assert state.errors == {
        "name": "Name must not be empty.",
        "price": "Enter a price.",
        "download_days": "Enter a whole number, or leave it empty for the shop default.",
    }
    assert state.message == "Please correct the marked fields."
    assert session.exec(select(Product)).all() == []


def test_problems_only_the_product_rules_find_are_all_marked_too(
    session: Session, shop_stripe: str
):
    # given an admin on /admin/products/new
    state = _admin_on_the_new_product_page(session)
    # when the form reads fine but breaks two of the product rules
    _updates(state.save({**FORM, "name": "  ", "seo_description": "z" * 161}))
    # then both are marked, each named by its box's label, and nothing was created
    assert state.errors == {
        "name": "Name must not be empty.",
        "seo_description": "Search engine summary must be at most 160 characters.",
    }
    assert state.message == "Not saved: please correct the marked fields."
    assert session.exec(select(Product)).all() == []


def test_support_staff_see_the_product_as_text_not_as_a_form(session: Session):
    # given a support agent and a product with its own download terms and no inventory limit
    product = make_product(
        session, name="Harbour Sketchbook", price_amount=1250, download_limit=3, download_days=30
    )

    # when they open the product
    state = _on_the_edit_page(session, product, "support")

    # then they may not write, and the page has its facts as text, empty ones said in words
    assert (state.found, state.can_write) == (True, False)
    facts = {fact["label"]: fact["value"] for fact in state.facts}
    assert facts["Name"] == "Harbour Sketchbook"
    assert facts["Price"] == "$12.50 CAD"
    assert facts["Kind"] == "One-time"
    assert facts["Inventory count"] == "Unlimited"
    assert (facts["Download limit"], facts["Link lifetime (days)"]) == ("3", "30")
    assert facts["Status"] == "On sale in the storefront"


def test_an_admin_gets_the_form_not_the_read_only_facts(session: Session):
    state = _admin_on_the_new_product_page(session)
    assert state.can_write
    assert state.facts == []


def _product_with_a_file(session: Session) -> tuple[Product, ProductFile]:
    product = make_product(session, name="Harbour Sketchbook")
    file = ProductFile(
        product_id=product.id,  # type: ignore[arg-type]
        storage_key="files/wrong-upload.zip",
        original_name="wrong-upload.zip",
        size_bytes=10,
        sha256="0" * 64,
    )
    session.add(file)
    session.flush()
    return product, file


def _on_the_edit_page(session: Session, product: Product, role: str) -> AdminProductEditState:
    user = make_user(session, roles=(role,))
    token = sign_in_as(session, user).session_token
    session.commit()
    state = page_state(
        AdminProductEditState,
        url=f"/admin/products/{product.id}",
        cookie=f"{SESSION_COOKIE}={token}",
    )
    _updates(state.load())
    return state


def test_an_admin_removes_a_file_uploaded_by_mistake(session: Session):
    # given an admin on the edit page of a product with one file
    product, file = _product_with_a_file(session)
    file_id = file.id
    state = _on_the_edit_page(session, product, "admin")
    assert [f["name"] for f in state.files] == ["wrong-upload.zip"]
    # when they press its "Remove" button
    run(state.remove_file(str(file_id)))
    # then the file is gone, from the page and the product
    assert state.files == []
    assert state.message == "wrong-upload.zip was removed."
    session.expunge_all()
    assert session.get(ProductFile, file_id) is None


def test_support_cannot_remove_a_file(session: Session):
    # given a support agent on the same page (read-only)
    product, file = _product_with_a_file(session)
    state = _on_the_edit_page(session, product, "support")
    # when a crafted event asks to remove the file
    run(state.remove_file(str(file.id)))
    # then the server refuses: the file stays
    session.expire_all()
    assert session.get(ProductFile, file.id) is not None
