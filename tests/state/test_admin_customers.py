"""/admin/customers: the "Spent" column shows each currency with its code, net of refunds."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from shop.pages.admin_customers import AdminCustomersState
from shop.services.auth import SESSION_COOKIE
from tests.factories import make_order, make_product, make_refund, make_user, sign_in_as
from tests.state.harness import page_state, run

PAID = datetime(2026, 11, 29, 16, tzinfo=UTC)


def test_the_list_shows_what_each_customer_spent_per_currency_net_of_refunds(session: Session):
    # given a customer who bought in CAD (refunded in full) and in USD (refunded in part)
    staff = make_user(session, roles=("support",))
    token = sign_in_as(session, staff).session_token
    product = make_product(session, name="Audit Ebook")
    buyer = make_user(session, email="cust3@example.com")
    cad = make_order(session, paid_at=PAID, items=[(product, 1, 2462)], user=buyer)
    make_refund(session, cad, amount=2462, at=PAID)
    usd = make_order(session, paid_at=PAID, items=[(product, 1, 1356)], currency="usd", user=buyer)
    make_refund(session, usd, amount=356, at=PAID)
    # and one who has not bought anything
    make_user(session, email="cust9@example.com")
    session.commit()

    # when staff open the customer list
    state = page_state(
        AdminCustomersState,
        url="/admin/customers?q=cust",
        cookie=f"{SESSION_COOKIE}={token}",
    )
    run(state.load())

    # then each currency shows with its code, never added together
    spent = {row["email"]: row["spent"] for row in state.rows}
    assert spent == {
        "cust3@example.com": "$0.00 CAD, $10.00 USD",
        "cust9@example.com": "$0.00 CAD",
    }
