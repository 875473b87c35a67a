"""The categories page: support staff may look, only those who may change the catalog change it."""

from __future__ import annotations

from sqlmodel import Session, select

from shop.models import Category
from shop.pages.admin_categories import AdminCategoriesState
from shop.services.auth import SESSION_COOKIE
from tests.factories import make_category, make_user, sign_in_as
from tests.state.harness import page_state, run


def _state_for(session: Session, role: str) -> AdminCategoriesState:
    user = make_user(session, roles=(role,))
    token = sign_in_as(session, user).session_token
    session.commit()
    return page_state(
        AdminCategoriesState, url="/admin/categories", cookie=f"{SESSION_COOKIE}={token}"
    )


def test_support_sees_the_categories_without_the_controls_to_change_them(session: Session):
    # given a category and a support member on the page
    category = make_category(session)
    state = _state_for(session, "support")
    # when the page loads
    run(state.load())
    # then the categories are listed, read-only
    assert [row["name"] for row in state.categories] == [category.name]
    assert state.can_write is False
    assert state.access == "ok"
    # and a crafted change is refused on the server all the same
    run(state.create({"name": "Sneaked in"}))
    run(state.delete(str(category.id)))
    session.expire_all()
    assert [c.name for c in session.exec(select(Category)).all()] == [category.name]


def test_an_admin_gets_the_controls(session: Session):
    # given an admin on the page
    make_category(session)
    state = _state_for(session, "admin")
    # when the page loads, then the forms and buttons are theirs
    run(state.load())
    assert state.can_write is True
    run(state.create({"name": "New shelf"}))
    assert state.message == "Category “New shelf” created."


def test_a_customer_is_not_allowed(session: Session):
    state = _state_for(session, "customer")
    run(state.load())
    assert state.categories == []
    assert state.access == "forbidden"
