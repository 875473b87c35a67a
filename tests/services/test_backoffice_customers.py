"""The staff customer list: what each customer spent, per currency and net of refunds."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from shop.services import backoffice
from shop.services.backoffice import CurrencyAmount
from tests.factories import make_order, make_product, make_refund, make_user

PAID = datetime(2026, 11, 29, 16, tzinfo=UTC)


def test_spent_is_per_currency_and_net_of_succeeded_refunds(session: Session):
    # given a customer who paid two CAD orders and one USD order, and got refunds of each
    product = make_product(session, name="Audit Ebook")
    buyer = make_user(session, email="cust3@example.com")
    full = make_order(session, paid_at=PAID, items=[(product, 1, 2462)], user=buyer)
    make_refund(session, full, amount=2462, at=PAID)
    usd = make_order(session, paid_at=PAID, items=[(product, 1, 1356)], currency="usd", user=buyer)
    make_refund(session, usd, amount=356, at=PAID)
    other = make_order(session, paid_at=PAID, items=[(product, 1, 2220)], user=buyer)
    make_refund(session, other, amount=2220, at=PAID)
    # and what does not count: a failed refund, an order never paid
    make_refund(session, other, amount=100, at=PAID, status="failed")
    make_order(
        session,
        paid_at=None,
        items=[(product, 1, 9999)],
        status="pending",
        created_at=PAID,
        user=buyer,
    )
    # and a customer who paid twice in CAD, once refunded in part
    steady = make_user(session, email="cust1@example.com")
    make_order(session, paid_at=PAID, items=[(product, 1, 6200)], user=steady)
    partly = make_order(session, paid_at=PAID, items=[(product, 1, 5260)], user=steady)
    make_refund(session, partly, amount=5260 - 1000, at=PAID)
    session.commit()

    # when staff list the customers
    rows, total = backoffice.search_customers(session=session, q="cust")

    # then each currency is apart, net of its refunds, the shop's main currency (CAD) first
    assert total == 2
    by_email = {row.email: row for row in rows}
    third = by_email["cust3@example.com"]
    assert third.orders == 3
    assert third.spent_by_currency == [
        CurrencyAmount(currency="cad", amount=0),
        CurrencyAmount(currency="usd", amount=1000),
    ]
    # and `spent` is the main currency's amount only
    assert (third.spent, third.spent_currency) == (0, "cad")
    first = by_email["cust1@example.com"]
    assert (first.orders, first.spent, first.spent_currency) == (2, 7200, "cad")
    assert first.spent_by_currency == [CurrencyAmount(currency="cad", amount=7200)]


def test_a_customer_without_paid_orders_spent_nothing(session: Session):
    # given a new account, in a shop that sold only in USD
    product = make_product(session, name="Audit Ebook")
    make_order(session, paid_at=PAID, items=[(product, 1, 500)], currency="usd")
    newcomer = make_user(session, email="new@example.com")
    session.commit()
    # when staff look them up
    [row], _total = backoffice.search_customers(session=session, q="new@")
    # then they spent nothing, in the shop's main currency (the one it sold most in)
    assert (row.id, row.orders, row.spent, row.spent_currency) == (newcomer.id, 0, 0, "usd")
    assert row.spent_by_currency == []
    assert backoffice.main_currency(session=session) == "usd"
