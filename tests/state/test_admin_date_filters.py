"""The staff pages' date filters: a day at the very end of the calendar is a message on the
page, never an error."""

from __future__ import annotations

from sqlmodel import Session

from shop.pages.admin_audit import AuditState
from shop.pages.admin_orders import AdminOrdersState
from shop.services.auth import SESSION_COOKIE
from tests.factories import make_user, sign_in_as
from tests.state.harness import page_state, run


def _admin_cookie(session: Session) -> str:
    admin = make_user(session, roles=("admin",))
    token = sign_in_as(session, admin).session_token
    session.commit()
    return f"{SESSION_COOKIE}={token}"


def test_the_orders_page_says_so_when_until_is_the_last_day_of_the_calendar(session: Session):
    # given an admin
    cookie = _admin_cookie(session)
    # when they filter the orders until 9999-12-31
    state = page_state(AdminOrdersState, url="/admin/orders?until=9999-12-31", cookie=cookie)
    run(state.load())
    # then the page loads with a message next to the filter and no rows
    assert state.loaded
    assert state.filter_error
    assert state.rows == []


def test_the_audit_page_says_so_when_until_is_the_last_day_of_the_calendar(session: Session):
    # given an admin
    cookie = _admin_cookie(session)
    # when they filter the audit log until 9999-12-31
    state = page_state(AuditState, url="/admin/audit?until=9999-12-31", cookie=cookie)
    run(state.load())
    # then the page loads with a message next to the filter
    assert state.loaded
    assert state.filter_error == "Choose dates between the years 1 and 9998."
