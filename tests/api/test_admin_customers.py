"""GET /api/admin/customers: what each customer spent, per currency and net of refunds."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_order, make_product, make_refund, make_user, sign_in_as

PAID = datetime(2026, 11, 29, 16, tzinfo=UTC)


def test_spent_is_the_main_currency_net_of_refunds_with_every_currency_listed(
    api_client: TestClient, session: Session
):
    # given a customer with a CAD order refunded in full, a USD one refunded in part, a CAD one kept
    support = make_user(session, roles=("support",), password=None)
    headers = {"Authorization": f"Bearer {sign_in_as(session, support).tokens.access_token}"}
    product = make_product(session, name="Audit Ebook")
    buyer = make_user(session, email="cust3@example.com")
    refunded = make_order(session, paid_at=PAID, items=[(product, 1, 2462)], user=buyer)
    make_refund(session, refunded, amount=2462, at=PAID)
    usd = make_order(session, paid_at=PAID, items=[(product, 1, 1356)], currency="usd", user=buyer)
    make_refund(session, usd, amount=356, at=PAID)
    make_order(session, paid_at=PAID, items=[(product, 1, 2220)], user=buyer)
    session.commit()

    # when support lists the customers
    answer = api_client.get("/api/admin/customers", params={"q": "cust3"}, headers=headers)

    # then `spent` is CAD only, net of the refund, and USD is listed apart, never added to it
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["items"]
    assert row["orders"] == 3
    assert (row["spent"], row["spent_currency"]) == (2220, "cad")
    assert row["spent_by_currency"] == [
        {"currency": "cad", "amount": 2220},
        {"currency": "usd", "amount": 1000},
    ]
